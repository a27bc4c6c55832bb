/*
 * watcher_type.c -- "fswatch" extension: a Watcher type whose instances own
 * a background thread that reports events to a Python callback, and a
 * module-level libuv loop thread driving a periodic Python tick.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- libuv (uv.h) ----------------------------------------------------- */
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_handle_s uv_handle_t;
typedef struct uv_timer_s uv_timer_t;
typedef struct uv_async_s uv_async_t;
typedef enum { UV_RUN_DEFAULT = 0, UV_RUN_ONCE, UV_RUN_NOWAIT } uv_run_mode;
typedef enum { UV_UNKNOWN_HANDLE = 0, UV_ASYNC = 1, UV_TIMER = 13 } uv_handle_type;
typedef void (*uv_timer_cb)(uv_timer_t *handle);
typedef void (*uv_async_cb)(uv_async_t *handle);
typedef void (*uv_close_cb)(uv_handle_t *handle);
size_t uv_loop_size(void);
size_t uv_handle_size(uv_handle_type type);
int uv_loop_init(uv_loop_t *loop);
int uv_loop_close(uv_loop_t *loop);
int uv_run(uv_loop_t *, uv_run_mode mode);
int uv_timer_init(uv_loop_t *, uv_timer_t *handle);
int uv_timer_start(uv_timer_t *handle, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
int uv_timer_stop(uv_timer_t *handle);
int uv_async_init(uv_loop_t *, uv_async_t *async, uv_async_cb async_cb);
int uv_async_send(uv_async_t *async);
void uv_close(uv_handle_t *handle, uv_close_cb close_cb);
void *uv_handle_get_data(const uv_handle_t *handle);
void uv_handle_set_data(uv_handle_t *handle, void *data);

/* ---- Watcher type ----------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *callback; /* callable(bytes), owned */
    int watch_fd;
    int wake_pipe[2];
    atomic_int stop;
    pthread_t thread;
    int started;
} WatcherObject;

/* Watcher thread: waits without the GIL, takes it per event. */
static void *watcher_thread_main(void *arg)
{
    WatcherObject *self = arg;
    struct pollfd fds[2] = {
        {.fd = self->watch_fd, .events = POLLIN},
        {.fd = self->wake_pipe[0], .events = POLLIN},
    };
    char buf[256];

    while (!atomic_load(&self->stop)) {
        int n = poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents)
            break;
        if (fds[0].revents & POLLIN) {
            ssize_t r = read(self->watch_fd, buf, sizeof buf);
            if (r <= 0)
                break;
            PyGILState_STATE st = PyGILState_Ensure();
            PyObject *res = PyObject_CallFunction(self->callback, "y#", buf, (Py_ssize_t)r);
            if (res == NULL)
                PyErr_Print();
            else
                Py_DECREF(res);
            PyGILState_Release(st);
        }
    }
    return NULL;
}

/* Watcher.start(): GIL held; pthread_create does not block. */
static PyObject *Watcher_start(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->started)
        Py_RETURN_NONE;
    if (pipe(self->wake_pipe) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    atomic_store(&self->stop, 0);
    if (pthread_create(&self->thread, NULL, watcher_thread_main, self) != 0) {
        close(self->wake_pipe[0]);
        close(self->wake_pipe[1]);
        PyErr_SetString(PyExc_RuntimeError, "cannot start watcher thread");
        return NULL;
    }
    self->started = 1;
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil tp_dealloc joins the watcher thread while holding the GIL; the thread may be blocked in PyGILState_Ensure
static void bad_Watcher_dealloc(WatcherObject *self)
{
    if (self->started) {
        atomic_store(&self->stop, 1);
        (void)!write(self->wake_pipe[1], "x", 1);
        pthread_join(self->thread, NULL);
        close(self->wake_pipe[0]);
        close(self->wake_pipe[1]);
        self->started = 0;
    }
    Py_CLEAR(self->callback);
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp); /* heap type */
}

// OK: tp_dealloc wakes the thread and joins it with the GIL released, then drops references with the GIL
static void ok_Watcher_dealloc(WatcherObject *self)
{
    if (self->started) {
        atomic_store(&self->stop, 1);
        Py_BEGIN_ALLOW_THREADS
        (void)!write(self->wake_pipe[1], "x", 1);
        pthread_join(self->thread, NULL);
        close(self->wake_pipe[0]);
        close(self->wake_pipe[1]);
        Py_END_ALLOW_THREADS
        self->started = 0;
    }
    Py_CLEAR(self->callback);
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp); /* heap type */
}

