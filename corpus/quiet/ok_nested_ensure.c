// PyGILState_Ensure() nests: a callback may take it while its caller already holds it, as long as the
// states are released in reverse order.
#include <Python.h>

static void emit(PyObject *cb, const char *what)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(cb, "s", what);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
}

void ok_emit_from_held_section(PyObject *cb)
{
    PyGILState_STATE outer = PyGILState_Ensure();
    emit(cb, "begin");
    emit(cb, "end");
    PyGILState_Release(outer);
}

void ok_three_levels(PyObject *o)
{
    PyGILState_STATE a = PyGILState_Ensure();
    PyGILState_STATE b = PyGILState_Ensure();
    PyGILState_STATE c = PyGILState_Ensure();
    Py_INCREF(o);
    PyGILState_Release(c);
    Py_DECREF(o);
    PyGILState_Release(b);
    PyGILState_Release(a);
}

int ok_inner_error_path(PyObject *o)
{
    PyGILState_STATE outer = PyGILState_Ensure();
    PyGILState_STATE inner = PyGILState_Ensure();
    if (PyObject_IsTrue(o) < 0) {
        PyGILState_Release(inner);
        PyGILState_Release(outer);
        return -1;
    }
    PyGILState_Release(inner);
    PyGILState_Release(outer);
    return 0;
}

void ok_sequential_not_nested(PyObject *o)
{
    PyGILState_STATE first = PyGILState_Ensure();
    Py_INCREF(o);
    PyGILState_Release(first);
    PyGILState_STATE second = PyGILState_Ensure();
    Py_DECREF(o);
    PyGILState_Release(second);
}
