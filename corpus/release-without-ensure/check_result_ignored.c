// PyGILState_Check() decided that no Ensure was needed, but the release runs unconditionally.
#include <Python.h>

void bad_unconditional_release(PyObject *o)
{
    PyGILState_STATE st;
    int held = PyGILState_Check();
    if (!held)
        st = PyGILState_Ensure();
    Py_XDECREF(o);
    PyGILState_Release(st);     // expect-error{{not held on this path}} [release-without-ensure]
}

void bad_inverted_test(PyObject *o)
{
    int held = PyGILState_Check();
    PyGILState_STATE st;
    if (!held)
        st = PyGILState_Ensure();
    Py_XDECREF(o);
    if (held)
        PyGILState_Release(st);     // expect-error{{not held on this path}} [release-without-ensure]
}   // expect-error{{is not released}} [ensure-leak]

void ok_same_test(PyObject *o)
{
    int held = PyGILState_Check();
    PyGILState_STATE st;
    if (!held)
        st = PyGILState_Ensure();
    Py_XDECREF(o);
    if (!held)
        PyGILState_Release(st);
}