static PyMethodDef Watcher_methods[] = {
    {"start", (PyCFunction)Watcher_start, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Watcher_slots[] = {
    {Py_tp_dealloc, ok_Watcher_dealloc},
    {Py_tp_methods, Watcher_methods},
    {0, NULL},
};

static PyType_Slot LegacyWatcher_slots[] = {
    {Py_tp_dealloc, bad_Watcher_dealloc},
    {Py_tp_methods, Watcher_methods},
    {0, NULL},
};

PyType_Spec Watcher_spec = {"fswatch.Watcher", sizeof(WatcherObject), 0, Py_TPFLAGS_DEFAULT, Watcher_slots};
PyType_Spec LegacyWatcher_spec = {"fswatch._LegacyWatcher", sizeof(WatcherObject), 0, Py_TPFLAGS_DEFAULT,
                                  LegacyWatcher_slots};

/* ---- module state: libuv tick loop ------------------------------------ */

typedef struct {
    PyObject *on_tick; /* callable(), owned */
    uv_loop_t *loop;
    uv_timer_t *timer;
    uv_async_t *stop_async;
    pthread_t loop_thread;
    int loop_running;
} fswatch_state;

/* Loop thread: runs only libuv; Python is entered from the timer callback. */
static void *uv_loop_thread(void *arg)
{
    fswatch_state *st = arg;
    uv_run(st->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Async callback on the loop thread: pure libuv, no Python. */
static void on_stop_async(uv_async_t *h)
{
    fswatch_state *st = uv_handle_get_data((uv_handle_t *)h);
    uv_timer_stop(st->timer);
    uv_close((uv_handle_t *)st->timer, NULL);
    uv_close((uv_handle_t *)h, NULL);
}

// BAD: thread-entry-without-gil,api-without-gil libuv timer callback runs on the loop thread and calls Python without the GIL
static void bad_uv_on_tick(uv_timer_t *handle)
{
    fswatch_state *st = uv_handle_get_data((uv_handle_t *)handle);
    PyObject *r = PyObject_CallNoArgs(st->on_tick);
    if (r == NULL)
        PyErr_WriteUnraisable(st->on_tick);
    else
        Py_DECREF(r);
}

// OK: libuv timer callback takes the GIL with PyGILState_Ensure before calling Python
static void ok_uv_on_tick(uv_timer_t *handle)
{
    fswatch_state *st = uv_handle_get_data((uv_handle_t *)handle);
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(st->on_tick);
    if (r == NULL)
        PyErr_WriteUnraisable(st->on_tick);
    else
        Py_DECREF(r);
    PyGILState_Release(gs);
}

/* Called with the GIL held from fswatch.start_ticks(). */
int fswatch_start_ticks(fswatch_state *st, PyObject *on_tick, uint64_t period_ms, int legacy)
{
    Py_INCREF(on_tick);
    Py_XSETREF(st->on_tick, on_tick);
    st->loop = malloc(uv_loop_size());
    st->timer = malloc(uv_handle_size(UV_TIMER));
    st->stop_async = malloc(uv_handle_size(UV_ASYNC));
    if (!st->loop || !st->timer || !st->stop_async || uv_loop_init(st->loop) != 0)
        return -1;
    uv_timer_init(st->loop, st->timer);
    uv_handle_set_data((uv_handle_t *)st->timer, st);
    uv_async_init(st->loop, st->stop_async, on_stop_async);
    uv_handle_set_data((uv_handle_t *)st->stop_async, st);
    uv_timer_start(st->timer, legacy ? bad_uv_on_tick : ok_uv_on_tick, period_ms, period_ms);
    if (pthread_create(&st->loop_thread, NULL, uv_loop_thread, st) != 0)
        return -1;
    st->loop_running = 1;
    return 0;
}

// BAD: api-without-gil m_free drops the on_tick callback (Py_CLEAR) inside the allow-threads block used to stop the loop thread
static void bad_fswatch_free(void *module)
{
    fswatch_state *st = PyModule_GetState((PyObject *)module);
    if (st == NULL)
        return;
    Py_BEGIN_ALLOW_THREADS
    if (st->loop_running) {
        uv_async_send(st->stop_async);
        pthread_join(st->loop_thread, NULL);
        uv_loop_close(st->loop);
        st->loop_running = 0;
    }
    Py_CLEAR(st->on_tick);
    Py_END_ALLOW_THREADS
    free(st->timer);
    free(st->stop_async);
    free(st->loop);
}

// OK: m_free stops and joins the loop thread with the GIL released, then clears the callback after re-taking it
static void ok_fswatch_free(void *module)
{
    fswatch_state *st = PyModule_GetState((PyObject *)module);
    if (st == NULL)
        return;
    Py_BEGIN_ALLOW_THREADS
    if (st->loop_running) {
        uv_async_send(st->stop_async);
        pthread_join(st->loop_thread, NULL);
        uv_loop_close(st->loop);
        st->loop_running = 0;
    }
    Py_END_ALLOW_THREADS
    Py_CLEAR(st->on_tick);
    free(st->timer);
    free(st->stop_async);
    free(st->loop);
}

static struct PyModuleDef fswatch_module = {PyModuleDef_HEAD_INIT, "fswatch", NULL, sizeof(fswatch_state), NULL,
                                            NULL, NULL, NULL, ok_fswatch_free};

static struct PyModuleDef fswatch_legacy_module = {PyModuleDef_HEAD_INIT, "_fswatch_legacy", NULL,
                                                   sizeof(fswatch_state), NULL, NULL, NULL, NULL,
                                                   bad_fswatch_free};

PyMODINIT_FUNC PyInit_fswatch(void)
{
    PyObject *m = PyModule_Create(&fswatch_module);
    if (m == NULL)
        return NULL;
    PyObject *t = PyType_FromSpec(&Watcher_spec);
    if (t == NULL || PyModule_AddObject(m, "Watcher", t) < 0) {
        Py_XDECREF(t);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

PyMODINIT_FUNC PyInit__fswatch_legacy(void)
{
    PyObject *m = PyModule_Create(&fswatch_legacy_module);
    if (m == NULL)
        return NULL;
    PyObject *t = PyType_FromSpec(&LegacyWatcher_spec);
    if (t == NULL || PyModule_AddObject(m, "Watcher", t) < 0) {
        Py_XDECREF(t);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
