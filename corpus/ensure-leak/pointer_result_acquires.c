/* A helper acquires only when it returns non-NULL: the caller still must release on that path. */
#include <Python.h>

static PyObject *callback_with_gil(PyGILState_STATE *st, PyObject *cb) {
    if (!cb)
        return NULL;
    *st = PyGILState_Ensure();
    return cb;
}

int forgets_release(PyObject *cb) {
    PyGILState_STATE st;
    PyObject *o = callback_with_gil(&st, cb);
    if (!o)
        return -1;
    return 0;               /* expect-error{{acquired by callback_with_gil() is not released}} [ensure-leak] */
}
