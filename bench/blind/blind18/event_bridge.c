/*
 * evbridge: glue between a native event bus (C library, own threads) and
 * Python subscribers.  Several entry points may be called both from Python
 * (GIL held) and from bus threads (no GIL).
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

static PyObject *g_logger;          /* logging.Logger or NULL */
static PyObject *g_subscribers;     /* dict topic -> list of callables */

// OK: takes the GIL only when the caller does not already hold it, and releases under the same saved condition
void ok_bridge_log(const char *msg)
{
    int need_gil = !PyGILState_Check();
    PyGILState_STATE st = PyGILState_UNLOCKED;
    if (need_gil)
        st = PyGILState_Ensure();
    if (g_logger != NULL) {
        PyObject *r = PyObject_CallMethod(g_logger, "info", "s", msg);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    if (need_gil)
        PyGILState_Release(st);
}

// OK: Python warning only when PyGILState_Check() says this thread holds the GIL; otherwise plain stderr
void ok_bridge_warn(const char *what, int code)
{
    if (PyGILState_Check()) {
        if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "evbridge: %s (%d)", what, code) < 0)
            PyErr_Clear();
    } else {
        fprintf(stderr, "evbridge: %s (%d)\n", what, code);
    }
}

typedef struct {
    int shared;                 /* object is visible to other native threads */
    PyThreadState *parked;      /* where a shared object parks its thread state */
    char path[512];
    long bytes;
} spool;

// OK: the thread state is saved into one of two slots chosen by a flag and restored from that same slot
static PyObject *
ok_spool_flush(spool *sp)
{
    PyThreadState *local_ts = NULL;
    PyThreadState **slot = sp->shared ? &sp->parked : &local_ts;
    int fd, rc = 0;

    *slot = PyEval_SaveThread();
    fd = open(sp->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        rc = -1;
    if (fd >= 0)
        close(fd);
    PyEval_RestoreThread(*slot);
    *slot = NULL;
    if (rc < 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, sp->path);
    return PyLong_FromLong(sp->bytes);
}

typedef struct {
    const char *topic;
    const void *payload;
    size_t len;
} bus_event;

// OK: bus-thread callback with several error exits, all of which goto the single cleanup label that releases the GIL
static int ok_on_bus_event(const bus_event *ev, void *ctx)
{
    PyObject *topic = NULL, *payload = NULL, *subs = NULL;
    int rc = -1;
    (void)ctx;
    PyGILState_STATE st = PyGILState_Ensure();

    topic = PyUnicode_FromString(ev->topic);
    if (topic == NULL)
        goto cleanup;
    subs = PyDict_GetItemWithError(g_subscribers, topic);
    if (subs == NULL) {
        rc = PyErr_Occurred() ? -1 : 0;
        goto cleanup;
    }
    Py_INCREF(subs);
    payload = PyBytes_FromStringAndSize(ev->payload, (Py_ssize_t)ev->len);
    if (payload == NULL)
        goto cleanup;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(subs); i++) {
        PyObject *r = PyObject_CallFunctionObjArgs(PyList_GET_ITEM(subs, i), topic, payload, NULL);
        if (r == NULL)
            goto cleanup;
        Py_DECREF(r);
    }
    rc = 0;
cleanup:
    if (rc < 0 && PyErr_Occurred())
        PyErr_WriteUnraisable(topic);
    Py_XDECREF(payload);
    Py_XDECREF(subs);
    Py_XDECREF(topic);
    PyGILState_Release(st);
    return rc;
}

typedef int (*bus_handler)(const bus_event *, void *);
int bus_subscribe(const char *pattern, bus_handler fn, void *ctx);

// OK: validates the event and returns before PyGILState_Ensure; after Ensure the single exit releases
static int ok_on_bus_control(const bus_event *ev, void *ctx)
{
    if (ev == NULL || ev->topic == NULL)
        return -1;
    if (strncmp(ev->topic, "ctl.", 4) != 0)
        return 0;                        /* not ours, no Python needed */
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "s", ev->topic + 4);
    int rc = r ? 0 : -1;
    if (r == NULL)
        PyErr_WriteUnraisable((PyObject *)ctx);
    Py_XDECREF(r);
    PyGILState_Release(st);
    return rc;
}

