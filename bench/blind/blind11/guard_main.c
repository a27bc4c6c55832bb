#include <Python.h>
#include "ft_api.h"

/* Signal/event bridge for a native GUI toolkit that offers no user-data
   pointer in its callbacks. */

static PyObject *signal_dispatcher;   /* set once at import, then read-only */

static PyInterpreterView *
ok_main_view_cached(void)
{
    static PyInterpreterView *cached;
    if (cached == NULL) {
        cached = PyInterpreterView_FromMain();
    }
    return cached;
}

void
ok_toolkit_notify(int signum)
{
    PyInterpreterView *view = ok_main_view_cached();
    PyThreadStateToken *ts;
    PyObject *res;

    if (view == NULL) {
        return;
    }
    ts = PyThreadState_EnsureFromView(view);
    if (ts == NULL) {
        return;
    }
    res = PyObject_CallFunction(signal_dispatcher, "i", signum);
    if (res == NULL) {
        PyErr_WriteUnraisable(signal_dispatcher);
    }
    Py_XDECREF(res);
    PyThreadState_Release(ts);
}

void
bad_toolkit_notify_once(int signum)
{
    PyInterpreterView *view = PyInterpreterView_FromMain();
    PyThreadStateToken *ts;
    PyObject *res;

    if (view == NULL) {
        return;
    }
    ts = PyThreadState_EnsureFromView(view);
    if (ts == NULL) {
        PyInterpreterView_Close(view);
        return;
    }
    res = PyObject_CallFunction(signal_dispatcher, "i", signum);
    if (res == NULL) {
        PyErr_WriteUnraisable(signal_dispatcher);
    }
    Py_XDECREF(res);
    PyThreadState_Release(ts);
}

void
ok_toolkit_notify_once(int signum)
{
    PyInterpreterView *view = PyInterpreterView_FromMain();
    PyThreadStateToken *ts;
    PyObject *res;

    if (view == NULL) {
        return;
    }
    ts = PyThreadState_EnsureFromView(view);
    if (ts != NULL) {
        res = PyObject_CallFunction(signal_dispatcher, "i", signum);
        if (res == NULL) {
            PyErr_WriteUnraisable(signal_dispatcher);
        }
        Py_XDECREF(res);
        PyThreadState_Release(ts);
    }
    PyInterpreterView_Close(view);
}

int
bad_toolkit_shutdown_hook(void)
{
    PyInterpreterView *view = PyInterpreterView_FromMain();
    PyInterpreterGuard *guard;
    PyThreadStateToken *ts;

    if (view == NULL) {
        return -1;
    }
    guard = PyInterpreterGuard_FromView(view);
    PyInterpreterView_Close(view);
    if (guard == NULL) {
        return -1;
    }
    ts = PyThreadState_Ensure(guard);
    if (ts == NULL) {
        PyInterpreterGuard_Close(guard);
        return -1;
    }
    if (signal_dispatcher != NULL) {
        PyObject *res = PyObject_CallMethod(signal_dispatcher, "close", NULL);
        if (res == NULL) {
            PyErr_Print();
            PyThreadState_Release(ts);
            return -1;
        }
        Py_DECREF(res);
    }
    PyThreadState_Release(ts);
    PyInterpreterGuard_Close(guard);
    return 0;
}

int
ok_toolkit_shutdown_hook(void)
{
    PyInterpreterView *view = PyInterpreterView_FromMain();
    PyInterpreterGuard *guard;
    PyThreadStateToken *ts;
    PyObject *res;
    int rc = 0;

    if (view == NULL) {
        return -1;
    }
    guard = PyInterpreterGuard_FromView(view);
    PyInterpreterView_Close(view);
    if (guard == NULL) {
        return -1;
    }
    ts = PyThreadState_Ensure(guard);
    if (ts == NULL) {
        PyInterpreterGuard_Close(guard);
        return -1;
    }
    if (signal_dispatcher != NULL) {
        res = PyObject_CallMethod(signal_dispatcher, "close", NULL);
        if (res == NULL) {
            PyErr_Print();
            rc = -1;
        }
        Py_XDECREF(res);
    }
    PyThreadState_Release(ts);
    PyInterpreterGuard_Close(guard);
    return rc;
}

int
helper_set_dispatcher(PyObject *dispatcher)
{
    Py_XSETREF(signal_dispatcher, Py_NewRef(dispatcher));
    return 0;
}
