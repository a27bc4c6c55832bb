/*
 * _dirwatch: a type that owns a native polling thread which reports
 * changes to a Python callback, plus module state with a background
 * flusher.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <sys/stat.h>

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    int running;
    atomic_int stop;
    char path[1024];
    PyObject *callback;
    PyObject *weakreflist;
} Watcher;

static void *
watch_loop(void *arg)
{
    Watcher *w = (Watcher *)arg;
    struct stat prev = {0}, cur;
    while (!atomic_load(&w->stop)) {
        if (stat(w->path, &cur) == 0 && cur.st_mtime != prev.st_mtime) {
            prev = cur;
            PyGILState_STATE st = PyGILState_Ensure();
            PyObject *r = PyObject_CallFunction(w->callback, "s", w->path);
            if (r == NULL)
                PyErr_WriteUnraisable(w->callback);
            Py_XDECREF(r);
            PyGILState_Release(st);
        }
        usleep(200000);
    }
    return NULL;
}

// BAD: blocking-with-gil  tp_dealloc joins the polling thread with the GIL held, but that thread may be waiting in PyGILState_Ensure
static void
bad_watcher_dealloc(Watcher *self)
{
    PyObject_GC_UnTrack(self);
    if (self->running) {
        atomic_store(&self->stop, 1);
        pthread_join(self->thread, NULL);
        self->running = 0;
    }
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    Py_CLEAR(self->callback);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

// OK: tp_dealloc releases the GIL only around pthread_join and frees Python members after re-acquiring it
static void
ok_watcher_dealloc(Watcher *self)
{
    PyObject_GC_UnTrack(self);
    if (self->running) {
        pthread_t th = self->thread;
        atomic_store(&self->stop, 1);
        Py_BEGIN_ALLOW_THREADS
        pthread_join(th, NULL);
        Py_END_ALLOW_THREADS
        self->running = 0;
    }
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    Py_CLEAR(self->callback);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

// BAD: api-without-gil  tp_dealloc drops the callback reference inside the allow-threads block used for the join
static void
bad_watcher_dealloc_fast(Watcher *self)
{
    PyObject_GC_UnTrack(self);
    PyObject *cb = self->callback;
    self->callback = NULL;
    Py_BEGIN_ALLOW_THREADS
    if (self->running) {
        atomic_store(&self->stop, 1);
        pthread_join(self->thread, NULL);
        self->running = 0;
    }
    Py_XDECREF(cb);
    Py_END_ALLOW_THREADS
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- module state with a flusher thread ---- */

typedef struct {
    pthread_t flusher;
    int flusher_started;
    atomic_int stop;
    PyObject *pending;      /* list of paths */
    PyObject *sink;         /* callable(list) */
} dirwatch_state;

static void *
flusher_main(void *arg)
{
    dirwatch_state *st = (dirwatch_state *)arg;
    while (!atomic_load(&st->stop)) {
        sleep(1);
        PyGILState_STATE g = PyGILState_Ensure();
        if (st->sink != NULL && PyList_GET_SIZE(st->pending) > 0) {
            PyObject *r = PyObject_CallOneArg(st->sink, st->pending);
            Py_XDECREF(r);
            PyErr_Clear();
            PyList_SetSlice(st->pending, 0, PY_SSIZE_T_MAX, NULL);
        }
        PyGILState_Release(g);
    }
    return NULL;
}

// BAD: api-without-gil  m_free releases the GIL to join the flusher and clears the module's Python objects before re-acquiring it
static void
bad_dirwatch_free(void *module)
{
    dirwatch_state *st = PyModule_GetState((PyObject *)module);
    if (st == NULL)
        return;
    PyThreadState *ts = PyEval_SaveThread();
    if (st->flusher_started) {
        atomic_store(&st->stop, 1);
        pthread_join(st->flusher, NULL);
        st->flusher_started = 0;
    }
    Py_CLEAR(st->pending);
    Py_CLEAR(st->sink);
    PyEval_RestoreThread(ts);
}

// OK: m_free stops and joins the flusher with the GIL released, then clears Python objects with the GIL held
static void
ok_dirwatch_free(void *module)
{
    dirwatch_state *st = PyModule_GetState((PyObject *)module);
    if (st == NULL)
        return;
    if (st->flusher_started) {
        atomic_store(&st->stop, 1);
        Py_BEGIN_ALLOW_THREADS
        pthread_join(st->flusher, NULL);
        Py_END_ALLOW_THREADS
        st->flusher_started = 0;
    }
    Py_CLEAR(st->pending);
    Py_CLEAR(st->sink);
}

// BAD: finalize-without-gil  m_free signals the flusher to stop but never joins it, so it can still call PyGILState_Ensure while the interpreter is torn down
static void
bad_dirwatch_free_detached(void *module)
{
    dirwatch_state *st = PyModule_GetState((PyObject *)module);
    if (st == NULL)
        return;
    if (st->flusher_started) {
        atomic_store(&st->stop, 1);
        pthread_detach(st->flusher);
        st->flusher_started = 0;
    }
    Py_CLEAR(st->pending);
    Py_CLEAR(st->sink);
}

static int
dirwatch_exec(PyObject *m)
{
    dirwatch_state *st = PyModule_GetState(m);
    st->pending = PyList_New(0);
    if (st->pending == NULL)
        return -1;
    if (pthread_create(&st->flusher, NULL, flusher_main, st) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot start flusher");
        return -1;
    }
    st->flusher_started = 1;
    return 0;
}

static PyModuleDef_Slot dirwatch_slots[] = {
    {Py_mod_exec, dirwatch_exec},
    {0, NULL}
};

static struct PyModuleDef dirwatch_def = {
    PyModuleDef_HEAD_INIT, "_dirwatch", NULL, sizeof(dirwatch_state),
    NULL, dirwatch_slots, NULL, NULL, ok_dirwatch_free,
};

static struct PyModuleDef dirwatch_fast_def = {
    PyModuleDef_HEAD_INIT, "_dirwatch_fast", NULL, sizeof(dirwatch_state),
    NULL, dirwatch_slots, NULL, NULL, bad_dirwatch_free,
};

static struct PyModuleDef dirwatch_legacy_def = {
    PyModuleDef_HEAD_INIT, "_dirwatch_legacy", NULL, sizeof(dirwatch_state),
    NULL, dirwatch_slots, NULL, NULL, bad_dirwatch_free_detached,
};

PyTypeObject WatcherType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_dirwatch.Watcher",
    .tp_basicsize = sizeof(Watcher),
    .tp_dealloc = (destructor)ok_watcher_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_weaklistoffset = offsetof(Watcher, weakreflist),
};

PyTypeObject WatcherFastType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_dirwatch.FastWatcher",
    .tp_basicsize = sizeof(Watcher),
    .tp_dealloc = (destructor)bad_watcher_dealloc_fast,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
};

PyTypeObject WatcherLegacyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_dirwatch.LegacyWatcher",
    .tp_basicsize = sizeof(Watcher),
    .tp_dealloc = (destructor)bad_watcher_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
};

PyMODINIT_FUNC PyInit__dirwatch(void) { return PyModuleDef_Init(&dirwatch_def); }
PyMODINIT_FUNC PyInit__dirwatch_fast(void) { return PyModuleDef_Init(&dirwatch_fast_def); }
PyMODINIT_FUNC PyInit__dirwatch_legacy(void) { return PyModuleDef_Init(&dirwatch_legacy_def); }
