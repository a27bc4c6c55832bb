#include <Python.h>
#include "ft_api.h"
#include <pthread.h>
#include <unistd.h>

typedef struct msg {
    struct msg *next;
    int kind;
    long value;
} msg;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    msg *head;
    int stopping;
    PyInterpreterGuard *guard;
    PyObject *sink;
    unsigned int poll_us;
} msg_queue;

static msg *
helper_queue_take(msg_queue *q)
{
    msg *m = q->head;
    if (m != NULL) {
        q->head = m->next;
    }
    return m;
}

void
bad_consumer_step(msg_queue *q)
{
    PyThreadStateToken *ts = PyThreadState_Ensure(q->guard);
    msg *m;
    PyObject *res;

    if (ts == NULL) {
        return;
    }
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->stopping) {
        pthread_cond_wait(&q->nonempty, &q->lock);
    }
    m = helper_queue_take(q);
    pthread_mutex_unlock(&q->lock);

    if (m != NULL) {
        res = PyObject_CallFunction(q->sink, "il", m->kind, m->value);
        if (res == NULL) {
            PyErr_WriteUnraisable(q->sink);
        }
        Py_XDECREF(res);
        PyMem_RawFree(m);
    }
    PyThreadState_Release(ts);
}

void
ok_consumer_step(msg_queue *q)
{
    PyThreadStateToken *ts;
    msg *m;
    PyObject *res;

    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->stopping) {
        pthread_cond_wait(&q->nonempty, &q->lock);
    }
    m = helper_queue_take(q);
    pthread_mutex_unlock(&q->lock);

    if (m == NULL) {
        return;
    }
    ts = PyThreadState_Ensure(q->guard);
    if (ts == NULL) {
        PyMem_RawFree(m);
        return;
    }
    res = PyObject_CallFunction(q->sink, "il", m->kind, m->value);
    if (res == NULL) {
        PyErr_WriteUnraisable(q->sink);
    }
    Py_XDECREF(res);
    PyThreadState_Release(ts);
    PyMem_RawFree(m);
}

void
ok_poller_loop(msg_queue *q)
{
    for (;;) {
        PyThreadStateToken *ts;
        PyObject *res;
        int stop;

        usleep(q->poll_us);

        pthread_mutex_lock(&q->lock);
        stop = q->stopping;
        pthread_mutex_unlock(&q->lock);
        if (stop) {
            break;
        }

        ts = PyThreadState_Ensure(q->guard);
        if (ts == NULL) {
            break;
        }
        res = PyObject_CallMethod(q->sink, "poll", NULL);
        if (res == NULL) {
            PyErr_WriteUnraisable(q->sink);
        }
        Py_XDECREF(res);
        PyThreadState_Release(ts);
    }
}

void
bad_poller_loop(msg_queue *q)
{
    for (;;) {
        PyThreadStateToken *ts;
        PyObject *res;
        int stop;

        pthread_mutex_lock(&q->lock);
        stop = q->stopping;
        pthread_mutex_unlock(&q->lock);
        if (stop) {
            break;
        }

        ts = PyThreadState_Ensure(q->guard);
        if (ts == NULL) {
            break;
        }
        res = PyObject_CallMethod(q->sink, "poll", NULL);
        if (res == NULL) {
            PyErr_WriteUnraisable(q->sink);
        }
        Py_XDECREF(res);
        usleep(q->poll_us);
        PyThreadState_Release(ts);
    }
}
