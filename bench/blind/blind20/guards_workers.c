/* interpreter-guard-leak: a native writer / worker module that uses
 * PEP 788 interpreter guards (to hold off finalization) and views (to
 * let native threads find the interpreter later). */
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include "ft_fixture.h"

typedef struct {
    PyObject_HEAD
    int fd;
    char *buf;
    size_t len;
} WriterObject;

typedef struct {
    PyInterpreterView *view;
    PyObject *callback;
} NativeCtx;

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    NativeCtx *ctx;
    int running;
} WorkerObject;

extern int native_register(NativeCtx *ctx);
extern void *worker_entry(void *arg);

static int
write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

// BAD: interpreter-guard-leak write error returns NULL without PyInterpreterGuard_Close
static PyObject *
bad_writer_flush(WriterObject *self, PyObject *Py_UNUSED(ignored))
{
    int rc;
    PyInterpreterGuard *guard = PyInterpreterGuard_FromCurrent();
    if (guard == NULL) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = write_all(self->fd, self->buf, self->len);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);   /* guard leaked */
    }
    self->len = 0;
    PyInterpreterGuard_Close(guard);
    Py_RETURN_NONE;
}

// OK: guard closed right after the detached write, before any return
static PyObject *
ok_writer_flush(WriterObject *self, PyObject *Py_UNUSED(ignored))
{
    int rc;
    PyInterpreterGuard *guard = PyInterpreterGuard_FromCurrent();
    if (guard == NULL) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = write_all(self->fd, self->buf, self->len);
    Py_END_ALLOW_THREADS
    PyInterpreterGuard_Close(guard);
    if (rc < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->len = 0;
    Py_RETURN_NONE;
}

// BAD: interpreter-guard-leak context allocation failure returns without closing the view
static PyObject *
bad_register_callback(PyObject *module, PyObject *callback)
{
    PyInterpreterView *view = PyInterpreterView_FromCurrent();
    if (view == NULL) {
        return NULL;
    }
    NativeCtx *ctx = PyMem_RawMalloc(sizeof(*ctx));
    if (ctx == NULL) {
        return PyErr_NoMemory();    /* view leaked */
    }
    ctx->view = view;
    ctx->callback = Py_NewRef(callback);
    if (native_register(ctx) < 0) {
        Py_DECREF(ctx->callback);
        PyInterpreterView_Close(view);
        PyMem_RawFree(ctx);
        PyErr_SetString(PyExc_RuntimeError, "registration failed");
        return NULL;
    }
    (void)module;
    Py_RETURN_NONE;
}

// OK: view closed on every failure path; on success it is owned by the registered context
static PyObject *
ok_register_callback(PyObject *module, PyObject *callback)
{
    PyInterpreterView *view = PyInterpreterView_FromCurrent();
    if (view == NULL) {
        return NULL;
    }
    NativeCtx *ctx = PyMem_RawMalloc(sizeof(*ctx));
    if (ctx == NULL) {
        PyInterpreterView_Close(view);
        return PyErr_NoMemory();
    }
    ctx->view = view;
    ctx->callback = Py_NewRef(callback);
    if (native_register(ctx) < 0) {
        Py_DECREF(ctx->callback);
        PyInterpreterView_Close(view);
        PyMem_RawFree(ctx);
        PyErr_SetString(PyExc_RuntimeError, "registration failed");
        return NULL;
    }
    (void)module;
    Py_RETURN_NONE;
}

// BAD: interpreter-guard-leak native thread: PyThreadState_Ensure failure returns without closing the guard it made
static void
bad_native_job(NativeCtx *ctx, long value)
{
    PyInterpreterGuard *guard = PyInterpreterGuard_FromView(ctx->view);
    if (guard == NULL) {
        return;
    }
    PyThreadState *ts = PyThreadState_Ensure(guard);
    if (ts == NULL) {
        return;                     /* guard never closed */
    }
    PyObject *res = PyObject_CallFunction(ctx->callback, "l", value);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->callback);
    }
    else {
        Py_DECREF(res);
    }
    PyThreadState_Release(ts);
    PyInterpreterGuard_Close(guard);
}

