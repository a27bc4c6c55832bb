/*
 * _jobq: a bounded job queue shared between Python and native worker
 * threads.  Workers take the GIL (PyGILState_Ensure) to run Python jobs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <semaphore.h>
#include <errno.h>
#include <string.h>

#define QCAP 256

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t drained;
    pthread_mutex_t results_mu;   /* guards results against the native pool */
    sem_t slots;                  /* free slots */
    PyObject *items[QCAP];
    int head, tail, count;
    int closed;
    pthread_t workers[8];
    int nworkers;
    PyObject *results;            /* dict job_id -> result, guarded by results_mu + GIL */
} jobq;

static jobq Q;

static void *
worker_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&Q.mu);
        while (Q.count == 0 && !Q.closed)
            pthread_cond_wait(&Q.not_empty, &Q.mu);
        if (Q.count == 0 && Q.closed) {
            pthread_mutex_unlock(&Q.mu);
            return NULL;
        }
        PyObject *job = Q.items[Q.head];
        Q.head = (Q.head + 1) % QCAP;
        Q.count--;
        if (Q.count == 0)
            pthread_cond_broadcast(&Q.drained);
        pthread_mutex_unlock(&Q.mu);
        sem_post(&Q.slots);

        PyGILState_STATE gs = PyGILState_Ensure();
        PyObject *r = PyObject_CallNoArgs(job);
        if (r == NULL)
            PyErr_WriteUnraisable(job);
        Py_XDECREF(r);
        Py_DECREF(job);
        PyGILState_Release(gs);
    }
}

// BAD: blocking-with-gil  joins worker threads that need the GIL to finish their current job, while holding the GIL
static PyObject *
bad_jobq_shutdown(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    pthread_mutex_lock(&Q.mu);
    Q.closed = 1;
    pthread_cond_broadcast(&Q.not_empty);
    pthread_mutex_unlock(&Q.mu);
    for (int i = 0; i < Q.nworkers; i++) {
        int rc = pthread_join(Q.workers[i], NULL);
        if (rc != 0) {
            errno = rc;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    Q.nworkers = 0;
    (void)mod;
    Py_RETURN_NONE;
}

// OK: closes the queue and joins every worker with the GIL released, so workers can finish their jobs
static PyObject *
ok_jobq_shutdown(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&Q.mu);
    Q.closed = 1;
    pthread_cond_broadcast(&Q.not_empty);
    pthread_mutex_unlock(&Q.mu);
    for (int i = 0; i < Q.nworkers && rc == 0; i++)
        rc = pthread_join(Q.workers[i], NULL);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Q.nworkers = 0;
    (void)mod;
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil  sem_wait for a free slot blocks with the GIL held, while the consumers need the GIL to free slots
static PyObject *
bad_jobq_put(PyObject *mod, PyObject *job)
{
    if (!PyCallable_Check(job)) {
        PyErr_SetString(PyExc_TypeError, "job must be callable");
        return NULL;
    }
    while (sem_wait(&Q.slots) != 0) {
        if (errno != EINTR)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_INCREF(job);
    pthread_mutex_lock(&Q.mu);
    Q.items[Q.tail] = job;
    Q.tail = (Q.tail + 1) % QCAP;
    Q.count++;
    pthread_cond_signal(&Q.not_empty);
    pthread_mutex_unlock(&Q.mu);
    (void)mod;
    Py_RETURN_NONE;
}

// OK: sem_trywait and pthread_mutex_trylock never wait, so they are safe to call with the GIL held
static PyObject *
ok_jobq_try_put(PyObject *mod, PyObject *job)
{
    if (sem_trywait(&Q.slots) != 0) {
        if (errno == EAGAIN)
            Py_RETURN_FALSE;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (pthread_mutex_trylock(&Q.mu) != 0) {
        sem_post(&Q.slots);
        Py_RETURN_FALSE;
    }
    Q.items[Q.tail] = Py_NewRef(job);
    Q.tail = (Q.tail + 1) % QCAP;
    Q.count++;
    pthread_cond_signal(&Q.not_empty);
    pthread_mutex_unlock(&Q.mu);
    (void)mod;
    Py_RETURN_TRUE;
}

// BAD: blocking-with-gil  waits on the 'drained' condition variable while still holding the GIL; the workers need the GIL to make progress
static PyObject *
bad_jobq_drain(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    int left;
    pthread_mutex_lock(&Q.mu);
    while (Q.count > 0)
        pthread_cond_wait(&Q.drained, &Q.mu);
    left = Q.count;
    pthread_mutex_unlock(&Q.mu);
    (void)mod;
    return PyLong_FromLong(left);
}

/* Native completion hook: a C worker library reports finished jobs from
   its own threads. */

// BAD: lock-order  takes Q.results_mu and then the GIL, while bad_record_result_from_python takes the GIL and then Q.results_mu
static void bad_on_job_done(long job_id, double value)
{
    pthread_mutex_lock(&Q.results_mu);
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *k = PyLong_FromLong(job_id);
    PyObject *v = PyFloat_FromDouble(value);
    if (k && v && PyDict_SetItem(Q.results, k, v) < 0)
        PyErr_WriteUnraisable(NULL);
    Py_XDECREF(k);
    Py_XDECREF(v);
    PyGILState_Release(gs);
    pthread_mutex_unlock(&Q.results_mu);
}

// BAD: lock-order,blocking-with-gil  locks Q.results_mu with the GIL held; a completion thread holds it while waiting for the GIL
static PyObject *
bad_record_result_from_python(PyObject *mod, PyObject *args)
{
    long job_id; PyObject *value;
    int rc;
    if (!PyArg_ParseTuple(args, "lO", &job_id, &value))
        return NULL;
    PyObject *k = PyLong_FromLong(job_id);
    if (k == NULL)
        return NULL;
    pthread_mutex_lock(&Q.results_mu);
    rc = PyDict_SetItem(Q.results, k, value);
    pthread_mutex_unlock(&Q.results_mu);
    Py_DECREF(k);
    (void)mod;
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

// OK: releases the GIL before locking Q.mu and re-acquires it while holding Q.mu: the same mutex-then-GIL order the workers use
static PyObject *
ok_jobq_pending(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    PyObject *out;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&Q.mu);
    Py_END_ALLOW_THREADS
    out = PyList_New(Q.count);
    for (int i = 0; out != NULL && i < Q.count; i++)
        PyList_SET_ITEM(out, i, Py_NewRef(Q.items[(Q.head + i) % QCAP]));
    pthread_mutex_unlock(&Q.mu);
    (void)mod;
    return out;
}

typedef void (*done_hook)(long, double);
int nativepool_set_done_hook(done_hook fn);

PyObject *
jobq_start(PyObject *mod, PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 1 || n > 8) {
        PyErr_SetString(PyExc_ValueError, "1..8 workers");
        return NULL;
    }
    pthread_mutex_init(&Q.mu, NULL);
    pthread_cond_init(&Q.not_empty, NULL);
    pthread_cond_init(&Q.drained, NULL);
    pthread_mutex_init(&Q.results_mu, NULL);
    sem_init(&Q.slots, 0, QCAP);
    if ((Q.results = PyDict_New()) == NULL)
        return NULL;
    for (long i = 0; i < n; i++) {
        if (pthread_create(&Q.workers[i], NULL, worker_main, NULL) != 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        Q.nworkers++;
    }
    nativepool_set_done_hook(bad_on_job_done);
    (void)mod;
    Py_RETURN_NONE;
}
