// Reference counts touched while the GIL is released: Py_INCREF/Py_DECREF and direct ob_refcnt access.
#include <Python.h>

extern void fill(double *dst, Py_ssize_t n);

PyObject *bad_decref_inside(PyObject *self, PyObject *buffer_owner)
{
    double tmp[64];
    Py_BEGIN_ALLOW_THREADS
    fill(tmp, 64);
    Py_DECREF(buffer_owner);        // expect-error{{needs the GIL}} [api-without-gil]
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

void bad_incref_inside(PyObject *keep)
{
    Py_BEGIN_ALLOW_THREADS
    Py_INCREF(keep);                // expect-error{{needs the GIL}} [api-without-gil]
    Py_END_ALLOW_THREADS
}

Py_ssize_t bad_read_refcnt_field(PyObject *o)
{
    Py_ssize_t n;
    PyThreadState *ts = PyEval_SaveThread();
    n = o->ob_refcnt;               // expect-error{{dereference of Python object}} [api-without-gil]
    PyEval_RestoreThread(ts);
    return n;
}

void bad_xdecref_on_error(PyObject *tmp, double *buf)
{
    Py_BEGIN_ALLOW_THREADS
    fill(buf, 16);
    if (buf[0] < 0)
        Py_XDECREF(tmp);            // expect-error{{needs the GIL}} [api-without-gil]
    Py_END_ALLOW_THREADS
}

PyObject *ok_refcounts_outside(PyObject *self, PyObject *owner)
{
    double tmp[64];
    Py_INCREF(owner);
    Py_BEGIN_ALLOW_THREADS
    fill(tmp, 64);
    Py_END_ALLOW_THREADS
    Py_DECREF(owner);
    return PyFloat_FromDouble(tmp[0]);
}
