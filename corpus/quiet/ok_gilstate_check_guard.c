// PyGILState_Check() decides whether this thread must take the GIL; the result is remembered and the
// release uses the same answer.
#include <Python.h>

extern void enqueue_event(int code);

void ok_report_error_any_thread(const char *msg)
{
    int had_gil = PyGILState_Check();
    PyGILState_STATE st;
    if (!had_gil)
        st = PyGILState_Ensure();
    PyErr_SetString(PyExc_RuntimeError, msg);
    PyErr_WriteUnraisable(NULL);
    if (!had_gil)
        PyGILState_Release(st);
}

void ok_check_inline_in_condition(PyObject *obj)
{
    const int need = !PyGILState_Check();
    PyGILState_STATE st = PyGILState_UNLOCKED;
    if (need)
        st = PyGILState_Ensure();
    Py_XDECREF(obj);
    if (need)
        PyGILState_Release(st);
}

/* When the GIL is held this thread may touch Python objects directly; otherwise queue the event. */
void ok_post_or_queue(PyObject *sink, int code)
{
    if (PyGILState_Check()) {
        PyObject *r = PyObject_CallFunction(sink, "i", code);
        Py_XDECREF(r);
        return;
    }
    enqueue_event(code);
}

void ok_ensure_is_always_safe(PyObject *obj)
{
    /* Ensure nests: calling it while already holding the GIL is fine. */
    PyGILState_STATE st = PyGILState_Ensure();
    Py_INCREF(obj);
    Py_DECREF(obj);
    PyGILState_Release(st);
}