PyObject *
evbridge_subscribe(PyObject *mod, PyObject *args)
{
    const char *pattern; PyObject *ctl = NULL;
    if (!PyArg_ParseTuple(args, "s|O", &pattern, &ctl))
        return NULL;
    int rc = ctl ? bus_subscribe("ctl.*", ok_on_bus_control, Py_NewRef(ctl))
                 : bus_subscribe(pattern, ok_on_bus_event, NULL);
    (void)mod;
    if (rc != 0) {
        PyErr_SetString(PyExc_RuntimeError, "bus_subscribe failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

// OK: reads each file with the GIL released and re-acquires before every Python call, including on the `continue` paths
static PyObject *
ok_checksum_files(PyObject *mod, PyObject *paths)
{
    PyObject *out = PyDict_New();
    if (out == NULL)
        return NULL;
    Py_ssize_t n = PyList_Size(paths);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PyList_GetItem(paths, i);
        const char *path = p ? PyUnicode_AsUTF8(p) : NULL;
        if (path == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        Py_INCREF(p);
        unsigned long sum = 0;
        int fd;
        Py_BEGIN_ALLOW_THREADS
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            unsigned char buf[8192];
            ssize_t got;
            while ((got = read(fd, buf, sizeof buf)) > 0)
                for (ssize_t k = 0; k < got; k++)
                    sum = (sum * 31u) ^ buf[k];
            close(fd);
        }
        Py_END_ALLOW_THREADS
        if (fd < 0) {
            Py_DECREF(p);
            continue;                    /* unreadable: skip */
        }
        PyObject *v = PyLong_FromUnsignedLong(sum);
        if (v == NULL || PyDict_SetItem(out, p, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(p);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(v);
        Py_DECREF(p);
    }
    (void)mod;
    return out;
}

static sem_t g_ready;

// OK: waits in 100 ms slices with the GIL released and checks for signals with the GIL re-acquired between slices
static PyObject *
ok_wait_ready(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    int rc, err;
    for (;;) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += 100 * 1000 * 1000;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
        Py_BEGIN_ALLOW_THREADS
        rc = sem_timedwait(&g_ready, &deadline);
        err = rc < 0 ? errno : 0;
        Py_END_ALLOW_THREADS
        if (rc == 0)
            break;
        if (err != ETIMEDOUT && err != EINTR) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    (void)mod;
    Py_RETURN_TRUE;
}

typedef struct {
    PyInterpreterState *interp;
    PyObject *task;              /* strong reference taken by the creator */
} isolated_job;

// OK: thread entry creates its own PyThreadState and takes the GIL with PyEval_AcquireThread before any Python call
static void *ok_isolated_worker(void *arg)
{
    isolated_job *job = (isolated_job *)arg;
    PyThreadState *ts = PyThreadState_New(job->interp);
    if (ts == NULL)
        return NULL;
    PyEval_AcquireThread(ts);
    PyObject *r = PyObject_CallNoArgs(job->task);
    if (r == NULL)
        PyErr_WriteUnraisable(job->task);
    Py_XDECREF(r);
    Py_DECREF(job->task);
    PyThreadState_Clear(ts);
    PyEval_ReleaseThread(ts);
    PyThreadState_Delete(ts);
    PyMem_RawFree(job);
    return NULL;
}

PyObject *
evbridge_spawn(PyObject *mod, PyObject *task)
{
    pthread_t th;
    isolated_job *job = PyMem_RawMalloc(sizeof *job);
    if (job == NULL)
        return PyErr_NoMemory();
    job->interp = PyInterpreterState_Get();
    job->task = Py_NewRef(task);
    if (pthread_create(&th, NULL, ok_isolated_worker, job) != 0) {
        Py_DECREF(task);
        PyMem_RawFree(job);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pthread_detach(th);
    (void)mod;
    Py_RETURN_NONE;
}

static PyMethodDef evbridge_methods[] = {
    {"checksum_files", ok_checksum_files, METH_O, NULL},
    {"wait_ready", ok_wait_ready, METH_NOARGS, NULL},
    {"subscribe", evbridge_subscribe, METH_VARARGS, NULL},
    {"spawn", evbridge_spawn, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};
static struct PyModuleDef evbridge_module = {PyModuleDef_HEAD_INIT, "evbridge", NULL, -1, evbridge_methods};
PyMODINIT_FUNC PyInit_evbridge(void) { return PyModule_Create(&evbridge_module); }
