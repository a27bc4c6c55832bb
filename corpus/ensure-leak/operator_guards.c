// Acquisitions guarded by ?:, && and ||, where the release is guarded differently or missing.
#include <Python.h>

void bad_ternary_never_released(PyObject *o, int foreign)
{
    PyGILState_STATE st = foreign ? PyGILState_Ensure() : PyGILState_LOCKED;
    Py_XDECREF(o);
}   // expect-error{{is not released}} [ensure-leak]

void bad_and_guard_release_missing_on_error(PyObject *o, int foreign)
{
    PyGILState_STATE st;
    int took = foreign && (st = PyGILState_Ensure(), 1);
    if (PyObject_IsTrue(o) < 0)
        return;     // expect-error{{is not released}} [ensure-leak]
    if (took)
        PyGILState_Release(st);
}

void bad_or_guard_inverted(PyObject *o, int have_gil)
{
    PyGILState_STATE st;
    have_gil || (st = PyGILState_Ensure(), 0);
    Py_XDECREF(o);
    if (have_gil)
        PyGILState_Release(st);     // expect-error{{not held on this path}} [release-without-ensure]
}   // expect-error{{is not released}} [ensure-leak]

void ok_ternary_paired(PyObject *o, int foreign)
{
    PyGILState_STATE st = foreign ? PyGILState_Ensure() : PyGILState_LOCKED;
    Py_XDECREF(o);
    if (foreign)
        PyGILState_Release(st);
}