// OK: guard closed on the Ensure-failure path and after Release on the success path
static void
ok_native_job(NativeCtx *ctx, long value)
{
    PyInterpreterGuard *guard = PyInterpreterGuard_FromView(ctx->view);
    if (guard == NULL) {
        return;
    }
    PyThreadState *ts = PyThreadState_Ensure(guard);
    if (ts == NULL) {
        PyInterpreterGuard_Close(guard);
        return;
    }
    PyObject *res = PyObject_CallFunction(ctx->callback, "l", value);
    if (res == NULL) {
        PyErr_WriteUnraisable(ctx->callback);
    }
    else {
        Py_DECREF(res);
    }
    PyThreadState_Release(ts);
    PyInterpreterGuard_Close(guard);
}

// BAD: interpreter-guard-leak cleanup ladder in the wrong order: the view-failure label sits below the guard close
static PyObject *
bad_worker_start(WorkerObject *self, PyObject *callback)
{
    PyInterpreterGuard *guard = PyInterpreterGuard_FromCurrent();
    if (guard == NULL) {
        return NULL;
    }
    PyInterpreterView *view = PyInterpreterView_FromCurrent();
    if (view == NULL) {
        goto fail_view;
    }
    NativeCtx *ctx = PyMem_RawMalloc(sizeof(*ctx));
    if (ctx == NULL) {
        PyErr_NoMemory();
        goto fail_ctx;
    }
    ctx->view = view;
    ctx->callback = Py_NewRef(callback);
    if (pthread_create(&self->thread, NULL, worker_entry, ctx) != 0) {
        Py_DECREF(ctx->callback);
        PyMem_RawFree(ctx);
        PyErr_SetString(PyExc_RuntimeError, "cannot start worker");
        goto fail_ctx;
    }
    self->ctx = ctx;
    self->running = 1;
    PyInterpreterGuard_Close(guard);
    Py_RETURN_NONE;

fail_ctx:
    PyInterpreterView_Close(view);
    PyInterpreterGuard_Close(guard);
fail_view:
    return NULL;                    /* view failure: guard leaked */
}

// OK: cleanup ladder releases in reverse acquisition order, every label closes the guard
static PyObject *
ok_worker_start(WorkerObject *self, PyObject *callback)
{
    PyInterpreterGuard *guard = PyInterpreterGuard_FromCurrent();
    if (guard == NULL) {
        return NULL;
    }
    PyInterpreterView *view = PyInterpreterView_FromCurrent();
    if (view == NULL) {
        goto fail_view;
    }
    NativeCtx *ctx = PyMem_RawMalloc(sizeof(*ctx));
    if (ctx == NULL) {
        PyErr_NoMemory();
        goto fail_ctx;
    }
    ctx->view = view;
    ctx->callback = Py_NewRef(callback);
    if (pthread_create(&self->thread, NULL, worker_entry, ctx) != 0) {
        Py_DECREF(ctx->callback);
        PyMem_RawFree(ctx);
        PyErr_SetString(PyExc_RuntimeError, "cannot start worker");
        goto fail_ctx;
    }
    self->ctx = ctx;
    self->running = 1;
    PyInterpreterGuard_Close(guard);
    Py_RETURN_NONE;

fail_ctx:
    PyInterpreterView_Close(view);
fail_view:
    PyInterpreterGuard_Close(guard);
    return NULL;
}

// OK: native thread without a user-data pointer: main-interpreter view closed right after the attach succeeded (the attach keeps its own guard)
static void
ok_atexit_hook_from_native(void)
{
    PyInterpreterView *view = PyInterpreterView_FromMain();
    if (view == NULL) {
        return;
    }
    PyThreadState *ts = PyThreadState_EnsureFromView(view);
    PyInterpreterView_Close(view);
    if (ts == NULL) {
        return;
    }
    if (PyRun_SimpleString("import sys; sys.stderr.flush()") < 0) {
        PyErr_Clear();
    }
    PyThreadState_Release(ts);
}
