/*
 * lock_order_queue.c -- "jobq" extension module: Python submits callables to
 * a C job queue drained by native worker threads, which take the GIL to run
 * each job.  The queue mutex and the GIL must never be waited for in
 * opposite orders.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NWORKERS 4

struct job {
    struct job *next;
    PyObject *fn;   /* owned */
    PyObject *args; /* owned, may be NULL */
    long id;
};

struct jobq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    int closing;
    long next_id;
    pthread_t threads[NWORKERS];
    int nthreads;
    pthread_mutex_t done_mu;
    pthread_cond_t done_cv;
    atomic_long submitted;
    atomic_long completed;
};

static struct jobq g_q = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER,
    .done_mu = PTHREAD_MUTEX_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
};

struct registry_entry {
    char name[64];
    PyObject *handler; /* owned */
    int in_use;
};

#define REG_SLOTS 32
static struct {
    pthread_mutex_t mu; /* always taken with the GIL already held */
    struct registry_entry e[REG_SLOTS];
} g_reg = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct {
    pthread_mutex_t mu; /* taken only without the GIL, or via trylock */
    long long runs, failures;
} g_stats = {.mu = PTHREAD_MUTEX_INITIALIZER};
static long long g_cached_runs, g_cached_failures;

/* Requires the GIL. */
static struct job *new_job(PyObject *fn, PyObject *args)
{
    struct job *j = malloc(sizeof *j);
    if (j == NULL)
        return NULL;
    j->next = NULL;
    j->id = 0;
    Py_INCREF(fn);
    j->fn = fn;
    Py_XINCREF(args);
    j->args = args;
    return j;
}

/* Requires the GIL.  Runs and frees the job; returns 0 on success. */
static int run_job_with_gil(struct job *j)
{
    PyObject *r = PyObject_CallObject(j->fn, j->args);
    int rc = 0;
    if (r == NULL) {
        PyErr_Print();
        rc = -1;
    } else {
        Py_DECREF(r);
    }
    Py_DECREF(j->fn);
    Py_XDECREF(j->args);
    free(j);
    return rc;
}

/* Pure C; called without the GIL. */
static void mark_completed(struct jobq *q, int failed)
{
    pthread_mutex_lock(&g_stats.mu);
    g_stats.runs++;
    if (failed)
        g_stats.failures++;
    pthread_mutex_unlock(&g_stats.mu);

    pthread_mutex_lock(&q->done_mu);
    atomic_fetch_add(&q->completed, 1);
    pthread_cond_broadcast(&q->done_cv);
    pthread_mutex_unlock(&q->done_mu);
}

/* Pure C; caller holds q->mu. */
static void queue_append(struct jobq *q, struct job *j)
{
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

/* Pure C; caller holds q->mu. */
static struct job *queue_pop(struct jobq *q)
{
    struct job *j = q->head;
    if (j != NULL) {
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
    }
    return j;
}

// BAD: blocking-with-gil locks g_q.mu while holding the GIL; bad_jobq_worker holds g_q.mu while waiting for the GIL
static PyObject *bad_jobq_submit(PyObject *self, PyObject *args)
{
    PyObject *fn, *fargs = NULL;
    long id;
    (void)self;
    if (!PyArg_ParseTuple(args, "O|O!", &fn, &PyTuple_Type, &fargs))
        return NULL;
    struct job *j = new_job(fn, fargs);
    if (j == NULL)
        return PyErr_NoMemory();

    pthread_mutex_lock(&g_q.mu);
    id = j->id = ++g_q.next_id;
    queue_append(&g_q, j);
    atomic_fetch_add(&g_q.submitted, 1);
    pthread_cond_signal(&g_q.cv);
    pthread_mutex_unlock(&g_q.mu);

    return PyLong_FromLong(id);
}

// BAD: blocking-with-gil worker calls PyGILState_Ensure while still holding g_q.mu (lock-order inversion with bad_jobq_submit)
static void *bad_jobq_worker(void *arg)
{
    struct jobq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->head == NULL && !q->closing)
            pthread_cond_wait(&q->cv, &q->mu);
        struct job *j = queue_pop(q);
        if (j == NULL)
            break;
        PyGILState_STATE st = PyGILState_Ensure();
        int failed = run_job_with_gil(j) < 0;
        PyGILState_Release(st);
        mark_completed(q, failed);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

// OK: job is prepared with the GIL, then the GIL is released before g_q.mu is taken; the critical section is pure C
static PyObject *ok_jobq_submit(PyObject *self, PyObject *args)
{
    PyObject *fn, *fargs = NULL;
    long id;
    (void)self;
    if (!PyArg_ParseTuple(args, "O|O!", &fn, &PyTuple_Type, &fargs))
        return NULL;
    struct job *j = new_job(fn, fargs);
    if (j == NULL)
        return PyErr_NoMemory();

    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&g_q.mu);
    id = j->id = ++g_q.next_id;
    queue_append(&g_q, j);
    atomic_fetch_add(&g_q.submitted, 1);
    pthread_cond_signal(&g_q.cv);
    pthread_mutex_unlock(&g_q.mu);
    Py_END_ALLOW_THREADS

    return PyLong_FromLong(id);
}

// OK: worker pops under g_q.mu, unlocks, and only then takes the GIL to run the job
static void *ok_jobq_worker(void *arg)
{
    struct jobq *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->head == NULL && !q->closing)
            pthread_cond_wait(&q->cv, &q->mu);
        struct job *j = queue_pop(q);
        pthread_mutex_unlock(&q->mu);
        if (j == NULL)
            break;

        PyGILState_STATE st = PyGILState_Ensure();
        int failed = run_job_with_gil(j) < 0;
        PyGILState_Release(st);
        mark_completed(q, failed);
    }
    return NULL;
}

