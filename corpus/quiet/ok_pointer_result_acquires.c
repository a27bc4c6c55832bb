/* A helper that acquires the GIL only when it returns non-NULL: callers release only then. */
#include <Python.h>

static PyObject *callback_with_gil(PyGILState_STATE *st, PyObject *cb) {
    if (!cb)
        return NULL;
    *st = PyGILState_Ensure();
    return cb;
}

void fire(PyObject *cb) {
    PyGILState_STATE st;
    PyObject *o = callback_with_gil(&st, cb);
    if (!o)
        return;
    PyObject *r = PyObject_CallNoArgs(o);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

int fire_checked(PyObject *cb) {
    PyGILState_STATE st;
    PyObject *o = callback_with_gil(&st, cb);
    if (o == NULL)
        return -1;
    PyGILState_Release(st);
    return 0;
}
