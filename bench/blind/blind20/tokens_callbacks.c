/* thread-state-token-leak: callbacks invoked by a native event library on
 * its own threads (no attached thread state on entry).  They attach with
 * PEP 788's PyThreadState_EnsureFromView / PyThreadState_Ensure. */
#include <Python.h>
#include "ft_fixture.h"

typedef struct {
    PyInterpreterView *view;    /* created by the registering Python call */
    PyObject *callback;         /* strong ref, owned by the context */
    PyObject *on_error;         /* may be NULL */
} CallbackCtx;

typedef struct {
    const char *data;
    size_t len;
    int stop;
} NativeMessage;

typedef struct {
    NativeMessage *items;
    size_t count;
} NativeQueue;

// BAD: thread-state-token-leak callback failure returns without PyThreadState_Release
static void
bad_on_packet(void *userdata, const char *buf, size_t len)
{
    CallbackCtx *ctx = (CallbackCtx *)userdata;
    PyThreadState *ts = PyThreadState_EnsureFromView(ctx->view);
    if (ts == NULL) {
        return;                     /* interpreter gone: drop the packet */
    }
    PyObject *res = PyObject_CallFunction(ctx->callback, "y#",
                                          buf, (Py_ssize_t)len);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->callback);
        return;                     /* token never released */
    }
    Py_DECREF(res);
    PyThreadState_Release(ts);
}

// OK: failed Ensure returns without Release; every attached path releases
static void
ok_on_packet(void *userdata, const char *buf, size_t len)
{
    CallbackCtx *ctx = (CallbackCtx *)userdata;
    PyThreadState *ts = PyThreadState_EnsureFromView(ctx->view);
    if (ts == NULL) {
        return;
    }
    PyObject *res = PyObject_CallFunction(ctx->callback, "y#",
                                          buf, (Py_ssize_t)len);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->callback);
    }
    else {
        Py_DECREF(res);
    }
    PyThreadState_Release(ts);
}

// BAD: thread-state-token-leak failed Ensure jumps to the shared exit, which releases a NULL token
static int
bad_on_timer(void *userdata, long tick)
{
    CallbackCtx *ctx = (CallbackCtx *)userdata;
    int rc = -1;
    PyThreadState *ts = PyThreadState_EnsureFromView(ctx->view);
    if (ts == NULL) {
        goto done;                  /* Release must not be called now */
    }
    PyObject *res = PyObject_CallFunction(ctx->callback, "l", tick);
    if (res != NULL) {
        rc = 0;
        Py_DECREF(res);
    }
    else {
        PyErr_Clear();
    }
done:
    PyThreadState_Release(ts);
    return rc;
}

// OK: the exit label is placed after the Release, failure path skips it
static int
ok_on_timer(void *userdata, long tick)
{
    CallbackCtx *ctx = (CallbackCtx *)userdata;
    int rc = -1;
    PyThreadState *ts = PyThreadState_EnsureFromView(ctx->view);
    if (ts == NULL) {
        goto done;
    }
    PyObject *res = PyObject_CallFunction(ctx->callback, "l", tick);
    if (res != NULL) {
        rc = 0;
        Py_DECREF(res);
    }
    else {
        PyErr_Clear();
    }
    PyThreadState_Release(ts);
done:
    return rc;
}

// BAD: thread-state-token-leak break on the stop message leaves the loop between Ensure and Release
static size_t
bad_drain_queue(CallbackCtx *ctx, NativeQueue *q)
{
    size_t delivered = 0;
    for (size_t i = 0; i < q->count; i++) {
        PyThreadState *ts = PyThreadState_EnsureFromView(ctx->view);
        if (ts == NULL) {
            break;
        }
        if (q->items[i].stop) {
            break;                  /* token still held */
        }
        PyObject *res = PyObject_CallFunction(ctx->callback, "y#",
                                              q->items[i].data,
                                              (Py_ssize_t)q->items[i].len);
        if (res == NULL) {
            PyErr_Clear();
        }
        else {
            Py_DECREF(res);
            delivered++;
        }
        PyThreadState_Release(ts);
    }
    return delivered;
}

// OK: stop is checked before attaching, so no token is held when breaking
static size_t
ok_drain_queue(CallbackCtx *ctx, NativeQueue *q)
{
    size_t delivered = 0;
    for (size_t i = 0; i < q->count; i++) {
        if (q->items[i].stop) {
            break;
        }
        PyThreadState *ts = PyThreadState_EnsureFromView(ctx->view);
        if (ts == NULL) {
            break;
        }
        PyObject *res = PyObject_CallFunction(ctx->callback, "y#",
                                              q->items[i].data,
                                              (Py_ssize_t)q->items[i].len);
        if (res == NULL) {
            PyErr_Clear();
        }
        else {
            Py_DECREF(res);
            delivered++;
        }
        PyThreadState_Release(ts);
    }
    return delivered;
}

// BAD: thread-state-token-leak missing error handler returns early after a successful Ensure
static void
bad_report_error(CallbackCtx *ctx, int code, const char *msg)
{
    PyThreadState *ts = PyThreadState_EnsureFromView(ctx->view);
    if (ts == NULL) {
        return;
    }
    if (ctx->on_error == NULL) {
        return;                     /* token leaked */
    }
    PyObject *res = PyObject_CallFunction(ctx->on_error, "is", code, msg);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->on_error);
    }
    Py_XDECREF(res);
    PyThreadState_Release(ts);
}

// OK: early exit for the no-handler case happens before attaching
static void
ok_report_error(CallbackCtx *ctx, int code, const char *msg)
{
    if (ctx->on_error == NULL) {
        return;
    }
    PyThreadState *ts = PyThreadState_EnsureFromView(ctx->view);
    if (ts == NULL) {
        return;
    }
    PyObject *res = PyObject_CallFunction(ctx->on_error, "is", code, msg);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->on_error);
    }
    Py_XDECREF(res);
    PyThreadState_Release(ts);
}

// OK: re-entrant attach (outer and inner Ensure) released innermost first
static void
ok_nested_dispatch(CallbackCtx *outer, CallbackCtx *inner, int code)
{
    PyThreadState *ts1 = PyThreadState_EnsureFromView(outer->view);
    if (ts1 == NULL) {
        return;
    }
    PyObject *r1 = PyObject_CallFunction(outer->callback, "i", code);
    if (r1 == NULL) {
        PyErr_Clear();
    }
    else {
        Py_DECREF(r1);
    }
    PyThreadState *ts2 = PyThreadState_EnsureFromView(inner->view);
    if (ts2 != NULL) {
        PyObject *r2 = PyObject_CallFunction(inner->callback, "i", code);
        if (r2 == NULL) {
            PyErr_Clear();
        }
        else {
            Py_DECREF(r2);
        }
        PyThreadState_Release(ts2);
    }
    PyThreadState_Release(ts1);
}
