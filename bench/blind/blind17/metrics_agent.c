/* metrics_agent.c - magent: a metrics agent whose collectors are Python plugins.
 *
 * main() starts Python, loads the collectors from magent.collectors.discover(),
 * gives the GIL up (run_agent) and runs one thread per collector plus a
 * watchdog.  SIGTERM/SIGINT are blocked in every thread and taken with
 * sigwait() by the main thread, which then stops and joins the collectors and
 * shuts Python down (agent_shutdown).  Samples that could not be sent are
 * spooled to a file that is uploaded at the next start, or at exit.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_COLLECTORS 16

struct collector {
    char name[64];
    PyObject *fn;            /* callable returning a list of (metric, value) */
    unsigned interval_ms;
    pthread_t thread;
    int started;
};

struct agent {
    struct collector col[MAX_COLLECTORS];
    int ncol;
    int watchdog_secs;
    pthread_t watchdog;
    int watchdog_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    time_t last_beat;
};

static struct agent g_agent = {
    .watchdog_secs = 60,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER,
};
static PyObject *g_collectors;   /* magent.collectors, kept for the life of the process */
static PyObject *g_sink;         /* collectors.make_sink() */
static FILE *g_spool;
static char g_spool_path[4096];
static time_t g_started_at;

/* ------------------------------------------------------------------ helpers */

/* Waits up to ms for a stop request; returns 1 when the agent is stopping. */
static int agent_wait_interval(struct agent *ag, unsigned ms)
{
    struct timespec until;
    int stopping;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ag->mu);
    while (!ag->stop && pthread_cond_timedwait(&ag->cv, &ag->mu, &until) == 0)
        ;
    stopping = ag->stop;
    pthread_mutex_unlock(&ag->mu);
    return stopping;
}

static void heartbeat(struct agent *ag)
{
    pthread_mutex_lock(&ag->mu);
    ag->last_beat = time(NULL);
    pthread_mutex_unlock(&ag->mu);
}

/* GIL held, an exception set: append it to the spool file and clear it. */
static void spool_error(const char *collector)
{
    PyObject *type, *value, *tb, *text;
    const char *msg;
    PyErr_Fetch(&type, &value, &tb);
    text = value != NULL ? PyObject_Str(value) : NULL;
    msg = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    if (g_spool != NULL)
        fprintf(g_spool, "%ld error %s %s\n", (long)time(NULL), collector, msg ? msg : "?");
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static void *collector_main(void *arg)
{
    struct collector *c = arg;
    while (!agent_wait_interval(&g_agent, c->interval_ms)) {
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *samples = PyObject_CallNoArgs(c->fn);
        if (samples != NULL) {
            PyObject *r = PyObject_CallMethod(g_sink, "write", "sO", c->name, samples);
            Py_XDECREF(r);
            Py_DECREF(samples);
        }
        if (PyErr_Occurred())
            spool_error(c->name);
        PyGILState_Release(st);
        heartbeat(&g_agent);
    }
    return NULL;
}

/* Asks the collectors to stop and joins the first n; no GIL needed. */
static void stop_collectors(struct agent *ag, int n)
{
    int i;
    pthread_mutex_lock(&ag->mu);
    ag->stop = 1;
    pthread_cond_broadcast(&ag->cv);
    pthread_mutex_unlock(&ag->mu);
    for (i = 0; i < n; i++) {
        if (ag->col[i].started) {
            pthread_join(ag->col[i].thread, NULL);
            ag->col[i].started = 0;
        }
    }
    if (ag->watchdog_started) {
        pthread_join(ag->watchdog, NULL);
        ag->watchdog_started = 0;
    }
}

static int add_sys_path(const char *dir)
{
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    PyObject *entry;
    int rc;
    if (path == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is missing");
        return -1;
    }
    entry = PyUnicode_DecodeFSDefault(dir);
    if (entry == NULL)
        return -1;
    rc = PyList_Insert(path, 0, entry);
    Py_DECREF(entry);
    return rc;
}

/* GIL held: fills ag->col from collectors.discover(). */
static int load_collectors(struct agent *ag)
{
    PyObject *found = PyObject_CallMethod(g_collectors, "discover", NULL);
    Py_ssize_t i, n;
    if (found == NULL)
        return -1;
    if (!PyList_Check(found)) {
        PyErr_SetString(PyExc_TypeError, "discover() must return a list");
        Py_DECREF(found);
        return -1;
    }
    n = PyList_GET_SIZE(found);
    for (i = 0; i < n && ag->ncol < MAX_COLLECTORS; i++) {
        struct collector *c = &ag->col[ag->ncol];
        const char *name;
        PyObject *fn;
        unsigned int interval;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(found, i), "sOI", &name, &fn, &interval)) {
            Py_DECREF(found);
            return -1;
        }
        snprintf(c->name, sizeof c->name, "%s", name);
        Py_INCREF(fn);
        c->fn = fn;
        c->interval_ms = interval ? interval : 10000;
        ag->ncol++;
    }
    Py_DECREF(found);
    return 0;
}

