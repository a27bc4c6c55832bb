#include <Python.h>
#include "ft_api.h"
#include <pthread.h>
#include <stdlib.h>

typedef struct {
    PyInterpreterView *view;
    PyObject *callable;
    long interval_ms;
} thread_args;

typedef struct {
    PyObject_HEAD
    PyInterpreterGuard *guard;
    PyObject *on_done;
    int running;
} TimerObject;

extern int native_compress(const char *src, Py_ssize_t n, char *dst);
extern int native_flush_device(int fd);

static PyObject *
ok_compress_blocking(PyObject *module, PyObject *arg)
{
    PyInterpreterGuard *guard;
    char *src, *dst;
    Py_ssize_t n;
    int rc;
    PyObject *out;

    if (PyBytes_AsStringAndSize(arg, &src, &n) < 0) {
        return NULL;
    }
    dst = PyMem_RawMalloc((size_t)n + 64);
    if (dst == NULL) {
        return PyErr_NoMemory();
    }
    guard = PyInterpreterGuard_FromCurrent();
    if (guard == NULL) {
        PyMem_RawFree(dst);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = native_compress(src, n, dst);
    Py_END_ALLOW_THREADS
    PyInterpreterGuard_Close(guard);

    if (rc < 0) {
        PyMem_RawFree(dst);
        PyErr_SetString(PyExc_ValueError, "compression failed");
        return NULL;
    }
    out = PyBytes_FromStringAndSize(dst, rc);
    PyMem_RawFree(dst);
    return out;
}

static PyObject *
bad_compress_blocking(PyObject *module, PyObject *arg)
{
    PyInterpreterGuard *guard;
    char *src, *dst;
    Py_ssize_t n;
    int rc;
    PyObject *out;

    if (PyBytes_AsStringAndSize(arg, &src, &n) < 0) {
        return NULL;
    }
    guard = PyInterpreterGuard_FromCurrent();
    if (guard == NULL) {
        return NULL;
    }
    dst = PyMem_RawMalloc((size_t)n + 64);
    if (dst == NULL) {
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    rc = native_compress(src, n, dst);
    Py_END_ALLOW_THREADS
    PyInterpreterGuard_Close(guard);

    if (rc < 0) {
        PyMem_RawFree(dst);
        PyErr_SetString(PyExc_ValueError, "compression failed");
        return NULL;
    }
    out = PyBytes_FromStringAndSize(dst, rc);
    PyMem_RawFree(dst);
    return out;
}

static void *
helper_thread_body(void *p)
{
    thread_args *ta = p;
    PyThreadStateToken *ts = PyThreadState_EnsureFromView(ta->view);
    if (ts != NULL) {
        PyObject *res = PyObject_CallNoArgs(ta->callable);
        if (res == NULL) {
            PyErr_WriteUnraisable(ta->callable);
        }
        Py_XDECREF(res);
        Py_DECREF(ta->callable);
        PyThreadState_Release(ts);
    }
    PyInterpreterView_Close(ta->view);
    free(ta);
    return NULL;
}

static PyObject *
ok_start_thread(PyObject *module, PyObject *callable)
{
    PyInterpreterView *view;
    thread_args *ta;
    pthread_t tid;

    view = PyInterpreterView_FromCurrent();
    if (view == NULL) {
        return NULL;
    }
    ta = malloc(sizeof(*ta));
    if (ta == NULL) {
        PyInterpreterView_Close(view);
        return PyErr_NoMemory();
    }
    ta->view = view;
    ta->callable = Py_NewRef(callable);
    ta->interval_ms = 0;
    if (pthread_create(&tid, NULL, helper_thread_body, ta) != 0) {
        Py_DECREF(ta->callable);
        PyInterpreterView_Close(view);
        free(ta);
        PyErr_SetString(PyExc_RuntimeError, "can't start thread");
        return NULL;
    }
    pthread_detach(tid);
    Py_RETURN_NONE;
}

static PyObject *
bad_start_thread(PyObject *module, PyObject *callable)
{
    PyInterpreterView *view;
    thread_args *ta;
    pthread_t tid;

    view = PyInterpreterView_FromCurrent();
    if (view == NULL) {
        return NULL;
    }
    ta = malloc(sizeof(*ta));
    if (ta == NULL) {
        PyInterpreterView_Close(view);
        return PyErr_NoMemory();
    }
    ta->view = view;
    ta->callable = Py_NewRef(callable);
    ta->interval_ms = 0;
    if (pthread_create(&tid, NULL, helper_thread_body, ta) != 0) {
        Py_DECREF(ta->callable);
        free(ta);
        PyErr_SetString(PyExc_RuntimeError, "can't start thread");
        return NULL;
    }
    pthread_detach(tid);
    Py_RETURN_NONE;
}

static PyObject *
ok_flush_all(PyObject *module, PyObject *arg)
{
    PyInterpreterView *view = NULL;
    PyInterpreterGuard *guard = NULL;
    PyObject *result = NULL;
    int fd, rc;

    fd = PyObject_AsFileDescriptor(arg);
    if (fd < 0) {
        return NULL;
    }
    view = PyInterpreterView_FromCurrent();
    if (view == NULL) {
        goto cleanup;
    }
    guard = PyInterpreterGuard_FromView(view);
    if (guard == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "interpreter is finalizing");
        goto cleanup;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = native_flush_device(fd);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto cleanup;
    }
    result = Py_NewRef(Py_None);

cleanup:
    if (guard != NULL) {
        PyInterpreterGuard_Close(guard);
    }
    if (view != NULL) {
        PyInterpreterView_Close(view);
    }
    return result;
}

static PyObject *
bad_flush_all(PyObject *module, PyObject *arg)
{
    PyInterpreterView *view;
    PyInterpreterGuard *guard;
    PyObject *result = NULL;
    int fd, rc;

    fd = PyObject_AsFileDescriptor(arg);
    if (fd < 0) {
        return NULL;
    }
    view = PyInterpreterView_FromCurrent();
    if (view == NULL) {
        return NULL;
    }
    guard = PyInterpreterGuard_FromView(view);
    if (guard == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "interpreter is finalizing");
        goto cleanup;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = native_flush_device(fd);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto cleanup;
    }
    PyInterpreterGuard_Close(guard);
    result = Py_NewRef(Py_None);

cleanup:
    PyInterpreterView_Close(view);
    return result;
}

