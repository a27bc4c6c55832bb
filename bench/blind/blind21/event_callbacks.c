/*
 * _desktop.c -- native services of a desktop/kiosk app toolkit: config
 * directory watching (inotify thread), a GLFW window event pump, POSIX
 * interval timers, signal hooks and an input-device monitor thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

/* ---- GLFW/glfw3.h (subset) ------------------------------------------- */
typedef struct GLFWwindow GLFWwindow;
typedef void (*GLFWkeyfun)(GLFWwindow *window, int key, int scancode, int action, int mods);
typedef void (*GLFWcursorposfun)(GLFWwindow *window, double xpos, double ypos);
GLFWkeyfun glfwSetKeyCallback(GLFWwindow *window, GLFWkeyfun callback);
GLFWcursorposfun glfwSetCursorPosCallback(GLFWwindow *window, GLFWcursorposfun callback);
void glfwSetWindowUserPointer(GLFWwindow *window, void *pointer);
void *glfwGetWindowUserPointer(GLFWwindow *window);
void glfwWaitEventsTimeout(double timeout);
int glfwWindowShouldClose(GLFWwindow *window);

/* ====================================================================== */
/* Directory watchers: each runs on its own pthread, blocking in read().  */

struct watcher {
    int inotify_fd;
    PyObject *callback;      /* callable(name: str, mask: int) */
    volatile int stop;
};

