// The usual C error handling: every failure jumps to one cleanup label, which releases the GIL once.
#include <Python.h>
#include <stdlib.h>
#include <string.h>

struct record { char *name; double score; };

extern int load_records(const char *path, struct record **out, size_t *n);

int ok_push_records(PyObject *target, const char *path)
{
    struct record *recs = NULL;
    size_t n = 0;
    int rc = -1;
    PyObject *list = NULL;

    if (load_records(path, &recs, &n) < 0)
        return -1;

    PyGILState_STATE st = PyGILState_Ensure();
    list = PyList_New(0);
    if (list == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        PyObject *item = Py_BuildValue("(sd)", recs[i].name, recs[i].score);
        if (item == NULL)
            goto done;
        if (PyList_Append(list, item) < 0) {
            Py_DECREF(item);
            goto done;
        }
        Py_DECREF(item);
    }
    if (PyObject_SetAttrString(target, "records", list) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(list);
    if (rc < 0)
        PyErr_Print();
    PyGILState_Release(st);
    free(recs);
    return rc;
}

int ok_two_labels(PyObject *cb, const char *text)
{
    PyObject *s = NULL, *r = NULL;
    PyGILState_STATE st = PyGILState_Ensure();

    s = PyUnicode_FromString(text);
    if (s == NULL)
        goto error;
    r = PyObject_CallOneArg(cb, s);
    if (r == NULL)
        goto error;
    Py_DECREF(r);
    Py_DECREF(s);
    PyGILState_Release(st);
    return 0;

error:
    Py_XDECREF(s);
    PyErr_Print();
    PyGILState_Release(st);
    return -1;
}

/* The GIL is taken only after the first failure point; the early label does not release. */
int ok_acquire_after_c_setup(PyObject *cb, size_t size)
{
    char *buf = malloc(size);
    if (buf == NULL)
        goto fail_nogil;
    memset(buf, 0, size);

    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *b = PyBytes_FromStringAndSize(buf, (Py_ssize_t)size);
    if (b == NULL)
        goto fail_gil;
    PyObject *r = PyObject_CallOneArg(cb, b);
    Py_DECREF(b);
    if (r == NULL)
        goto fail_gil;
    Py_DECREF(r);
    PyGILState_Release(st);
    free(buf);
    return 0;

fail_gil:
    PyErr_Print();
    PyGILState_Release(st);
fail_nogil:
    free(buf);
    return -1;
}