int
ok_native_thread_main(PyInterpreterView *view, PyObject *task)
{
    PyInterpreterGuard *guard = PyInterpreterGuard_FromView(view);
    PyThreadStateToken *ts;
    PyObject *res;

    if (guard == NULL) {
        return -1;
    }
    ts = PyThreadState_Ensure(guard);
    if (ts == NULL) {
        PyInterpreterGuard_Close(guard);
        return -1;
    }
    res = PyObject_CallNoArgs(task);
    if (res == NULL) {
        PyErr_Print();
    }
    Py_XDECREF(res);
    PyThreadState_Release(ts);
    PyInterpreterGuard_Close(guard);
    return 0;
}

int
bad_native_thread_main(PyInterpreterView *view, PyObject *task)
{
    PyInterpreterGuard *guard = PyInterpreterGuard_FromView(view);
    PyThreadStateToken *ts;
    PyObject *res;

    if (guard == NULL) {
        return -1;
    }
    ts = PyThreadState_Ensure(guard);
    if (ts == NULL) {
        return -1;
    }
    res = PyObject_CallNoArgs(task);
    if (res == NULL) {
        PyErr_Print();
    }
    Py_XDECREF(res);
    PyThreadState_Release(ts);
    PyInterpreterGuard_Close(guard);
    return 0;
}

static int
ok_timer_start(TimerObject *self, PyObject *on_done)
{
    PyInterpreterGuard *guard = PyInterpreterGuard_FromCurrent();
    if (guard == NULL) {
        return -1;
    }
    Py_XSETREF(self->on_done, Py_NewRef(on_done));
    if (self->guard != NULL) {
        PyInterpreterGuard_Close(self->guard);
    }
    self->guard = guard;
    self->running = 1;
    return 0;
}

static void
ok_timer_dealloc(TimerObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->guard != NULL) {
        PyInterpreterGuard_Close(self->guard);
        self->guard = NULL;
    }
    Py_CLEAR(self->on_done);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
helper_timer_start(TimerObject *self, PyObject *on_done)
{
    if (ok_timer_start(self, on_done) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef timer_methods[] = {
    {"start", (PyCFunction)helper_timer_start, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyType_Slot timer_slots[] = {
    {Py_tp_dealloc, ok_timer_dealloc},
    {Py_tp_methods, timer_methods},
    {0, NULL},
};

PyType_Spec Timer_spec = {
    .name = "asyncio_native.Timer",
    .basicsize = sizeof(TimerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = timer_slots,
};

static PyMethodDef async_methods[] = {
    {"compress", ok_compress_blocking, METH_O, NULL},
    {"compress_fast", bad_compress_blocking, METH_O, NULL},
    {"start_thread", ok_start_thread, METH_O, NULL},
    {"start_thread_fast", bad_start_thread, METH_O, NULL},
    {"flush_all", ok_flush_all, METH_O, NULL},
    {"flush_all_fast", bad_flush_all, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

int
helper_async_add_functions(PyObject *module)
{
    return PyModule_AddFunctions(module, async_methods);
}
