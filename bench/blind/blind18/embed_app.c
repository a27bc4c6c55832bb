/*
 * reportd: a daemon that embeds CPython to run user report plugins on a
 * pool of native worker threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

#define NWORKERS 4

static pthread_t g_workers[NWORKERS];
static volatile sig_atomic_t g_stop;
static PyThreadState *g_main_ts;
static char *g_report_dir;
static FILE *g_audit;
static PyObject *g_plugin;

static void *
report_worker(void *arg)
{
    long idx = (long)arg;
    while (!g_stop) {
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallMethod(g_plugin, "run_once", "l", idx);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
        PyGILState_Release(st);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int
start_workers(void)
{
    for (long i = 0; i < NWORKERS; i++)
        if (pthread_create(&g_workers[i], NULL, report_worker, (void *)i) != 0)
            return -1;
    /* main thread gives up the GIL so that the workers can run */
    g_main_ts = PyEval_SaveThread();
    return 0;
}

static void
join_workers(void)
{
    g_stop = 1;
    for (int i = 0; i < NWORKERS; i++)
        pthread_join(g_workers[i], NULL);
}

// BAD: finalize-without-gil  calls Py_FinalizeEx while the main thread state is still saved (GIL not held) after start_workers
static int bad_shutdown_no_restore(void)
{
    join_workers();
    if (Py_FinalizeEx() < 0) {
        fprintf(stderr, "reportd: errors during finalization\n");
        return 120;
    }
    return 0;
}

// OK: joins the workers with the GIL released, restores the main thread state, then finalizes
static int ok_shutdown(void)
{
    join_workers();
    PyEval_RestoreThread(g_main_ts);
    g_main_ts = NULL;
    Py_CLEAR(g_plugin);
    if (Py_FinalizeEx() < 0) {
        fprintf(stderr, "reportd: errors during finalization\n");
        return 120;
    }
    return 0;
}

// BAD: finalize-without-gil  re-acquires the GIL and finalizes while the report workers are still running and calling PyGILState_Ensure
static int bad_shutdown_workers_alive(void)
{
    g_stop = 1;                       /* workers are not joined */
    PyEval_RestoreThread(g_main_ts);
    g_main_ts = NULL;
    Py_CLEAR(g_plugin);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// BAD: finalize-without-gil  Py_AtExit cleanup runs after the interpreter is finalized but still calls Python APIs
static void bad_atexit_dump_stats(void)
{
    PyObject *stats = PyObject_CallMethod(g_plugin, "stats", NULL);
    if (stats != NULL) {
        PyObject_Print(stats, stderr, 0);
        Py_DECREF(stats);
    }
    Py_CLEAR(g_plugin);
}

// OK: Py_AtExit cleanup only releases C resources (file, malloc'd path) and makes no Python call
static void ok_atexit_close_audit(void)
{
    if (g_audit != NULL) {
        fputs("reportd: interpreter finalized\n", g_audit);
        fclose(g_audit);
        g_audit = NULL;
    }
    free(g_report_dir);
    g_report_dir = NULL;
}

// BAD: finalize-without-gil  libc atexit handler runs after main returned (and after Py_FinalizeEx) and ensures the GIL to log
static void bad_libc_atexit_log(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *logging = PyImport_ImportModule("logging");
    if (logging != NULL) {
        PyObject *r = PyObject_CallMethod(logging, "shutdown", NULL);
        Py_XDECREF(r);
        Py_DECREF(logging);
    }
    PyErr_Clear();
    PyGILState_Release(st);
}

// BAD: finalize-without-gil,release-without-ensure  admin "shutdown" callback finalizes the interpreter from a worker and then releases its GIL state afterwards
static void bad_admin_shutdown_cb(void *ctx)
{
    (void)ctx;
    PyGILState_STATE st = PyGILState_Ensure();
    PyRun_SimpleString("import sys; sys.stdout.flush()");
    Py_FinalizeEx();
    PyGILState_Release(st);
}

typedef void (*admin_cb)(void *);
int admin_socket_on(const char *cmd, admin_cb cb, void *ctx);   /* runs cb on the admin thread */

// BAD: deprecated-gil-api  initialization still calls PyEval_InitThreads (deprecated since 3.9, a no-op)
static int bad_init_interpreter(const char *plugin_name)
{
    Py_InitializeEx(0);
    PyEval_InitThreads();
    PyObject *mod = PyImport_ImportModule(plugin_name);
    if (mod == NULL) {
        PyErr_Print();
        return -1;
    }
    g_plugin = PyObject_CallMethod(mod, "Plugin", NULL);
    Py_DECREF(mod);
    if (g_plugin == NULL) {
        PyErr_Print();
        return -1;
    }
    return 0;
}

// OK: modern initialization with PyConfig; the GIL is held by the main thread right after Py_InitializeFromConfig
static int ok_init_interpreter(const char *plugin_name, const char *home)
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.home, home);
    if (PyStatus_Exception(status))
        goto fail;
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status))
        goto fail;
    PyConfig_Clear(&config);

    PyObject *mod = PyImport_ImportModule(plugin_name);
    g_plugin = mod ? PyObject_CallMethod(mod, "Plugin", NULL) : NULL;
    Py_XDECREF(mod);
    if (g_plugin == NULL) {
        PyErr_Print();
        return -1;
    }
    return 0;
fail:
    PyConfig_Clear(&config);
    fprintf(stderr, "reportd: %s\n", status.err_msg ? status.err_msg : "init failed");
    return -1;
}

int
main(int argc, char **argv)
{
    const char *plugin = argc > 1 ? argv[1] : "reports";
    int legacy = getenv("REPORTD_LEGACY") != NULL;
    g_report_dir = strdup("/var/lib/reportd");
    g_audit = fopen("/var/log/reportd/audit.log", "a");
    atexit(bad_libc_atexit_log);
    if ((legacy ? bad_init_interpreter(plugin) : ok_init_interpreter(plugin, "/opt/reportd/python")) < 0)
        return 1;
    Py_AtExit(ok_atexit_close_audit);
    Py_AtExit(bad_atexit_dump_stats);
    admin_socket_on("shutdown", bad_admin_shutdown_cb, NULL);
    if (start_workers() < 0)
        return 1;
    pause();
    if (getenv("REPORTD_FAST_EXIT"))
        return bad_shutdown_workers_alive();
    if (legacy)
        return bad_shutdown_no_restore();
    return ok_shutdown();
}
