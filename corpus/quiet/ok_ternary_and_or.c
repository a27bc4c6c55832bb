// Acquisitions guarded by ?:, && and ||, released under the same guard.
#include <Python.h>

extern int on_python_thread(void);

void ok_ternary_state(PyObject *o, int foreign)
{
    PyGILState_STATE st = foreign ? PyGILState_Ensure() : PyGILState_LOCKED;
    Py_XDECREF(o);
    if (foreign)
        PyGILState_Release(st);
}

void ok_and_guard(PyObject *o, int foreign)
{
    PyGILState_STATE st;
    int took = foreign && ((st = PyGILState_Ensure()), 1);
    Py_XINCREF(o);
    Py_XDECREF(o);
    if (took)
        PyGILState_Release(st);
}

void ok_or_guard(PyObject *o, int have_gil)
{
    PyGILState_STATE st;
    int took = 0;
    have_gil || (st = PyGILState_Ensure(), took = 1);
    Py_XDECREF(o);
    if (took)
        PyGILState_Release(st);
}

int ok_ternary_release(PyObject *o)
{
    const int foreign = !on_python_thread();
    PyGILState_STATE st;
    if (foreign)
        st = PyGILState_Ensure();
    int r = PyObject_IsTrue(o);
    foreign ? PyGILState_Release(st) : (void)0;
    return r;
}
