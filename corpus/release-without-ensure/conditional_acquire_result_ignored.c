// try_enter() acquires only when it returns true. A caller that ignores the result and releases anyway
// releases a state that was never taken on the path where try_enter() failed.
#include <Python.h>
#include <stdbool.h>

static bool try_enter(PyGILState_STATE *out)
{
    if (!Py_IsInitialized())
        return false;
    *out = PyGILState_Ensure();
    return true;
}

void bad_try_ignored(void)
{
    PyGILState_STATE st;
    try_enter(&st);                // expect-note{{assuming try_enter() fails (its result is ignored)}}
    PyGILState_Release(st);        // expect-error{{which is not held on this path}} [release-without-ensure]
}

void ok_try_checked(PyObject *o)
{
    PyGILState_STATE st;
    if (!try_enter(&st))
        return;
    Py_INCREF(o);
    PyGILState_Release(st);
}

void ok_try_in_local(PyObject *o)
{
    PyGILState_STATE st;
    bool entered = try_enter(&st);
    if (entered) {
        Py_DECREF(o);
        PyGILState_Release(st);
    }
}