// BAD: blocking-with-gil waits on done_cv while holding the GIL, but workers need the GIL to complete jobs
static PyObject *bad_jobq_wait_all(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    long target = atomic_load(&g_q.submitted);
    pthread_mutex_lock(&g_q.done_mu);
    while (atomic_load(&g_q.completed) < target)
        pthread_cond_wait(&g_q.done_cv, &g_q.done_mu);
    pthread_mutex_unlock(&g_q.done_mu);
    Py_RETURN_NONE;
}

// OK: the condition-variable wait happens with the GIL released
static PyObject *ok_jobq_wait_all(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    long target = atomic_load(&g_q.submitted);
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&g_q.done_mu);
    while (atomic_load(&g_q.completed) < target)
        pthread_cond_wait(&g_q.done_cv, &g_q.done_mu);
    pthread_mutex_unlock(&g_q.done_mu);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// OK: takes g_reg.mu with the GIL held; every holder of g_reg.mu holds the GIL and runs no Python inside, so there is one lock order
static PyObject *ok_registry_register(PyObject *self, PyObject *args)
{
    const char *name;
    PyObject *handler, *old = NULL;
    int slot = -1;
    (void)self;
    if (!PyArg_ParseTuple(args, "sO", &name, &handler))
        return NULL;
    if (!PyCallable_Check(handler)) {
        PyErr_SetString(PyExc_TypeError, "handler must be callable");
        return NULL;
    }
    if (strlen(name) >= sizeof g_reg.e[0].name) {
        PyErr_SetString(PyExc_ValueError, "name too long");
        return NULL;
    }

    Py_INCREF(handler);
    pthread_mutex_lock(&g_reg.mu);
    for (int i = 0; i < REG_SLOTS; i++) {
        if (g_reg.e[i].in_use && strcmp(g_reg.e[i].name, name) == 0) {
            slot = i;
            break;
        }
        if (!g_reg.e[i].in_use && slot < 0)
            slot = i;
    }
    if (slot >= 0) {
        old = g_reg.e[slot].in_use ? g_reg.e[slot].handler : NULL;
        g_reg.e[slot].handler = handler;
        strcpy(g_reg.e[slot].name, name);
        g_reg.e[slot].in_use = 1;
    }
    pthread_mutex_unlock(&g_reg.mu);

    Py_XDECREF(old); /* may run arbitrary finalizers: only after unlocking */
    if (slot < 0) {
        Py_DECREF(handler);
        PyErr_SetString(PyExc_OverflowError, "registry full");
        return NULL;
    }
    Py_RETURN_NONE;
}

// OK: native-thread dispatch takes the GIL first and g_reg.mu second (same order as ok_registry_register); Python runs after unlocking
int ok_registry_dispatch(const char *name, const char *payload)
{
    PyObject *handler = NULL;
    int rc = -1;

    PyGILState_STATE st = PyGILState_Ensure();
    pthread_mutex_lock(&g_reg.mu);
    for (int i = 0; i < REG_SLOTS; i++) {
        if (g_reg.e[i].in_use && strcmp(g_reg.e[i].name, name) == 0) {
            handler = g_reg.e[i].handler;
            Py_INCREF(handler);
            break;
        }
    }
    pthread_mutex_unlock(&g_reg.mu);

    if (handler != NULL) {
        PyObject *r = PyObject_CallFunction(handler, "s", payload);
        if (r != NULL) {
            rc = 0;
            Py_DECREF(r);
        } else {
            PyErr_Print();
        }
        Py_DECREF(handler);
    }
    PyGILState_Release(st);
    return rc;
}

// OK: pthread_mutex_trylock never blocks while the GIL is held; falls back to the last snapshot when busy
static PyObject *ok_stats_snapshot(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    if (pthread_mutex_trylock(&g_stats.mu) == 0) {
        g_cached_runs = g_stats.runs;
        g_cached_failures = g_stats.failures;
        pthread_mutex_unlock(&g_stats.mu);
    }
    return Py_BuildValue("LL", g_cached_runs, g_cached_failures);
}

// BAD: deprecated-gil-api module exec slot still calls PyEval_InitThreads (deprecated since 3.9, no-op)
static int bad_jobq_exec(PyObject *m)
{
    PyEval_InitThreads();
    g_q.nthreads = 0;
    for (int i = 0; i < NWORKERS; i++) {
        if (pthread_create(&g_q.threads[i], NULL, ok_jobq_worker, &g_q) != 0)
            break;
        g_q.nthreads++;
    }
    if (PyModule_AddIntConstant(m, "WORKERS", g_q.nthreads) < 0)
        return -1;
    return 0;
}

static PyMethodDef jobq_methods[] = {
    {"submit", ok_jobq_submit, METH_VARARGS, NULL},
    {"submit_fast", bad_jobq_submit, METH_VARARGS, NULL},
    {"wait_all", ok_jobq_wait_all, METH_NOARGS, NULL},
    {"wait_all_spin", bad_jobq_wait_all, METH_NOARGS, NULL},
    {"register", ok_registry_register, METH_VARARGS, NULL},
    {"stats", ok_stats_snapshot, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot jobq_slots[] = {
    {Py_mod_exec, bad_jobq_exec},
    {0, NULL},
};

static struct PyModuleDef jobq_module = {PyModuleDef_HEAD_INIT, "jobq", NULL, 0, jobq_methods,
                                         jobq_slots, NULL, NULL, NULL};

/* legacy single-lock worker kept for the "strict ordering" build option */
void *(*const jobq_legacy_worker)(void *) = bad_jobq_worker;

PyMODINIT_FUNC PyInit_jobq(void)
{
    return PyModuleDef_Init(&jobq_module);
}
