/* blocking-with-gil: a job queue shared between Python threads and native
 * worker threads, synchronised with pthread primitives.  Waiting on a
 * pthread lock / condition or sleeping while the thread state is attached
 * (including inside a critical section) stalls stop-the-world pauses and
 * can deadlock with a worker that needs to attach. */
#include <Python.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include "ft_fixture.h"

typedef struct job {
    struct job *next;
    long arg;
    long result;
    int done;
} job_t;

typedef struct {
    PyObject_HEAD
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *head;
    PyMutex pymu;
    Py_ssize_t submitted;
    PyInterpreterView *view;
    PyObject *on_done;
    int stop;
} JobQueueObject;

// BAD: blocking-with-gil pthread_mutex_lock inside Py_BEGIN_CRITICAL_SECTION while attached
static PyObject *
bad_queue_submit(JobQueueObject *self, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) {
        return NULL;
    }
    job_t *j = PyMem_RawCalloc(1, sizeof(*j));
    if (j == NULL) {
        return PyErr_NoMemory();
    }
    j->arg = v;
    Py_BEGIN_CRITICAL_SECTION(self);
    self->submitted++;
    pthread_mutex_lock(&self->mu);      /* may wait on a native worker */
    j->next = self->head;
    self->head = j;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    Py_END_CRITICAL_SECTION();
    Py_RETURN_NONE;
}

// OK: the pthread mutex is taken with the thread state detached, the Python-side counter under the critical section
static PyObject *
ok_queue_submit(JobQueueObject *self, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) {
        return NULL;
    }
    job_t *j = PyMem_RawCalloc(1, sizeof(*j));
    if (j == NULL) {
        return PyErr_NoMemory();
    }
    j->arg = v;
    Py_BEGIN_CRITICAL_SECTION(self);
    self->submitted++;
    Py_END_CRITICAL_SECTION();
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->mu);
    j->next = self->head;
    self->head = j;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil pthread_cond_wait for a worker result while the thread state is attached
static PyObject *
bad_job_wait(JobQueueObject *self, job_t *j)
{
    long result;
    pthread_mutex_lock(&self->mu);
    while (!j->done) {
        pthread_cond_wait(&self->cv, &self->mu);
    }
    result = j->result;
    pthread_mutex_unlock(&self->mu);
    return PyLong_FromLong(result);
}

// OK: the same wait loop, run inside Py_BEGIN_ALLOW_THREADS
static PyObject *
ok_job_wait(JobQueueObject *self, job_t *j)
{
    long result;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->mu);
    while (!j->done) {
        pthread_cond_wait(&self->cv, &self->mu);
    }
    result = j->result;
    pthread_mutex_unlock(&self->mu);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(result);
}

// BAD: blocking-with-gil usleep back-off in a polling loop while attached
static PyObject *
bad_queue_drain(JobQueueObject *self, PyObject *Py_UNUSED(ignored))
{
    int spins = 0;
    while (__atomic_load_n(&self->head, __ATOMIC_ACQUIRE) != NULL) {
        if (++spins > 1000) {
            PyErr_SetString(PyExc_TimeoutError, "queue did not drain");
            return NULL;
        }
        usleep(1000);
    }
    Py_RETURN_NONE;
}

// OK: back-off sleep detached, exception raised only after re-attaching
static PyObject *
ok_queue_drain(JobQueueObject *self, PyObject *Py_UNUSED(ignored))
{
    int timed_out = 0;
    Py_BEGIN_ALLOW_THREADS
    int spins = 0;
    while (__atomic_load_n(&self->head, __ATOMIC_ACQUIRE) != NULL) {
        if (++spins > 1000) {
            timed_out = 1;
            break;
        }
        usleep(1000);
    }
    Py_END_ALLOW_THREADS
    if (timed_out) {
        PyErr_SetString(PyExc_TimeoutError, "queue did not drain");
        return NULL;
    }
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil nanosleep rate limiter inside a mutex-form critical section
static PyObject *
bad_queue_throttle(JobQueueObject *self, PyObject *Py_UNUSED(ignored))
{
    struct timespec ts = {0, 5 * 1000 * 1000};
    Py_BEGIN_CRITICAL_SECTION_MUTEX(&self->pymu);
    if (self->submitted > 10000) {
        nanosleep(&ts, NULL);
        self->submitted = 0;
    }
    Py_END_CRITICAL_SECTION();
    Py_RETURN_NONE;
}

// OK: PyMutex_Lock inside a critical section is fine -- it detaches while it waits
static PyObject *
ok_queue_count(JobQueueObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n;
    Py_BEGIN_CRITICAL_SECTION(self);
    PyMutex_Lock(&self->pymu);
    n = self->submitted;
    PyMutex_Unlock(&self->pymu);
    Py_END_CRITICAL_SECTION();
    return PyLong_FromSsize_t(n);
}

// OK: pthread_mutex_trylock never waits, so calling it attached is not blocking
static PyObject *
ok_queue_try_peek(JobQueueObject *self, PyObject *Py_UNUSED(ignored))
{
    long arg = -1;
    if (pthread_mutex_trylock(&self->mu) != 0) {
        Py_RETURN_NONE;             /* busy: caller retries later */
    }
    if (self->head != NULL) {
        arg = self->head->arg;
    }
    pthread_mutex_unlock(&self->mu);
    return PyLong_FromLong(arg);
}

// OK: native worker thread waits and sleeps with no thread state, attaches only to deliver the result
static void *
ok_worker_main(void *argp)
{
    JobQueueObject *q = (JobQueueObject *)argp;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->head == NULL && !q->stop) {
            pthread_cond_wait(&q->cv, &q->mu);
        }
        if (q->stop) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        job_t *j = q->head;
        q->head = j->next;
        pthread_mutex_unlock(&q->mu);

        j->result = j->arg * 2;
        usleep(100);                /* simulated native work */

        PyThreadState *ts = PyThreadState_EnsureFromView(q->view);
        if (ts == NULL) {
            break;                  /* interpreter is finalizing */
        }
        PyObject *r = PyObject_CallFunction(q->on_done, "l", j->result);
        if (r == NULL) {
            PyErr_WriteUnraisable(q->on_done);
        }
        else {
            Py_DECREF(r);
        }
        PyThreadState_Release(ts);

        pthread_mutex_lock(&q->mu);
        j->done = 1;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}
