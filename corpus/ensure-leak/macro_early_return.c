// do { } while (0) macros around the GIL calls, with an early return between them.
#include <Python.h>

#define GIL_ENTER(st) do { (st) = PyGILState_Ensure(); } while (0)
#define GIL_LEAVE(st) do { PyGILState_Release(st); } while (0)
#define RETURN_IF_NULL(p) do { if ((p) == NULL) return -1; } while (0)

int bad_return_if_null_macro(PyObject *dict, const char *key)
{
    PyGILState_STATE st;
    GIL_ENTER(st);
    PyObject *v = PyDict_GetItemString(dict, key);
    RETURN_IF_NULL(v);  // expect-error{{is not released}} [ensure-leak]
    Py_INCREF(v);
    Py_DECREF(v);
    GIL_LEAVE(st);
    return 0;
}

int bad_leave_only_on_success(PyObject *o)
{
    PyGILState_STATE st;
    int t;
    GIL_ENTER(st);
    t = PyObject_IsTrue(o);
    if (t < 0)
        return t;   // expect-error{{is not released}} [ensure-leak]
    GIL_LEAVE(st);
    return t;
}

int ok_macros_paired(PyObject *o)
{
    PyGILState_STATE st;
    int t;
    GIL_ENTER(st);
    t = PyObject_IsTrue(o);
    GIL_LEAVE(st);
    return t;
}
