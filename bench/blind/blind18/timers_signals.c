/*
 * pytimer: POSIX interval timers and file-watch notifications delivered to
 * Python callables.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <signal.h>
#include <time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    timer_t id;
    PyObject *callback;
    unsigned long fired;
    int oneshot;
} py_timer;

// BAD: thread-entry-without-gil,api-without-gil  SIGEV_THREAD notify function runs on a fresh libc thread and calls Python with no GIL
static void bad_timer_fire(union sigval sv)
{
    py_timer *t = (py_timer *)sv.sival_ptr;
    t->fired++;
    PyObject *r = PyObject_CallFunction(t->callback, "k", t->fired);
    if (r == NULL)
        PyErr_WriteUnraisable(t->callback);
    else
        Py_DECREF(r);
    if (t->oneshot) {
        Py_CLEAR(t->callback);
    }
}

// OK: SIGEV_THREAD notify function ensures the GIL before touching the callable and releases it afterwards
static void ok_timer_fire(union sigval sv)
{
    py_timer *t = (py_timer *)sv.sival_ptr;
    PyGILState_STATE gs;

    __atomic_add_fetch(&t->fired, 1, __ATOMIC_RELAXED);
    gs = PyGILState_Ensure();
    if (t->callback != NULL) {
        PyObject *r = PyObject_CallFunction(t->callback, "k", t->fired);
        if (r == NULL)
            PyErr_WriteUnraisable(t->callback);
        else
            Py_DECREF(r);
        if (t->oneshot)
            Py_CLEAR(t->callback);
    }
    PyGILState_Release(gs);
}

static int
timer_start(py_timer *t, double seconds, int safe)
{
    struct sigevent sev;
    struct itimerspec its;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = safe ? ok_timer_fire : bad_timer_fire;
    sev.sigev_value.sival_ptr = t;
    if (timer_create(CLOCK_MONOTONIC, &sev, &t->id) != 0)
        return -1;
    its.it_value.tv_sec = (time_t)seconds;
    its.it_value.tv_nsec = (long)((seconds - (double)its.it_value.tv_sec) * 1e9);
    its.it_interval = t->oneshot ? (struct timespec){0, 0} : its.it_value;
    return timer_settime(t->id, 0, &its, NULL);
}

PyObject *
pytimer_start(PyObject *mod, PyObject *args)
{
    PyObject *cb; double secs; int oneshot = 0, safe = 1;
    if (!PyArg_ParseTuple(args, "Od|pp", &cb, &secs, &oneshot, &safe))
        return NULL;
    py_timer *t = PyMem_RawCalloc(1, sizeof *t);
    if (t == NULL)
        return PyErr_NoMemory();
    Py_INCREF(cb);
    t->callback = cb;
    t->oneshot = oneshot;
    if (timer_start(t, secs, safe) != 0) {
        Py_DECREF(cb);
        PyMem_RawFree(t);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    (void)mod;
    return PyLong_FromVoidPtr(t);
}

/* ---- file-watch notifications: a watcher library thread reports events ---- */

typedef void (*watch_event_fn)(const char *path, int mask, void *ctx);
/* fswatch-like C library that invokes fn from its own monitor thread */
int watchlib_add(const char *path, watch_event_fn fn, void *ctx);

typedef struct {
    char path[4096];
    int mask;
    PyObject *handler;
} pending_event;

// OK: pending call; the interpreter runs it on the main thread with the GIL held, so no Ensure is needed
static int ok_dispatch_pending_event(void *arg)
{
    pending_event *ev = (pending_event *)arg;
    /* ev->handler is kept alive by the watch registration */
    PyObject *r = PyObject_CallFunction(ev->handler, "si", ev->path, ev->mask);
    PyMem_RawFree(ev);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

// OK: monitor-thread callback only uses raw C memory and Py_AddPendingCall, which is documented to need no GIL
static void ok_watch_event_cb(const char *path, int mask, void *ctx)
{
    pending_event *ev = PyMem_RawMalloc(sizeof *ev);
    if (ev == NULL)
        return;
    strncpy(ev->path, path, sizeof ev->path - 1);
    ev->path[sizeof ev->path - 1] = '\0';
    ev->mask = mask;
    ev->handler = (PyObject *)ctx;  /* reference owned by the watch registration */
    if (Py_AddPendingCall(ok_dispatch_pending_event, ev) < 0)
        PyMem_RawFree(ev);
}

PyObject *
pywatch_add(PyObject *mod, PyObject *args)
{
    const char *path; PyObject *handler;
    int rc;
    if (!PyArg_ParseTuple(args, "sO", &path, &handler))
        return NULL;
    Py_INCREF(handler);             /* released by pywatch_remove */
    rc = watchlib_add(path, ok_watch_event_cb, handler);
    if (rc != 0) {
        Py_DECREF(handler);
        PyErr_SetString(PyExc_OSError, "watch failed");
        return NULL;
    }
    (void)mod;
    Py_RETURN_NONE;
}

/* ---- signals ---- */

static PyObject *g_on_reload;     /* set by pytimer.on_reload(callable) */
static volatile sig_atomic_t g_reload_requested;

// BAD: thread-entry-without-gil,api-without-gil  SIGHUP handler may run on any thread at any time and calls a Python callable directly
static void bad_sighup_handler(int signo)
{
    (void)signo;
    g_reload_requested = 1;
    if (g_on_reload != NULL) {
        PyObject *r = PyObject_CallNoArgs(g_on_reload);
        Py_XDECREF(r);
        PyErr_Clear();
    }
}

// OK: signal handler only sets a flag and calls PyErr_SetInterruptEx, which is async-signal-safe and needs no thread state
static void ok_sigusr1_handler(int signo)
{
    (void)signo;
    g_reload_requested = 1;
    (void)PyErr_SetInterruptEx(SIGINT);
}

PyObject *
pytimer_install_handlers(PyObject *mod, PyObject *args)
{
    PyObject *cb;
    struct sigaction sa;
    if (!PyArg_ParseTuple(args, "O", &cb))
        return NULL;
    Py_XSETREF(g_on_reload, Py_NewRef(cb));
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = bad_sighup_handler;
    if (sigaction(SIGHUP, &sa, NULL) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    sa.sa_handler = ok_sigusr1_handler;
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    (void)mod;
    Py_RETURN_NONE;
}