// BAD: thread-entry-without-gil config-watcher pthread entry calls the Python callback for every inotify event without ever taking the GIL
static void *
bad_watch_thread_main(void *arg)
{
    struct watcher *w = (struct watcher *)arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (!w->stop) {
        ssize_t len = read(w->inotify_fd, buf, sizeof buf);
        char *p;
        if (len <= 0) {
            if (len < 0 && errno == EINTR)
                continue;
            break;
        }
        for (p = buf; p < buf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            PyObject *r = PyObject_CallFunction(w->callback, "sI",
                                                ev->len ? ev->name : "", ev->mask);
            if (r == NULL)
                PyErr_Print();
            Py_XDECREF(r);
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
    return NULL;
}

// OK: directory-watcher pthread blocks in read() without the GIL and takes it with PyGILState_Ensure once per batch of inotify events
static void *
ok_watch_thread_main(void *arg)
{
    struct watcher *w = (struct watcher *)arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (!w->stop) {
        ssize_t len = read(w->inotify_fd, buf, sizeof buf);
        PyGILState_STATE st;
        char *p;
        if (len <= 0) {
            if (len < 0 && errno == EINTR)
                continue;
            break;
        }
        st = PyGILState_Ensure();
        for (p = buf; p < buf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            PyObject *r = PyObject_CallFunction(w->callback, "sI",
                                                ev->len ? ev->name : "", ev->mask);
            if (r == NULL)
                PyErr_Print();
            Py_XDECREF(r);
            p += sizeof(struct inotify_event) + ev->len;
        }
        PyGILState_Release(st);
    }
    return NULL;
}

/* Not scored: starts a watcher thread; config dirs use the old loop. */
static PyObject *
watch_directory(PyObject *self, PyObject *args)
{
    const char *path;
    PyObject *cb;
    int is_config = 0;
    struct watcher *w;
    pthread_t tid;
    (void)self;
    if (!PyArg_ParseTuple(args, "sO|p", &path, &cb, &is_config))
        return NULL;
    w = PyMem_RawCalloc(1, sizeof *w);
    if (w == NULL)
        return PyErr_NoMemory();
    w->inotify_fd = inotify_init1(IN_CLOEXEC);
    if (w->inotify_fd < 0 ||
        inotify_add_watch(w->inotify_fd, path, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE) < 0) {
        PyMem_RawFree(w);
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    }
    Py_INCREF(cb);
    w->callback = cb;
    pthread_create(&tid, NULL, is_config ? bad_watch_thread_main : ok_watch_thread_main, w);
    pthread_detach(tid);
    return PyLong_FromVoidPtr(w);
}

/* ====================================================================== */
/* GLFW: callbacks run synchronously inside glfwWaitEventsTimeout(), which */
/* window_wait_events() calls with the GIL released.                      */

struct window_ctx {
    GLFWwindow *win;
    PyObject *on_key;      /* callable(key, scancode, action, mods) */
    PyObject *on_cursor;   /* callable(x, y) */
};

// BAD: api-without-gil,thread-entry-without-gil GLFW key callback is invoked from glfwWaitEventsTimeout inside window_wait_events' Py_BEGIN_ALLOW_THREADS and calls Python without the GIL
static void
bad_glfw_key_cb(GLFWwindow *window, int key, int scancode, int action, int mods)
{
    struct window_ctx *ctx = (struct window_ctx *)glfwGetWindowUserPointer(window);
    PyObject *r;
    if (ctx == NULL || ctx->on_key == NULL)
        return;
    r = PyObject_CallFunction(ctx->on_key, "iiii", key, scancode, action, mods);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
}

// OK: GLFW cursor callback (run from glfwWaitEventsTimeout with the GIL released) acquires the GIL around the Python call
static void
ok_glfw_cursor_cb(GLFWwindow *window, double xpos, double ypos)
{
    struct window_ctx *ctx = (struct window_ctx *)glfwGetWindowUserPointer(window);
    PyGILState_STATE st;
    PyObject *r;
    if (ctx == NULL || ctx->on_cursor == NULL)
        return;
    st = PyGILState_Ensure();
    r = PyObject_CallFunction(ctx->on_cursor, "dd", xpos, ypos);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
}

/* Not scored: registration (window creation path). */
static void
window_install_callbacks(struct window_ctx *ctx)
{
    glfwSetWindowUserPointer(ctx->win, ctx);
    glfwSetKeyCallback(ctx->win, bad_glfw_key_cb);
    glfwSetCursorPosCallback(ctx->win, ok_glfw_cursor_cb);
}

/* Not scored: the event pump. */
static PyObject *
window_wait_events(PyObject *self, PyObject *arg)
{
    double timeout = PyFloat_AsDouble(arg);
    (void)self;
    if (timeout == -1.0 && PyErr_Occurred())
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    glfwWaitEventsTimeout(timeout);
    Py_END_ALLOW_THREADS
    if (PyErr_CheckSignals() < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ====================================================================== */
/* POSIX interval timers with SIGEV_THREAD: glibc runs the notify        */
/* function on a helper thread it creates, never on a Python thread.      */

struct py_timer {
    timer_t id;
    PyObject *callback;
};

// BAD: thread-entry-without-gil SIGEV_THREAD notify function runs on a glibc-created timer thread and calls the Python callback without taking the GIL
static void
bad_timer_notify(union sigval sv)
{
    struct py_timer *t = (struct py_timer *)sv.sival_ptr;
    PyObject *r = PyObject_CallNoArgs(t->callback);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
}

/* Not scored */
static PyObject *
timer_start(PyObject *self, PyObject *args)
{
    PyObject *cb;
    double interval;
    struct py_timer *t;
    struct sigevent sev;
    struct itimerspec its;
    (void)self;
    if (!PyArg_ParseTuple(args, "Od", &cb, &interval))
        return NULL;
    t = PyMem_RawCalloc(1, sizeof *t);
    if (t == NULL)
        return PyErr_NoMemory();
    Py_INCREF(cb);
    t->callback = cb;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = bad_timer_notify;
    sev.sigev_value.sival_ptr = t;
    if (timer_create(CLOCK_MONOTONIC, &sev, &t->id) < 0) {
        Py_DECREF(cb);
        PyMem_RawFree(t);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    its.it_value.tv_sec = (time_t)interval;
    its.it_value.tv_nsec = (long)((interval - (double)(time_t)interval) * 1e9);
    its.it_interval = its.it_value;
    timer_settime(t->id, 0, &its, NULL);
    return PyLong_FromVoidPtr(t);
}

/* ====================================================================== */
/* Signals                                                                */

static PyObject *g_on_terminate;

// BAD: api-without-gil,thread-entry-without-gil SIGTERM handler installed with sigaction calls a Python hook directly from the asynchronous signal context, without the GIL
static void
bad_sigterm_handler(int signo)
{
    PyObject *r;
    (void)signo;
    if (g_on_terminate == NULL)
        return;
    r = PyObject_CallNoArgs(g_on_terminate);
    Py_XDECREF(r);
}

// OK: SIGUSR1 "debug break" handler only calls PyErr_SetInterruptEx, which is documented as async-signal-safe and callable without the GIL
static void
ok_sigusr1_handler(int signo)
{
    (void)signo;
    PyErr_SetInterruptEx(SIGINT);
}

/* Not scored */
static PyObject *
install_signal_hooks(PyObject *self, PyObject *on_terminate)
{
    struct sigaction sa;
    (void)self;
    Py_INCREF(on_terminate);
    Py_XSETREF(g_on_terminate, on_terminate);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = bad_sigterm_handler;
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = ok_sigusr1_handler;
    sigaction(SIGUSR1, &sa, NULL);
    Py_RETURN_NONE;
}

/* ====================================================================== */
/* Input-device monitor thread: hands events to the main thread.          */

struct input_event_lite {
    int code;
    int value;
};

static PyObject *g_on_input;

/* Not scored: runs in the main thread via the pending-call queue, GIL held. */
static int
deliver_pending(void *arg)
{
    struct input_event_lite *ev = (struct input_event_lite *)arg;
    PyObject *r = g_on_input ? PyObject_CallFunction(g_on_input, "ii", ev->code, ev->value)
                             : Py_NewRef(Py_None);
    PyMem_RawFree(ev);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

// OK: monitor pthread (no GIL) only calls Py_AddPendingCall, which is documented to need neither a thread state nor the GIL; the Python work happens in deliver_pending on the main thread
static void *
ok_device_thread_notify(void *arg)
{
    int fd = (int)(intptr_t)arg;
    int raw[2];
    for (;;) {
        struct input_event_lite *ev;
        ssize_t n = read(fd, raw, sizeof raw);
        if (n != (ssize_t)sizeof raw) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        ev = PyMem_RawMalloc(sizeof *ev);
        if (ev == NULL)
            continue;
        ev->code = raw[0];
        ev->value = raw[1];
        while (Py_AddPendingCall(deliver_pending, ev) < 0)
            usleep(1000);           /* queue full, retry */
    }
    close(fd);
    return NULL;
}

/* Not scored */
static PyObject *
monitor_input(PyObject *self, PyObject *args)
{
    int fd;
    PyObject *cb;
    pthread_t tid;
    (void)self;
    if (!PyArg_ParseTuple(args, "iO", &fd, &cb))
        return NULL;
    Py_INCREF(cb);
    Py_XSETREF(g_on_input, cb);
    if (pthread_create(&tid, NULL, ok_device_thread_notify, (void *)(intptr_t)fd) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    pthread_detach(tid);
    Py_RETURN_NONE;
}

static PyObject *
window_attach(PyObject *self, PyObject *args)
{
    PyObject *cap, *on_key, *on_cursor;
    struct window_ctx *ctx;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO", &cap, &on_key, &on_cursor))
        return NULL;
    ctx = PyMem_RawCalloc(1, sizeof *ctx);
    if (ctx == NULL)
        return PyErr_NoMemory();
    ctx->win = (GLFWwindow *)PyCapsule_GetPointer(cap, "GLFWwindow");
    Py_INCREF(on_key);
    Py_INCREF(on_cursor);
    ctx->on_key = on_key;
    ctx->on_cursor = on_cursor;
    window_install_callbacks(ctx);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"watch_directory", watch_directory, METH_VARARGS, NULL},
    {"window_attach", window_attach, METH_VARARGS, NULL},
    {"wait_events", window_wait_events, METH_O, NULL},
    {"timer_start", timer_start, METH_VARARGS, NULL},
    {"install_signal_hooks", install_signal_hooks, METH_O, NULL},
    {"monitor_input", monitor_input, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef desktop_module = {
    PyModuleDef_HEAD_INIT, "_desktop", NULL, -1, module_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__desktop(void)
{
    return PyModule_Create(&desktop_module);
}
