#include <Python.h>
#include "ft_api.h"
#include <stdlib.h>
#include <string.h>

/* Callbacks invoked by a native event library on its own threads. */

typedef struct {
    PyInterpreterGuard *guard;
    PyInterpreterView *view;
    PyObject *on_event;
    PyObject *on_progress;
    PyObject *on_data;
    PyObject *log_sink;
    char tag[16];
} cb_context;

int
ok_cb_on_event(cb_context *ctx, int code)
{
    PyThreadStateToken *tstate;
    PyObject *res;

    tstate = PyThreadState_Ensure(ctx->guard);
    if (tstate == NULL) {
        return -1;
    }
    res = PyObject_CallFunction(ctx->on_event, "si", ctx->tag, code);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->on_event);
    }
    else {
        Py_DECREF(res);
    }
    PyThreadState_Release(tstate);
    return 0;
}

int
bad_cb_on_event(cb_context *ctx, int code)
{
    PyThreadStateToken *tstate;
    PyObject *res;

    tstate = PyThreadState_Ensure(ctx->guard);
    if (tstate == NULL) {
        PyThreadState_Release(tstate);
        return -1;
    }
    res = PyObject_CallFunction(ctx->on_event, "si", ctx->tag, code);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->on_event);
    }
    else {
        Py_DECREF(res);
    }
    PyThreadState_Release(tstate);
    return 0;
}

int
bad_cb_on_progress(cb_context *ctx, size_t done, size_t total)
{
    PyThreadStateToken *tstate;
    PyObject *args, *res;

    tstate = PyThreadState_Ensure(ctx->guard);
    if (tstate == NULL) {
        return -1;
    }
    args = Py_BuildValue("(nn)", (Py_ssize_t)done, (Py_ssize_t)total);
    if (args == NULL) {
        PyErr_WriteUnraisable(ctx->on_progress);
        return -1;
    }
    res = PyObject_Call(ctx->on_progress, args, NULL);
    Py_DECREF(args);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->on_progress);
    }
    else {
        Py_DECREF(res);
    }
    PyThreadState_Release(tstate);
    return 0;
}

int
ok_cb_on_progress(cb_context *ctx, size_t done, size_t total)
{
    PyThreadStateToken *tstate;
    PyObject *args = NULL, *res = NULL;
    int status = -1;

    tstate = PyThreadState_Ensure(ctx->guard);
    if (tstate == NULL) {
        return -1;
    }
    args = Py_BuildValue("(nn)", (Py_ssize_t)done, (Py_ssize_t)total);
    if (args == NULL) {
        goto error;
    }
    res = PyObject_Call(ctx->on_progress, args, NULL);
    if (res == NULL) {
        goto error;
    }
    status = 0;
    goto done;

error:
    PyErr_WriteUnraisable(ctx->on_progress);
done:
    Py_XDECREF(res);
    Py_XDECREF(args);
    PyThreadState_Release(tstate);
    return status;
}

void
bad_cb_on_data(cb_context *ctx, const char *buf, size_t len)
{
    PyThreadStateToken *tstate = PyThreadState_EnsureFromView(ctx->view);
    PyObject *data, *res;

    if (tstate == NULL) {
        return;
    }
    data = PyBytes_FromStringAndSize(buf, (Py_ssize_t)len);
    if (data == NULL) {
        PyErr_Clear();
        return;
    }
    res = PyObject_CallOneArg(ctx->on_data, data);
    Py_DECREF(data);
    Py_XDECREF(res);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->on_data);
    }
    PyThreadState_Release(tstate);
}

void
ok_cb_on_data(cb_context *ctx, const char *buf, size_t len)
{
    PyThreadStateToken *tstate = PyThreadState_EnsureFromView(ctx->view);
    PyObject *data, *res = NULL;

    if (!tstate) {
        return;
    }
    data = PyBytes_FromStringAndSize(buf, (Py_ssize_t)len);
    if (data != NULL) {
        res = PyObject_CallOneArg(ctx->on_data, data);
        Py_DECREF(data);
    }
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->on_data);
    }
    Py_XDECREF(res);
    PyThreadState_Release(tstate);
}

int
ok_cb_on_event_reentrant(cb_context *ctx, int code)
{
    PyThreadStateToken *outer, *inner;
    PyObject *res;
    int rc = 0;

    outer = PyThreadState_Ensure(ctx->guard);
    if (outer == NULL) {
        return -1;
    }
    res = PyObject_CallFunction(ctx->on_event, "si", ctx->tag, code);
    Py_XDECREF(res);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->on_event);
        rc = -1;
    }

    inner = PyThreadState_EnsureFromView(ctx->view);
    if (inner != NULL) {
        res = PyObject_CallFunction(ctx->log_sink, "s", ctx->tag);
        Py_XDECREF(res);
        if (res == NULL) {
            PyErr_WriteUnraisable(ctx->log_sink);
        }
        PyThreadState_Release(inner);
    }

    PyThreadState_Release(outer);
    return rc;
}

void
bad_cb_context_free(cb_context *ctx)
{
    PyThreadStateToken *tstate = PyThreadState_Ensure(ctx->guard);
    if (tstate == NULL) {
        free(ctx);
        return;
    }
    Py_CLEAR(ctx->on_event);
    Py_CLEAR(ctx->on_progress);
    Py_CLEAR(ctx->on_data);
    PyThreadState_Release(tstate);
    Py_CLEAR(ctx->log_sink);
    free(ctx);
}

void
ok_cb_context_free(cb_context *ctx)
{
    PyThreadStateToken *tstate = PyThreadState_Ensure(ctx->guard);
    if (tstate == NULL) {
        free(ctx);
        return;
    }
    Py_CLEAR(ctx->on_event);
    Py_CLEAR(ctx->on_progress);
    Py_CLEAR(ctx->on_data);
    Py_CLEAR(ctx->log_sink);
    PyThreadState_Release(tstate);
    memset(ctx->tag, 0, sizeof(ctx->tag));
    free(ctx);
}

int
bad_cb_log(cb_context *ctx, const char *msg)
{
    PyThreadStateToken *tstate;
    PyObject *res;

    tstate = PyThreadState_Ensure(ctx->guard);
    if (tstate == NULL) {
        return -1;
    }
    res = PyObject_CallFunction(ctx->log_sink, "ss", ctx->tag, msg);
    Py_XDECREF(res);
    PyThreadState_Release(tstate);
    if (PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

int
ok_cb_log(cb_context *ctx, const char *msg)
{
    PyThreadStateToken *tstate;
    PyObject *res;
    int failed;

    tstate = PyThreadState_Ensure(ctx->guard);
    if (tstate == NULL) {
        return -1;
    }
    res = PyObject_CallFunction(ctx->log_sink, "ss", ctx->tag, msg);
    failed = (res == NULL);
    if (failed) {
        PyErr_Clear();
    }
    Py_XDECREF(res);
    PyThreadState_Release(tstate);
    return failed ? -1 : 0;
}
