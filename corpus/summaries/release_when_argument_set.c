// Helpers whose effect depends on an argument: they release (or acquire) only when a flag is set. Callers
// that test the same flag afterwards follow the helper's choice.
#include <Python.h>

static void release_if(PyGILState_STATE st, int cond)
{
    if (cond)
        PyGILState_Release(st);
}

static void release_unless(PyGILState_STATE st, int keep)
{
    if (keep)
        return;
    PyGILState_Release(st);
}

void ok_release_if(int cond)
{
    PyGILState_STATE st = PyGILState_Ensure();
    release_if(st, cond);
    if (!cond)
        PyGILState_Release(st);
}

void ok_release_unless(PyObject *o, int keep)
{
    PyGILState_STATE st = PyGILState_Ensure();
    release_unless(st, keep);
    if (keep) {
        Py_INCREF(o);
        PyGILState_Release(st);
    }
}

void ok_release_always(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    release_if(st, 1);
}

void bad_release_if(int cond)
{
    PyGILState_STATE st = PyGILState_Ensure();
    release_if(st, cond);                // expect-note{{assuming cond is true}}
    PyGILState_Release(st);              // expect-error{{already released}} [release-without-ensure]
}

void bad_never_released(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    release_if(st, 0);
}                                        // expect-error{{'st' acquired by PyGILState_Ensure() is not released}} [ensure-leak]
