// The same GIL state released twice: once in an error branch and again on the common exit.
#include <Python.h>

int bad_release_in_branch_and_exit(PyObject *cb)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cb);
    if (r == NULL) {
        PyErr_Print();
        PyGILState_Release(st);
    } else {
        Py_DECREF(r);
    }
    PyGILState_Release(st);     // expect-error{{already released}} [release-without-ensure]
    return r ? 0 : -1;
}

int bad_release_before_goto_cleanup(PyObject *cb)
{
    int rc = -1;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cb);
    if (r == NULL) {
        PyGILState_Release(st);
        goto cleanup;
    }
    Py_DECREF(r);
    rc = 0;
cleanup:
    PyGILState_Release(st);     // expect-error{{already released}} [release-without-ensure]
    return rc;
}

void bad_straight_double(PyObject *o)
{
    PyGILState_STATE st = PyGILState_Ensure();
    Py_DECREF(o);
    PyGILState_Release(st);
    PyGILState_Release(st);     // expect-error{{already released}} [release-without-ensure]
}

int ok_single_release(PyObject *cb)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cb);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
    return r ? 0 : -1;
}
