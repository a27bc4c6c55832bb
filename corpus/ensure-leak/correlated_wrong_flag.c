// Acquire and release guarded by conditions that do not match, or by a flag changed in between.
#include <Python.h>

extern int log_enabled(void);

void bad_different_flags(PyObject *o, int foreign, int verbose)
{
    PyGILState_STATE st;
    if (foreign)
        st = PyGILState_Ensure();
    Py_XDECREF(o);
    if (verbose)
        PyGILState_Release(st);     // expect-error{{which is not held on this path}} [release-without-ensure]
}   // expect-error{{is not released}} [ensure-leak]

void bad_flag_changed_between(PyObject *o, int need)
{
    PyGILState_STATE st;
    if (need)
        st = PyGILState_Ensure();
    need = 0;
    Py_XDECREF(o);
    if (need)
        PyGILState_Release(st);
}   // expect-error{{is not released}} [ensure-leak]

void bad_flag_recomputed(PyObject *o)
{
    PyGILState_STATE st;
    if (!PyGILState_Check())
        st = PyGILState_Ensure();
    Py_XDECREF(o);
    /* Asked again after the Ensure: now it always says yes, so the release never runs. */
    if (!PyGILState_Check())
        PyGILState_Release(st);
}   // expect-error{{is not released}} [ensure-leak]

void ok_same_flag(PyObject *o, int foreign)
{
    PyGILState_STATE st;
    if (foreign)
        st = PyGILState_Ensure();
    Py_XDECREF(o);
    if (foreign)
        PyGILState_Release(st);
}
