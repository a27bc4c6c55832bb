/*
 * _batcher.c -- request batching core of a model-serving package.  Python
 * threads submit requests; native pthread workers pre-process them through
 * a Python callable and publish metrics.  The interesting part is the
 * ordering between the GIL and the pthread mutexes used here.
 *
 * Lock usage summary:
 *   g_q.mu          queue_worker_main takes the GIL WHILE holding it
 *   g_result.mu     never held while taking the GIL
 *   g_counters_mu   leaf lock: no thread takes the GIL while holding it
 *   g_metrics_mu    metrics_record takes the GIL WHILE holding it
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define QCAP 256

struct job_queue {
    pthread_mutex_t mu;
    pthread_cond_t nonempty;
    PyObject *items[QCAP];
    int head, tail, count;
    int closed;
    PyObject *preprocess;     /* callable(item) */
};

static struct job_queue g_q = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0, 0, NULL
};

static pthread_mutex_t g_counters_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned long submitted, processed, failed;
} g_counters;

/* Not scored: worker pops under g_q.mu and runs the Python pre-processor
 * while still holding g_q.mu (so the queue order equals processing order). */
static void *
queue_worker_main(void *arg)
{
    (void)arg;
    for (;;) {
        PyObject *item, *r;
        PyGILState_STATE st;
        int failed;

        pthread_mutex_lock(&g_q.mu);
        while (g_q.count == 0 && !g_q.closed)
            pthread_cond_wait(&g_q.nonempty, &g_q.mu);
        if (g_q.count == 0) {
            pthread_mutex_unlock(&g_q.mu);
            break;
        }
        item = g_q.items[g_q.head];
        g_q.head = (g_q.head + 1) % QCAP;
        g_q.count--;

        st = PyGILState_Ensure();
        r = PyObject_CallOneArg(g_q.preprocess, item);
        failed = (r == NULL);
        if (failed)
            PyErr_Print();
        Py_XDECREF(r);
        Py_DECREF(item);
        PyGILState_Release(st);
        pthread_mutex_unlock(&g_q.mu);

        pthread_mutex_lock(&g_counters_mu);
        g_counters.processed++;
        if (failed)
            g_counters.failed++;
        pthread_mutex_unlock(&g_counters_mu);
    }
    return NULL;
}

// BAD: blocking-with-gil submit() locks g_q.mu with the GIL held, while queue_worker_main holds g_q.mu and waits in PyGILState_Ensure (lock-order deadlock)
static PyObject *
bad_queue_push(PyObject *self, PyObject *item)
{
    int full;
    (void)self;
    Py_INCREF(item);
    pthread_mutex_lock(&g_q.mu);
    full = (g_q.count == QCAP);
    if (!full) {
        g_q.items[g_q.tail] = item;
        g_q.tail = (g_q.tail + 1) % QCAP;
        g_q.count++;
        pthread_cond_signal(&g_q.nonempty);
    }
    pthread_mutex_unlock(&g_q.mu);
    if (full) {
        Py_DECREF(item);
        PyErr_SetString(PyExc_OverflowError, "batch queue full");
        return NULL;
    }
    Py_RETURN_NONE;
}

// OK: takes the reference with the GIL, then releases the GIL before locking g_q.mu; only the PyObject* pointer is stored under the lock
static PyObject *
ok_queue_push_released(PyObject *self, PyObject *item)
{
    int full;
    (void)self;
    Py_INCREF(item);
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&g_q.mu);
    full = (g_q.count == QCAP);
    if (!full) {
        g_q.items[g_q.tail] = item;
        g_q.tail = (g_q.tail + 1) % QCAP;
        g_q.count++;
        pthread_cond_signal(&g_q.nonempty);
    }
    pthread_mutex_unlock(&g_q.mu);
    if (!full) {
        pthread_mutex_lock(&g_counters_mu);
        g_counters.submitted++;
        pthread_mutex_unlock(&g_counters_mu);
    }
    Py_END_ALLOW_THREADS
    if (full) {
        Py_DECREF(item);
        PyErr_SetString(PyExc_OverflowError, "batch queue full");
        return NULL;
    }
    Py_RETURN_NONE;
}

// OK: g_counters_mu is a leaf lock held only for a few C assignments and never while acquiring the GIL, so locking it with the GIL held cannot deadlock
static PyObject *
ok_stats_snapshot_leaf_mutex(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    unsigned long submitted, processed, failed;
    (void)self;
    pthread_mutex_lock(&g_counters_mu);
    submitted = g_counters.submitted;
    processed = g_counters.processed;
    failed = g_counters.failed;
    pthread_mutex_unlock(&g_counters_mu);
    return Py_BuildValue("{s:k,s:k,s:k}", "submitted", submitted,
                         "processed", processed, "failed", failed);
}

/* ---- synchronous result hand-off ------------------------------------- */

struct pending_result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    double input;
    PyObject *value;
};

static struct pending_result g_result = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0.0, NULL
};

/* Not scored: computes in C, takes the GIL to box the value, then signals. */
static void *
compute_thread_main(void *arg)
{
    struct pending_result *pr = (struct pending_result *)arg;
    double x = pr->input, acc = 0.0;
    PyGILState_STATE st;
    PyObject *v;
    int i;

    for (i = 1; i <= 1000000; i++)
        acc += x / (double)i;
    st = PyGILState_Ensure();
    v = PyFloat_FromDouble(acc);
    PyGILState_Release(st);

    pthread_mutex_lock(&pr->mu);
    pr->value = v;
    pr->done = 1;
    pthread_cond_signal(&pr->cv);
    pthread_mutex_unlock(&pr->mu);
    return NULL;
}

