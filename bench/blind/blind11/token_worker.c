#include <Python.h>
#include "ft_api.h"
#include <stdlib.h>

typedef struct job {
    struct job *next;
    long id;
    double payload;
} job;

typedef struct {
    PyInterpreterGuard *guard;
    PyObject *handler;
    PyObject *flush_cb;
    job *pending;
    long processed;
    long failed;
} worker;

static job *
helper_pop_job(worker *w)
{
    job *j = w->pending;
    if (j != NULL) {
        w->pending = j->next;
    }
    return j;
}

void
ok_worker_drain(worker *w)
{
    job *j;

    while ((j = helper_pop_job(w)) != NULL) {
        PyThreadStateToken *ts = PyThreadState_Ensure(w->guard);
        PyObject *res;

        if (ts == NULL) {
            free(j);
            break;
        }
        res = PyObject_CallFunction(w->handler, "ld", j->id, j->payload);
        if (res == NULL) {
            PyErr_WriteUnraisable(w->handler);
            w->failed++;
        }
        else {
            Py_DECREF(res);
            w->processed++;
        }
        PyThreadState_Release(ts);
        free(j);
    }
}

void
bad_worker_drain(worker *w)
{
    job *j;

    while ((j = helper_pop_job(w)) != NULL) {
        PyThreadStateToken *ts = PyThreadState_Ensure(w->guard);
        PyObject *res;

        if (ts == NULL) {
            free(j);
            break;
        }
        res = PyObject_CallFunction(w->handler, "ld", j->id, j->payload);
        free(j);
        if (res == NULL) {
            PyErr_WriteUnraisable(w->handler);
            w->failed++;
            continue;
        }
        Py_DECREF(res);
        w->processed++;
        PyThreadState_Release(ts);
    }
}

int
bad_worker_flush(worker *w)
{
    PyThreadStateToken *ts;
    PyObject *res = NULL;
    int rc = -1;

    ts = PyThreadState_Ensure(w->guard);
    if (ts == NULL) {
        goto out;
    }
    res = PyObject_CallFunction(w->flush_cb, "ll", w->processed, w->failed);
    if (res == NULL) {
        PyErr_WriteUnraisable(w->flush_cb);
        goto out;
    }
    Py_DECREF(res);
    rc = 0;
out:
    PyThreadState_Release(ts);
    return rc;
}

int
ok_worker_flush(worker *w)
{
    PyThreadStateToken *ts;
    PyObject *res = NULL;
    int rc = -1;

    ts = PyThreadState_Ensure(w->guard);
    if (ts == NULL) {
        return -1;
    }
    res = PyObject_CallFunction(w->flush_cb, "ll", w->processed, w->failed);
    if (res == NULL) {
        PyErr_WriteUnraisable(w->flush_cb);
        goto out;
    }
    Py_DECREF(res);
    rc = 0;
out:
    PyThreadState_Release(ts);
    return rc;
}

int
ok_worker_flush_checked(worker *w)
{
    PyThreadStateToken *ts = NULL;
    PyObject *res;
    int rc = -1;

    if (w->flush_cb == NULL) {
        goto out;
    }
    ts = PyThreadState_Ensure(w->guard);
    if (ts == NULL) {
        goto out;
    }
    res = PyObject_CallFunction(w->flush_cb, "ll", w->processed, w->failed);
    if (res != NULL) {
        Py_DECREF(res);
        rc = 0;
    }
    else {
        PyErr_WriteUnraisable(w->flush_cb);
    }
out:
    if (ts != NULL) {
        PyThreadState_Release(ts);
    }
    return rc;
}
