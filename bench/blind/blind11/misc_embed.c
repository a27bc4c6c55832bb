#include <Python.h>
#include "ft_api.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Embedding layer used by a C++ game engine's scripting subsystem. */

typedef struct {
    PyInterpreterGuard *guard;
    PyObject *script_fn;
    char last_error[256];
    double last_value;
} script_slot;

static void
helper_copy_error(script_slot *slot)
{
    PyObject *exc_type, *exc_value, *exc_tb, *s = NULL;
    const char *msg = NULL;

    PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
    if (exc_value != NULL) {
        s = PyObject_Str(exc_value);
    }
    if (s != NULL) {
        msg = PyUnicode_AsUTF8(s);
    }
    snprintf(slot->last_error, sizeof(slot->last_error), "%s",
             msg != NULL ? msg : "unknown error");
    Py_XDECREF(s);
    Py_XDECREF(exc_type);
    Py_XDECREF(exc_value);
    Py_XDECREF(exc_tb);
    PyErr_Clear();
}

int
bad_script_eval(script_slot *slot, double arg)
{
    PyThreadStateToken *ts = PyThreadState_Ensure(slot->guard);
    PyObject *res;

    if (ts == NULL) {
        return -1;
    }
    res = PyObject_CallFunction(slot->script_fn, "d", arg);
    PyThreadState_Release(ts);
    if (res == NULL) {
        helper_copy_error(slot);
        return -1;
    }
    slot->last_value = PyFloat_AsDouble(res);
    Py_DECREF(res);
    return 0;
}

int
ok_script_eval(script_slot *slot, double arg)
{
    PyThreadStateToken *ts = PyThreadState_Ensure(slot->guard);
    PyObject *res;
    int rc = 0;

    if (ts == NULL) {
        return -1;
    }
    res = PyObject_CallFunction(slot->script_fn, "d", arg);
    if (res == NULL) {
        helper_copy_error(slot);
        rc = -1;
    }
    else {
        slot->last_value = PyFloat_AsDouble(res);
        Py_DECREF(res);
        if (slot->last_value == -1.0 && PyErr_Occurred()) {
            helper_copy_error(slot);
            rc = -1;
        }
    }
    PyThreadState_Release(ts);
    return rc;
}

int
bad_script_unload(script_slot *slot)
{
    PyThreadStateToken *ts = PyThreadState_Ensure(slot->guard);
    if (ts == NULL) {
        return -1;
    }
    PyThreadState_Release(ts);
    Py_CLEAR(slot->script_fn);
    PyInterpreterGuard_Close(slot->guard);
    slot->guard = NULL;
    return 0;
}

int
ok_script_unload(script_slot *slot)
{
    PyThreadStateToken *ts = PyThreadState_Ensure(slot->guard);
    if (ts == NULL) {
        return -1;
    }
    Py_CLEAR(slot->script_fn);
    PyThreadState_Release(ts);
    PyInterpreterGuard_Close(slot->guard);
    slot->guard = NULL;
    memset(slot->last_error, 0, sizeof(slot->last_error));
    return 0;
}