/* Not scored */
static PyObject *
start_compute(PyObject *self, PyObject *arg)
{
    pthread_t tid;
    (void)self;
    g_result.input = PyFloat_AsDouble(arg);
    if (PyErr_Occurred())
        return NULL;
    g_result.done = 0;
    g_result.value = NULL;
    if (pthread_create(&tid, NULL, compute_thread_main, &g_result) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    pthread_detach(tid);
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil waits on g_result.cv with the GIL held; the producer must take the GIL (PyGILState_Ensure) before it can signal
static PyObject *
bad_wait_result(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *v;
    (void)self;
    pthread_mutex_lock(&g_result.mu);
    while (!g_result.done)
        pthread_cond_wait(&g_result.cv, &g_result.mu);
    v = g_result.value;
    g_result.value = NULL;
    pthread_mutex_unlock(&g_result.mu);
    if (v == NULL)
        return PyErr_NoMemory();
    return v;
}

// OK: the condition wait runs inside Py_BEGIN_ALLOW_THREADS; the result reference is handed over after the GIL is back
static PyObject *
ok_wait_result(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *v;
    (void)self;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&g_result.mu);
    while (!g_result.done)
        pthread_cond_wait(&g_result.cv, &g_result.mu);
    v = g_result.value;
    g_result.value = NULL;
    pthread_mutex_unlock(&g_result.mu);
    Py_END_ALLOW_THREADS
    if (v == NULL)
        return PyErr_NoMemory();
    return v;
}

/* ---- metrics --------------------------------------------------------- */

static pthread_mutex_t g_metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static PyObject *g_metrics;          /* dict, guarded by g_metrics_mu */
static struct {
    double latency_sum;
    unsigned long batches;
} g_metric_totals;                   /* guarded by g_metrics_mu */
static PyObject *g_exporter;         /* callable(batches, mean_latency) */
static atomic_int g_running = 1;

/* Not scored: Python method; releases the GIL to take g_metrics_mu, then
 * re-acquires the GIL while holding g_metrics_mu to update the dict. */
static PyObject *
metrics_record(PyObject *self, PyObject *args)
{
    const char *name;
    double latency;
    PyObject *v;
    (void)self;
    if (!PyArg_ParseTuple(args, "sd", &name, &latency))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&g_metrics_mu);
    g_metric_totals.latency_sum += latency;
    g_metric_totals.batches++;
    Py_BLOCK_THREADS
    v = PyFloat_FromDouble(latency);
    if (v != NULL) {
        PyDict_SetItemString(g_metrics, name, v);
        Py_DECREF(v);
    }
    Py_UNBLOCK_THREADS
    pthread_mutex_unlock(&g_metrics_mu);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil flusher thread takes the GIL first and then blocks on g_metrics_mu, which metrics_record holds while waiting for the GIL
static void *
bad_stats_worker_flush(void *arg)
{
    (void)arg;
    while (atomic_load(&g_running)) {
        PyGILState_STATE st;
        sleep(5);
        st = PyGILState_Ensure();
        pthread_mutex_lock(&g_metrics_mu);
        PyDict_Clear(g_metrics);
        g_metric_totals.latency_sum = 0.0;
        g_metric_totals.batches = 0;
        pthread_mutex_unlock(&g_metrics_mu);
        PyGILState_Release(st);
    }
    return NULL;
}

// OK: exporter thread copies the C totals under g_metrics_mu without the GIL, unlocks, and only then takes the GIL to call the Python exporter
static void *
ok_export_worker_main(void *arg)
{
    (void)arg;
    while (atomic_load(&g_running)) {
        double sum;
        unsigned long batches;
        PyGILState_STATE st;
        PyObject *r;

        sleep(10);
        pthread_mutex_lock(&g_metrics_mu);
        sum = g_metric_totals.latency_sum;
        batches = g_metric_totals.batches;
        pthread_mutex_unlock(&g_metrics_mu);

        st = PyGILState_Ensure();
        r = PyObject_CallFunction(g_exporter, "kd", batches,
                                  batches ? sum / (double)batches : 0.0);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
        PyGILState_Release(st);
    }
    return NULL;
}

/* Not scored: starts the native threads (GIL held; pthread_create does not block). */
static PyObject *
batcher_start(PyObject *self, PyObject *args)
{
    PyObject *pre, *exporter;
    pthread_t t1, t2, t3;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &pre, &exporter))
        return NULL;
    Py_INCREF(pre);
    Py_INCREF(exporter);
    g_q.preprocess = pre;
    g_exporter = exporter;
    g_metrics = PyDict_New();
    if (g_metrics == NULL)
        return NULL;
    pthread_create(&t1, NULL, queue_worker_main, NULL);
    pthread_create(&t2, NULL, bad_stats_worker_flush, NULL);
    pthread_create(&t3, NULL, ok_export_worker_main, NULL);
    pthread_detach(t1);
    pthread_detach(t2);
    pthread_detach(t3);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"start", batcher_start, METH_VARARGS, NULL},
    {"submit_fast", bad_queue_push, METH_O, NULL},
    {"submit", ok_queue_push_released, METH_O, NULL},
    {"stats", ok_stats_snapshot_leaf_mutex, METH_NOARGS, NULL},
    {"start_compute", start_compute, METH_O, NULL},
    {"wait_result_fast", bad_wait_result, METH_NOARGS, NULL},
    {"wait_result", ok_wait_result, METH_NOARGS, NULL},
    {"record", metrics_record, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef batcher_module = {
    PyModuleDef_HEAD_INIT, "_batcher", NULL, -1, module_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__batcher(void)
{
    return PyModule_Create(&batcher_module);
}
