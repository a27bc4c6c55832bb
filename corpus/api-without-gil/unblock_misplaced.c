// Py_BLOCK_THREADS / Py_UNBLOCK_THREADS placed on the wrong side of a Python call.
#include <Python.h>

extern int step(int i);

int bad_unblock_before_callback(PyObject *progress, int n)
{
    int i, rc = 0;
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++) {
        rc = step(i);
        Py_BLOCK_THREADS
        Py_UNBLOCK_THREADS
        PyObject *r = PyObject_CallFunction(progress, "i", i);  // expect-error{{needs the GIL}} [api-without-gil]
        Py_XDECREF(r);                                          // expect-error{{needs the GIL}} [api-without-gil]
    }
    Py_END_ALLOW_THREADS
    return rc;
}

int bad_raise_without_block(int n)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = step(n);
    if (rc < 0) {
        PyErr_Format(PyExc_RuntimeError, "step %d failed", n);  // expect-error{{needs the GIL}} [api-without-gil]
        Py_BLOCK_THREADS
        return -1;
    }
    Py_END_ALLOW_THREADS
    return rc;
}

int ok_block_around_callback(PyObject *progress, int n)
{
    int i, rc = 0;
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++) {
        rc = step(i);
        Py_BLOCK_THREADS
        PyObject *r = PyObject_CallFunction(progress, "i", i);
        Py_XDECREF(r);
        Py_UNBLOCK_THREADS
    }
    Py_END_ALLOW_THREADS
    return rc;
}
