// gilcheck-python-version: 3.15
// With python-version 3.15 or newer (the oldest Python the project supports), PyGILState_* are soft-deprecated
// by PEP 788: a note names the replacement. They keep working, so it is a note, and without python-version (or
// with an older one) nothing is said.
#include <Python.h>

void ok_callback_with_gilstate(PyObject *cb)
{
    PyGILState_STATE st = PyGILState_Ensure();      // expect-note{{PyGILState_Ensure() is soft-deprecated since Python 3.15; new code can use PEP 788's PyThreadState_Ensure(guard)}} [deprecated-gil-api]
    PyObject *r = PyObject_CallNoArgs(cb);
    Py_XDECREF(r);
    PyGILState_Release(st);                         // expect-note{{PyGILState_Release() is soft-deprecated since Python 3.15}} [deprecated-gil-api]
}