static int open_spool(const char *path)
{
    snprintf(g_spool_path, sizeof g_spool_path, "%s", path);
    g_spool = fopen(g_spool_path, "a");
    if (g_spool == NULL) {
        fprintf(stderr, "magent: %s: %s\n", g_spool_path, strerror(errno));
        g_spool_path[0] = '\0';
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ exit handlers */

// BAD: finalize-without-gil,api-without-gil registered with atexit(): runs after main() returns, i.e. after agent_shutdown() finalized the interpreter, and still calls into magent.collectors
static void upload_spool_at_exit(void)
{
    struct stat sb;
    PyObject *r;
    if (g_collectors == NULL || g_spool_path[0] == '\0')
        return;
    if (stat(g_spool_path, &sb) != 0 || sb.st_size == 0)
        return;
    r = PyObject_CallMethod(g_collectors, "upload_spool", "s", g_spool_path);
    if (r == NULL) {
        fprintf(stderr, "magent: spool upload failed, keeping %s\n", g_spool_path);
        PyErr_Clear();
        return;
    }
    Py_DECREF(r);
    unlink(g_spool_path);
}

// BAD: finalize-without-gil,api-without-gil a Py_AtExit handler runs at the very end of Py_FinalizeEx, when the interpreter is gone, yet it writes through sys.stderr
static void report_shutdown(void)
{
    time_t up = time(NULL) - g_started_at;
    char uptime[32];
    int i, stopped = 0;
    for (i = 0; i < g_agent.ncol; i++)
        if (g_agent.col[i].fn == NULL)
            stopped++;
    snprintf(uptime, sizeof uptime, "%ldh%02ldm", (long)(up / 3600), (long)(up % 3600) / 60);
    PySys_WriteStderr("magent: stopped %d of %d collectors after %s\n",
                      stopped, g_agent.ncol, uptime);
}

// OK: a Py_AtExit handler that only flushes, closes and maybe removes the C spool file; it uses no Python API
static void close_spool_file(void)
{
    long size;
    if (g_spool == NULL)
        return;
    if (fflush(g_spool) != 0 || ferror(g_spool))
        fprintf(stderr, "magent: spool write error: %s\n", strerror(errno));
    size = ftell(g_spool);
    fclose(g_spool);
    g_spool = NULL;
    if (size == 0 && g_spool_path[0] != '\0') {
        unlink(g_spool_path);
        g_spool_path[0] = '\0';
    }
}

// OK: registered through Python's atexit.register(), so it runs inside Py_FinalizeEx with the GIL held and the interpreter still alive
static PyObject *mag_flush_on_exit(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyObject *r;
    if (g_sink == NULL)
        Py_RETURN_NONE;
    r = PyObject_CallMethod(g_sink, "flush", NULL);
    if (r == NULL)
        PyErr_WriteUnraisable(g_sink);   /* the close below must still run */
    Py_XDECREF(r);
    r = PyObject_CallMethod(g_sink, "close", NULL);
    Py_CLEAR(g_sink);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyMethodDef mag_exit_def = {
    "_magent_flush_on_exit", mag_flush_on_exit, METH_NOARGS, "flush the metrics sink",
};

static int register_python_atexit(void)
{
    PyObject *mod, *fn, *r = NULL;
    mod = PyImport_ImportModule("atexit");
    if (mod == NULL)
        return -1;
    fn = PyCFunction_New(&mag_exit_def, NULL);
    if (fn != NULL)
        r = PyObject_CallMethod(mod, "register", "O", fn);
    Py_XDECREF(fn);
    Py_DECREF(mod);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* ------------------------------------------------------------------ lifetime */

// BAD: finalize-without-gil,thread-entry-without-gil the watchdog thread never takes the GIL, yet calls Py_FinalizeEx when the collectors stall
static void *watchdog_main(void *arg)
{
    struct agent *ag = arg;
    pthread_mutex_lock(&ag->mu);
    while (!ag->stop) {
        struct timespec until;
        int rc;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ag->watchdog_secs;
        rc = pthread_cond_timedwait(&ag->cv, &ag->mu, &until);
        if (rc == ETIMEDOUT && !ag->stop && time(NULL) - ag->last_beat > ag->watchdog_secs) {
            pthread_mutex_unlock(&ag->mu);
            fprintf(stderr, "magent: no collector finished a round in %ds, giving up\n",
                    ag->watchdog_secs);
            Py_FinalizeEx();   /* run the sinks' atexit hooks before leaving */
            _exit(3);
        }
    }
    pthread_mutex_unlock(&ag->mu);
    return NULL;
}

// OK: the failure paths call Py_FinalizeEx while still holding the GIL that Py_InitializeFromConfig gave this thread; success keeps it for the caller
static int bootstrap_python(const char *plugin_dir, struct agent *ag)
{
    PyConfig config;
    PyStatus status;

    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;   /* signals are taken with sigwait() */
    status = PyConfig_SetBytesString(&config, &config.program_name, "magent");
    if (PyStatus_Exception(status))
        goto config_error;
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status))
        goto config_error;
    PyConfig_Clear(&config);

    if (add_sys_path(plugin_dir) < 0)
        goto py_error;
    g_collectors = PyImport_ImportModule("magent.collectors");
    if (g_collectors == NULL)
        goto py_error;
    g_sink = PyObject_CallMethod(g_collectors, "make_sink", NULL);
    if (g_sink == NULL || load_collectors(ag) < 0)
        goto py_error;
    return 0;

py_error:
    PyErr_Print();
    Py_CLEAR(g_sink);
    Py_CLEAR(g_collectors);
    Py_FinalizeEx();
    return -1;
config_error:
    PyConfig_Clear(&config);
    fprintf(stderr, "magent: cannot start Python: %s\n",
            status.err_msg ? status.err_msg : "unknown error");
    return -1;
}

// BAD: finalize-without-gil the pthread_create failure path calls Py_FinalizeEx after PyEval_SaveThread gave the GIL up
static int run_agent(struct agent *ag, PyThreadState **main_ts, const sigset_t *sigs)
{
    int i, err, sig = 0;

    ag->last_beat = time(NULL);
    *main_ts = PyEval_SaveThread();
    for (i = 0; i < ag->ncol; i++) {
        err = pthread_create(&ag->col[i].thread, NULL, collector_main, &ag->col[i]);
        if (err != 0) {
            fprintf(stderr, "magent: cannot start collector %s: %s\n",
                    ag->col[i].name, strerror(err));
            stop_collectors(ag, i);
            Py_FinalizeEx();
            return -1;
        }
        ag->col[i].started = 1;
    }
    if (pthread_create(&ag->watchdog, NULL, watchdog_main, ag) == 0)
        ag->watchdog_started = 1;

    while (sigwait(sigs, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
        ;
    fprintf(stderr, "magent: signal %d, stopping\n", sig);
    stop_collectors(ag, ag->ncol);
    return 0;
}

// OK: re-attaches the main thread state saved by run_agent with PyEval_RestoreThread before dropping references and calling Py_FinalizeEx
static int agent_shutdown(PyThreadState *main_ts)
{
    int i, rc = 0;
    PyEval_RestoreThread(main_ts);
    for (i = 0; i < g_agent.ncol; i++)
        Py_CLEAR(g_agent.col[i].fn);
    if (g_sink != NULL) {
        /* normally flushed by the atexit hook inside Py_FinalizeEx; say so if it is still pending */
        PyObject *pending = PyObject_GetAttrString(g_sink, "pending");
        if (pending == NULL)
            PyErr_Clear();
        else if (PyObject_IsTrue(pending) == 1)
            fprintf(stderr, "magent: flushing pending samples\n");
        Py_XDECREF(pending);
        PyErr_Clear();
    }
    if (Py_FinalizeEx() < 0)
        rc = 120;
    return rc;
}

int main(int argc, char **argv)
{
    const char *plugin_dir = argc > 1 ? argv[1] : "/usr/lib/magent/collectors";
    const char *spool = argc > 2 ? argv[2] : "/var/spool/magent/pending";
    PyThreadState *main_ts = NULL;
    sigset_t sigs;

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);   /* inherited by every thread */
    g_started_at = time(NULL);

    if (open_spool(spool) < 0)
        return 1;
    if (bootstrap_python(plugin_dir, &g_agent) < 0)
        return 1;
    Py_AtExit(close_spool_file);
    Py_AtExit(report_shutdown);
    atexit(upload_spool_at_exit);
    if (register_python_atexit() < 0)
        PyErr_Print();
    if (run_agent(&g_agent, &main_ts, &sigs) < 0)
        return 1;
    return agent_shutdown(main_ts);
}
