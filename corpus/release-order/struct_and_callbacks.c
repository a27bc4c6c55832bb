// Out-of-order releases of nested GIL states, kept in locals and in struct fields.
#include <Python.h>

typedef struct { PyGILState_STATE outer, inner; } pair_t;

extern void flush_logs(void);

void bad_fields_out_of_order(pair_t *p, PyObject *o)
{
    p->outer = PyGILState_Ensure();
    p->inner = PyGILState_Ensure();
    Py_XDECREF(o);
    PyGILState_Release(p->outer);   // expect-warning{{before the more recent state}} [release-order]
    PyGILState_Release(p->inner);
}

void ok_fields_in_order(pair_t *p, PyObject *o)
{
    p->outer = PyGILState_Ensure();
    p->inner = PyGILState_Ensure();
    Py_XDECREF(o);
    PyGILState_Release(p->inner);
    PyGILState_Release(p->outer);
}

int bad_swapped_in_loop(PyObject **items, int n)
{
    PyGILState_STATE batch = PyGILState_Ensure();
    for (int i = 0; i < n; i++) {
        PyGILState_STATE item = PyGILState_Ensure();
        Py_XDECREF(items[i]);
        if (i == n - 1) {
            PyGILState_Release(batch);  // expect-warning{{before the more recent state 'item'}} [release-order]
            PyGILState_Release(item);
            return 0;
        }
        PyGILState_Release(item);
    }
    PyGILState_Release(batch);
    return 0;
}

void ok_interleaved_with_c(PyObject *o)
{
    PyGILState_STATE a = PyGILState_Ensure();
    PyGILState_STATE b = PyGILState_Ensure();
    Py_XINCREF(o);
    PyGILState_Release(b);
    flush_logs();
    PyGILState_Release(a);
}
