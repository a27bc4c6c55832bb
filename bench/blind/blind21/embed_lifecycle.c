/*
 * embed_host.c -- start-up / shut-down paths of an application that embeds
 * CPython 3.11 for scripting (think of a render farm agent or a game
 * server running Python plugins on a pool of native worker threads).
 * Each run_* style function below is one variant of the host's main().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_WORKERS 4

struct script_job {
    const char *code;
    int rc;
};

/* Not scored: native worker thread running one plugin script with the GIL. */
static void *
script_worker_main(void *arg)
{
    struct script_job *job = (struct script_job *)arg;
    PyGILState_STATE st = PyGILState_Ensure();
    job->rc = PyRun_SimpleString(job->code);
    PyGILState_Release(st);
    return NULL;
}

/* Not scored: C-only part of the host. */
extern void host_run_main_loop(void);
extern void host_wait_for_quit(void);

static atomic_int g_stop_telemetry;

/* Not scored: periodic telemetry pump; sleeps without the GIL, takes it per tick. */
static void *
telemetry_worker(void *arg)
{
    PyObject *probe = (PyObject *)arg;    /* owned reference */
    while (!atomic_load(&g_stop_telemetry)) {
        PyGILState_STATE st;
        PyObject *r;
        sleep(1);
        st = PyGILState_Ensure();
        r = PyObject_CallNoArgs(probe);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
        PyGILState_Release(st);
    }
    {
        PyGILState_STATE st = PyGILState_Ensure();
        Py_DECREF(probe);
        PyGILState_Release(st);
    }
    return NULL;
}

