/*
 * embed_host_main.c -- "scenery" batch / interactive host that embeds CPython.
 *
 * The host runs user scene scripts (scenery_hooks.py) from a small pool of
 * worker threads.  Workers always take the GIL with PyGILState_Ensure(), so
 * the main thread has to give the GIL up after Py_Initialize() and take it
 * back before Py_FinalizeEx().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WORKERS 8

struct script_job {
    const char *module;
    const char *func;
    int frame;
};

struct host {
    pthread_t workers[MAX_WORKERS];
    int nworkers;
    struct script_job jobs[MAX_WORKERS];
    pthread_t console;
    atomic_int stop;
    sem_t quit_sem;
    int verbose;
    PyThreadState *main_ts; /* main thread state, saved while workers run */
};

struct render_thread_arg {
    PyInterpreterState *interp;
    int tile;
};

/* Requires the GIL. */
static void report_py_error(const char *where)
{
    fprintf(stderr, "scenery: python error in %s\n", where);
    PyErr_Print();
}

/* Requires the GIL. */
static int call_script_function(const struct script_job *job)
{
    PyObject *mod = PyImport_ImportModule(job->module);
    if (mod == NULL) {
        report_py_error(job->module);
        return -1;
    }
    PyObject *res = PyObject_CallMethod(mod, job->func, "i", job->frame);
    Py_DECREF(mod);
    if (res == NULL) {
        report_py_error(job->func);
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* Requires the GIL. */
static int setup_sys_path(const char *dir)
{
    PyObject *sys_path = PySys_GetObject("path"); /* borrowed */
    if (sys_path == NULL)
        return -1;
    PyObject *d = PyUnicode_FromString(dir);
    if (d == NULL)
        return -1;
    int rc = PyList_Insert(sys_path, 0, d);
    Py_DECREF(d);
    return rc;
}

/* Worker entry: takes the GIL itself for the duration of one job. */
static void *script_worker(void *arg)
{
    struct script_job *job = arg;
    PyGILState_STATE st = PyGILState_Ensure();
    call_script_function(job);
    PyGILState_Release(st);
    return NULL;
}

/* Ticker entry: runs scenery_hooks.tick() every 10 ms until h->stop is set. */
static void *script_ticker(void *arg)
{
    struct host *h = arg;
    const struct timespec period = {0, 10 * 1000 * 1000};
    while (!atomic_load(&h->stop)) {
        PyGILState_STATE st = PyGILState_Ensure();
        if (PyRun_SimpleString("import scenery_hooks\nscenery_hooks.tick()\n") != 0)
            atomic_store(&h->stop, 1);
        PyGILState_Release(st);
        nanosleep(&period, NULL);
    }
    return NULL;
}

/* Pure C. */
static int start_tickers(struct host *h, int n)
{
    h->nworkers = 0;
    for (int i = 0; i < n && i < MAX_WORKERS; i++) {
        if (pthread_create(&h->workers[i], NULL, script_ticker, h) != 0)
            break;
        h->nworkers++;
    }
    return h->nworkers;
}

/* Pure C, blocking: callers must not hold the GIL. */
static void join_workers(struct host *h)
{
    for (int i = 0; i < h->nworkers; i++)
        pthread_join(h->workers[i], NULL);
    h->nworkers = 0;
}

// BAD: init-holds-gil,blocking-with-gil main thread keeps the GIL it got from Py_Initialize while joining workers that PyGILState_Ensure
int bad_host_run_batch(struct host *h, const char *module, int frames)
{
    Py_Initialize();
    if (setup_sys_path("scripts") < 0) {
        report_py_error("sys.path");
        Py_FinalizeEx();
        return 1;
    }

    h->nworkers = 0;
    for (int i = 0; i < frames && i < MAX_WORKERS; i++) {
        h->jobs[i].module = module;
        h->jobs[i].func = "render_frame";
        h->jobs[i].frame = i;
        if (pthread_create(&h->workers[i], NULL, script_worker, &h->jobs[i]) != 0)
            break;
        h->nworkers++;
    }
    for (int i = 0; i < h->nworkers; i++)
        pthread_join(h->workers[i], NULL);
    h->nworkers = 0;

    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// OK: saves the main thread state after init, joins workers without the GIL, restores before Py_FinalizeEx
int ok_host_run_batch(struct host *h, const char *module, int frames)
{
    Py_Initialize();
    if (setup_sys_path("scripts") < 0) {
        report_py_error("sys.path");
        Py_FinalizeEx();
        return 1;
    }

    PyThreadState *main_ts = PyEval_SaveThread();
    h->nworkers = 0;
    for (int i = 0; i < frames && i < MAX_WORKERS; i++) {
        h->jobs[i].module = module;
        h->jobs[i].func = "render_frame";
        h->jobs[i].frame = i;
        if (pthread_create(&h->workers[i], NULL, script_worker, &h->jobs[i]) != 0)
            break;
        h->nworkers++;
    }
    join_workers(h);
    PyEval_RestoreThread(main_ts);

    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// OK: console thread runs commands under Ensure/Release and only signals the main thread to shut down
static void *ok_console_thread(void *arg)
{
    struct host *h = arg;
    char line[512];
    int quit = 0;

    while (!quit && fgets(line, sizeof line, stdin) != NULL) {
        PyGILState_STATE st = PyGILState_Ensure();
        if (strncmp(line, ":quit", 5) == 0) {
            PyRun_SimpleString("import scenery_hooks\nscenery_hooks.on_quit()\n");
            quit = 1;
        } else if (PyRun_SimpleString(line) != 0) {
            fprintf(stderr, "scenery: command failed\n");
        }
        PyGILState_Release(st);
    }
    sem_post(&h->quit_sem);
    return NULL;
}

// BAD: finalize-without-gil main thread state is still saved by PyEval_SaveThread when Py_FinalizeEx runs
int bad_host_run_interactive(struct host *h, int ntickers)
{
    Py_InitializeEx(0);
    if (setup_sys_path("scripts") < 0)
        report_py_error("sys.path");
    if (sem_init(&h->quit_sem, 0, 0) != 0) {
        Py_FinalizeEx();
        return 1;
    }
    atomic_store(&h->stop, 0);
    h->main_ts = PyEval_SaveThread();

    start_tickers(h, ntickers);
    int have_console = pthread_create(&h->console, NULL, ok_console_thread, h) == 0;
    if (!have_console)
        sem_post(&h->quit_sem);

    while (sem_wait(&h->quit_sem) != 0 && errno == EINTR)
        ;
    atomic_store(&h->stop, 1);
    join_workers(h);
    if (have_console)
        pthread_join(h->console, NULL);

    if (h->verbose) {
        PyEval_RestoreThread(h->main_ts);
        PyRun_SimpleString("import scenery_hooks\nscenery_hooks.print_stats()\n");
        h->main_ts = PyEval_SaveThread();
    }
    sem_destroy(&h->quit_sem);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// OK: same interactive loop, but the saved main thread state is restored before Py_FinalizeEx
int ok_host_run_interactive(struct host *h, int ntickers)
{
    Py_InitializeEx(0);
    if (setup_sys_path("scripts") < 0)
        report_py_error("sys.path");
    if (sem_init(&h->quit_sem, 0, 0) != 0) {
        Py_FinalizeEx();
        return 1;
    }
    atomic_store(&h->stop, 0);
    h->main_ts = PyEval_SaveThread();

    start_tickers(h, ntickers);
    int have_console = pthread_create(&h->console, NULL, ok_console_thread, h) == 0;
    if (!have_console)
        sem_post(&h->quit_sem);

    while (sem_wait(&h->quit_sem) != 0 && errno == EINTR)
        ;
    atomic_store(&h->stop, 1);
    join_workers(h);
    if (have_console)
        pthread_join(h->console, NULL);

    PyEval_RestoreThread(h->main_ts);
    h->main_ts = NULL;
    if (h->verbose)
        PyRun_SimpleString("import scenery_hooks\nscenery_hooks.print_stats()\n");
    sem_destroy(&h->quit_sem);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// BAD: finalize-without-gil ticker threads are only detached, so they can still be inside Ensure/PyRun when Py_FinalizeEx runs
int bad_host_shutdown_plugins(struct host *h)
{
    /* Called on the main thread; h->main_ts was saved by the boot code. */
    atomic_store(&h->stop, 1);
    for (int i = 0; i < h->nworkers; i++)
        pthread_detach(h->workers[i]);
    h->nworkers = 0;

    PyEval_RestoreThread(h->main_ts);
    h->main_ts = NULL;
    PyRun_SimpleString("import scenery_hooks\nscenery_hooks.unload_all()\n");
    return Py_FinalizeEx();
}

// OK: stops and joins the tickers while the main state is still saved, then restores it (saved in another function) and finalizes
int ok_host_shutdown_plugins(struct host *h)
{
    atomic_store(&h->stop, 1);
    join_workers(h);

    PyEval_RestoreThread(h->main_ts);
    h->main_ts = NULL;
    PyRun_SimpleString("import scenery_hooks\nscenery_hooks.unload_all()\n");
    return Py_FinalizeEx();
}

// BAD: finalize-without-gil console thread calls Py_FinalizeEx from a non-main thread inside PyGILState_Ensure
static void *bad_console_thread(void *arg)
{
    struct host *h = arg;
    char line[512];

    while (fgets(line, sizeof line, stdin) != NULL) {
        PyGILState_STATE st = PyGILState_Ensure();
        if (strncmp(line, ":quit", 5) == 0) {
            PyRun_SimpleString("import scenery_hooks\nscenery_hooks.on_quit()\n");
            atomic_store(&h->stop, 1);
            Py_FinalizeEx();
            exit(0);
        }
        if (PyRun_SimpleString(line) != 0)
            fprintf(stderr, "scenery: command failed\n");
        PyGILState_Release(st);
    }
    return NULL;
}

// OK: thread creates its own PyThreadState, takes the GIL with PyEval_AcquireThread and drops it via PyThreadState_DeleteCurrent
static void *ok_render_thread_own_tstate(void *arg)
{
    struct render_thread_arg *ra = arg;
    PyThreadState *ts = PyThreadState_New(ra->interp);
    if (ts == NULL)
        return NULL;

    PyEval_AcquireThread(ts);
    PyObject *mod = PyImport_ImportModule("scenery_hooks");
    if (mod != NULL) {
        PyObject *r = PyObject_CallMethod(mod, "render_tile", "i", ra->tile);
        Py_XDECREF(r);
        Py_DECREF(mod);
    }
    if (PyErr_Occurred())
        PyErr_Print();
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
    return NULL;
}

/* Called with the GIL held: starts one render thread per tile. */
int host_start_render_threads(struct host *h, struct render_thread_arg *args, int ntiles)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    h->nworkers = 0;
    for (int i = 0; i < ntiles && i < MAX_WORKERS; i++) {
        args[i].interp = interp;
        args[i].tile = i;
        if (pthread_create(&h->workers[i], NULL, ok_render_thread_own_tstate, &args[i]) != 0)
            break;
        h->nworkers++;
    }
    return h->nworkers;
}

// OK: main thread whose state is parked in h->main_ts re-enters Python through PyGILState_Ensure
int ok_host_reload_scripts(struct host *h)
{
    /* Runs on the main thread between frames, while h->main_ts is saved. */
    (void)h;
    PyGILState_STATE st = PyGILState_Ensure();
    int rc = PyRun_SimpleString("import importlib, scenery_hooks\n"
                                "importlib.reload(scenery_hooks)\n");
    PyGILState_Release(st);
    return rc;
}

// BAD: deprecated-gil-api legacy PyEval_ThreadsInitialized/PyEval_InitThreads dance (deprecated since 3.9)
void bad_host_enable_threads(struct host *h)
{
    /* Called with the GIL held right after Py_Initialize(). */
    if (!PyEval_ThreadsInitialized())
        PyEval_InitThreads();
    atomic_store(&h->stop, 0);
    h->nworkers = 0;
    h->main_ts = NULL;
}

/* keep the console variants referenced for the two front-ends */
void *(*const scenery_console_entries[2])(void *) = {ok_console_thread, bad_console_thread};
