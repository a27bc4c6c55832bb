// The Ensure state stored in a struct field; some paths leave without releasing it.
#include <Python.h>

typedef struct {
    PyGILState_STATE gil;
    PyObject *sink;
    int depth;
} writer_t;

int bad_field_early_return(writer_t *w, const char *line)
{
    w->gil = PyGILState_Ensure();
    PyObject *s = PyUnicode_FromString(line);
    if (s == NULL)
        return -1;      // expect-error{{is not released}} [ensure-leak]
    PyObject *r = PyObject_CallMethod(w->sink, "write", "O", s);
    Py_DECREF(s);
    Py_XDECREF(r);
    PyGILState_Release(w->gil);
    return r ? 0 : -1;
}

void bad_local_struct_leak(PyObject *o, int skip)
{
    writer_t w;
    w.gil = PyGILState_Ensure();
    if (skip)
        return;         // expect-error{{is not released}} [ensure-leak]
    Py_DECREF(o);
    PyGILState_Release(w.gil);
}

int ok_field_all_paths(writer_t *w, const char *line)
{
    w->gil = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(w->sink, "write", "s", line);
    if (r == NULL) {
        PyGILState_Release(w->gil);
        return -1;
    }
    Py_DECREF(r);
    PyGILState_Release(w->gil);
    return 0;
}

/* Hand-off: acquire into the field and return it to the caller: not a leak. */
void ok_begin_write(writer_t *w) { w->gil = PyGILState_Ensure(); w->depth++; }
void ok_end_write(writer_t *w) { w->depth--; PyGILState_Release(w->gil); }