// BAD: finalize-without-gil main thread released the GIL with PyEval_SaveThread for the worker pool and calls Py_FinalizeEx without restoring it
int
bad_embed_finalize_after_save(int argc, char **argv)
{
    pthread_t tids[N_WORKERS];
    struct script_job jobs[N_WORKERS];
    PyThreadState *main_ts;
    int i;

    Py_Initialize();
    main_ts = PyEval_SaveThread();
    for (i = 0; i < N_WORKERS; i++) {
        jobs[i].code = i < argc ? argv[i] : "pass";
        pthread_create(&tids[i], NULL, script_worker_main, &jobs[i]);
    }
    for (i = 0; i < N_WORKERS; i++)
        pthread_join(tids[i], NULL);
    (void)main_ts;
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// OK: main releases the GIL for the worker pool, joins without it, then PyEval_RestoreThread before Py_FinalizeEx
int
ok_embed_finalize_after_restore(int argc, char **argv)
{
    pthread_t tids[N_WORKERS];
    struct script_job jobs[N_WORKERS];
    PyThreadState *main_ts;
    int i;

    Py_Initialize();
    main_ts = PyEval_SaveThread();
    for (i = 0; i < N_WORKERS; i++) {
        jobs[i].code = i < argc ? argv[i] : "pass";
        pthread_create(&tids[i], NULL, script_worker_main, &jobs[i]);
    }
    for (i = 0; i < N_WORKERS; i++)
        pthread_join(tids[i], NULL);
    PyEval_RestoreThread(main_ts);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// BAD: init-holds-gil,blocking-with-gil main keeps the GIL from Py_Initialize while starting workers that PyGILState_Ensure, then joins them still holding it (deadlock)
int
bad_embed_init_holds_gil(int argc, char **argv)
{
    pthread_t tids[N_WORKERS];
    struct script_job jobs[N_WORKERS];
    int i;

    Py_Initialize();
    PyRun_SimpleString("import plugins; plugins.load_all()");
    for (i = 0; i < N_WORKERS; i++) {
        jobs[i].code = i < argc ? argv[i] : "plugins.tick()";
        pthread_create(&tids[i], NULL, script_worker_main, &jobs[i]);
    }
    for (i = 0; i < N_WORKERS; i++)
        pthread_join(tids[i], NULL);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// BAD: deprecated-gil-api legacy start-up still calls PyEval_InitThreads (deprecated since 3.9, a no-op); the GIL handling is otherwise correct
int
bad_embed_legacy_init_threads(int argc, char **argv)
{
    pthread_t tids[N_WORKERS];
    struct script_job jobs[N_WORKERS];
    PyThreadState *ts;
    int i;

    Py_InitializeEx(0);
    PyEval_InitThreads();
    ts = PyEval_SaveThread();
    for (i = 0; i < N_WORKERS; i++) {
        jobs[i].code = i < argc ? argv[i] : "pass";
        pthread_create(&tids[i], NULL, script_worker_main, &jobs[i]);
    }
    for (i = 0; i < N_WORKERS; i++)
        pthread_join(tids[i], NULL);
    PyEval_RestoreThread(ts);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

struct daemon_app {
    sem_t quit;
    PyObject *shutdown_hooks;    /* list of callables */
};

// BAD: finalize-without-gil dedicated shutdown thread finalizes the interpreter and then calls PyGILState_Release on the state from the destroyed interpreter
static void *
bad_shutdown_thread_main(void *arg)
{
    struct daemon_app *app = (struct daemon_app *)arg;
    PyGILState_STATE st;
    Py_ssize_t i;

    while (sem_wait(&app->quit) < 0)
        ;                                   /* no GIL while waiting */
    st = PyGILState_Ensure();
    for (i = 0; i < PyList_GET_SIZE(app->shutdown_hooks); i++) {
        PyObject *r = PyObject_CallNoArgs(PyList_GET_ITEM(app->shutdown_hooks, i));
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
    }
    Py_CLEAR(app->shutdown_hooks);
    Py_FinalizeEx();
    PyGILState_Release(st);
    return NULL;
}

/* Not scored: the daemon's main thread starts the watcher with the GIL released. */
static int
start_shutdown_watcher(struct daemon_app *app, pthread_t *tid)
{
    return pthread_create(tid, NULL, bad_shutdown_thread_main, app);
}

/* ---- exit handlers ---------------------------------------------------- */

static PyObject *g_metrics_sink;   /* metrics.Sink instance */

// BAD: finalize-without-gil C atexit() handler runs after main() returned from Py_FinalizeEx and calls a method on a cached Python object
static void
bad_atexit_flush_metrics(void)
{
    PyObject *r;
    if (g_metrics_sink == NULL)
        return;
    r = PyObject_CallMethod(g_metrics_sink, "flush", NULL);
    Py_XDECREF(r);
    Py_CLEAR(g_metrics_sink);
}

/* Not scored: installs the C atexit handler. */
static int
metrics_install(void)
{
    PyObject *mod = PyImport_ImportModule("metrics");
    if (mod == NULL)
        return -1;
    g_metrics_sink = PyObject_CallMethod(mod, "Sink", NULL);
    Py_DECREF(mod);
    if (g_metrics_sink == NULL)
        return -1;
    return atexit(bad_atexit_flush_metrics);
}

/* Not scored: variant of main() using the metrics sink. */
int
run_metrics_app(void)
{
    Py_Initialize();
    if (metrics_install() < 0)
        PyErr_Print();
    PyRun_SimpleString("import app; app.main()");
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

static int g_log_fd = -1;
static char *g_log_ring;

// OK: Py_AtExit cleanup runs at the very end of Py_FinalizeEx and touches only C state (fd and malloc'ed ring buffer), no Python API
static void
ok_py_atexit_close_log(void)
{
    if (g_log_fd >= 0) {
        fsync(g_log_fd);
        close(g_log_fd);
        g_log_fd = -1;
    }
    free(g_log_ring);
    g_log_ring = NULL;
}

/* Not scored */
static int
log_install(const char *path)
{
    g_log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    g_log_ring = calloc(1, 1 << 16);
    return Py_AtExit(ok_py_atexit_close_log);
}

static PyObject *g_pending_uploads;   /* list */

// OK: Python-level atexit callback (registered through atexit.register) runs inside Py_FinalizeEx with the GIL held and the interpreter still alive
static PyObject *
ok_flush_on_exit(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    if (g_pending_uploads != NULL && PyList_GET_SIZE(g_pending_uploads) > 0) {
        PyObject *r = PyObject_CallMethod(g_pending_uploads, "clear", NULL);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    Py_CLEAR(g_pending_uploads);
    Py_RETURN_NONE;
}

static PyMethodDef flush_def = {"_flush_on_exit", ok_flush_on_exit, METH_NOARGS, NULL};

/* Not scored */
static int
register_exit_flush(void)
{
    PyObject *atexit_mod, *fn, *r;
    atexit_mod = PyImport_ImportModule("atexit");
    if (atexit_mod == NULL)
        return -1;
    fn = PyCFunction_New(&flush_def, NULL);
    r = fn ? PyObject_CallMethod(atexit_mod, "register", "O", fn) : NULL;
    Py_XDECREF(fn);
    Py_DECREF(atexit_mod);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

// BAD: finalize-without-gil Py_FinalizeEx while the detached telemetry thread is still looping in PyGILState_Ensure / PyObject_CallNoArgs (it is never told to stop or joined)
int
bad_embed_shutdown_with_live_worker(void)
{
    pthread_t tid;
    PyObject *probe;
    PyThreadState *ts;

    Py_Initialize();
    probe = PySys_GetObject("getallocatedblocks");   /* borrowed */
    Py_XINCREF(probe);
    if (probe == NULL)
        return 1;
    ts = PyEval_SaveThread();
    pthread_create(&tid, NULL, telemetry_worker, probe);
    pthread_detach(tid);
    host_run_main_loop();
    PyEval_RestoreThread(ts);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// OK: telemetry thread is stopped and joined with the GIL released before the main thread restores its state and finalizes
int
ok_embed_shutdown_stops_worker(void)
{
    pthread_t tid;
    PyObject *probe;
    PyThreadState *ts;

    Py_Initialize();
    if (log_install("/var/log/agent/python.log") < 0 || register_exit_flush() < 0)
        PyErr_Print();
    probe = PySys_GetObject("getallocatedblocks");
    Py_XINCREF(probe);
    if (probe == NULL)
        return 1;
    atomic_store(&g_stop_telemetry, 0);
    ts = PyEval_SaveThread();
    pthread_create(&tid, NULL, telemetry_worker, probe);
    host_run_main_loop();
    atomic_store(&g_stop_telemetry, 1);
    pthread_join(tid, NULL);
    PyEval_RestoreThread(ts);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// OK: dedicated scripting thread owns the whole interpreter lifetime: initializes, runs and finalizes on the same thread while holding the GIL throughout
static void *
ok_embed_dedicated_python_thread(void *arg)
{
    const char *boot = (const char *)arg;
    Py_InitializeEx(0);
    if (PyRun_SimpleString(boot) != 0)
        fprintf(stderr, "boot script failed\n");
    Py_FinalizeEx();
    return NULL;
}

/* Not scored: host main for the dedicated-thread variant (never touches Python). */
int
run_with_script_thread(const char *boot)
{
    pthread_t tid;
    if (pthread_create(&tid, NULL, ok_embed_dedicated_python_thread, (void *)boot) != 0)
        return 1;
    host_wait_for_quit();
    pthread_join(tid, NULL);
    return 0;
}

/* ---- legacy extension module shipped with the host -------------------- */

// BAD: deprecated-gil-api module set-up calls PyEval_ThreadsInitialized/PyEval_InitThreads, both deprecated since 3.9
static int
bad_legacy_module_setup(PyObject *m)
{
    if (!PyEval_ThreadsInitialized())
        PyEval_InitThreads();
    return PyModule_AddIntConstant(m, "HOST_API_VERSION", 7);
}

static struct PyModuleDef hostmod = {
    PyModuleDef_HEAD_INIT, "_host", NULL, -1, NULL, NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__host(void)
{
    PyObject *m = PyModule_Create(&hostmod);
    if (m == NULL)
        return NULL;
    if (bad_legacy_module_setup(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* Not scored: keeps start_shutdown_watcher referenced. */
int
run_daemon_watcher(struct daemon_app *app)
{
    pthread_t tid;
    return start_shutdown_watcher(app, &tid);
}
