#include <Python.h>
#include "ft_api.h"
#include <stdlib.h>

typedef struct conn {
    struct conn *next;
    int fd;
    unsigned long uses;
} conn;

typedef struct {
    PyObject_HEAD
    PyMutex lock;
    conn *idle;
    Py_ssize_t nidle;
    Py_ssize_t nbusy;
    Py_ssize_t limit;
    int closed;
    int shared;
} PoolObject;

static conn *
helper_conn_open(void)
{
    conn *c = calloc(1, sizeof(conn));
    if (c != NULL) {
        c->fd = -1;
    }
    return c;
}

static PyObject *
bad_pool_acquire(PoolObject *self, PyObject *Py_UNUSED(ignored))
{
    conn *c;

    PyMutex_Lock(&self->lock);
    if (self->closed) {
        PyErr_SetString(PyExc_RuntimeError, "pool is closed");
        return NULL;
    }
    c = self->idle;
    if (c != NULL) {
        self->idle = c->next;
        self->nidle--;
    }
    self->nbusy++;
    PyMutex_Unlock(&self->lock);

    if (c == NULL && (c = helper_conn_open()) == NULL) {
        return PyErr_NoMemory();
    }
    c->uses++;
    return PyLong_FromVoidPtr(c);
}

static PyObject *
ok_pool_acquire(PoolObject *self, PyObject *Py_UNUSED(ignored))
{
    conn *c;

    PyMutex_Lock(&self->lock);
    if (self->closed) {
        PyMutex_Unlock(&self->lock);
        PyErr_SetString(PyExc_RuntimeError, "pool is closed");
        return NULL;
    }
    if (self->nbusy >= self->limit) {
        PyMutex_Unlock(&self->lock);
        PyErr_SetString(PyExc_BlockingIOError, "pool exhausted");
        return NULL;
    }
    c = self->idle;
    if (c != NULL) {
        self->idle = c->next;
        self->nidle--;
    }
    self->nbusy++;
    PyMutex_Unlock(&self->lock);

    if (c == NULL && (c = helper_conn_open()) == NULL) {
        return PyErr_NoMemory();
    }
    c->uses++;
    return PyLong_FromVoidPtr(c);
}

static PyObject *
ok_pool_release(PoolObject *self, PyObject *arg)
{
    conn *c = PyLong_AsVoidPtr(arg);
    PyObject *result = NULL;

    if (c == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "null connection");
        }
        return NULL;
    }

    PyMutex_Lock(&self->lock);
    if (self->nbusy <= 0) {
        PyErr_SetString(PyExc_RuntimeError, "release without acquire");
        goto done;
    }
    self->nbusy--;
    if (self->closed) {
        free(c);
        result = Py_NewRef(Py_False);
        goto done;
    }
    c->next = self->idle;
    self->idle = c;
    self->nidle++;
    result = Py_NewRef(Py_True);
done:
    PyMutex_Unlock(&self->lock);
    return result;
}

static PyObject *
bad_pool_resize(PoolObject *self, PyObject *arg)
{
    Py_ssize_t limit = PyLong_AsSsize_t(arg);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }

    PyMutex_Lock(&self->lock);
    if (limit < self->nbusy) {
        PyErr_SetString(PyExc_ValueError, "limit below busy count");
        goto error;
    }
    while (self->nidle > 0 && self->nidle + self->nbusy > limit) {
        conn *c = self->idle;
        self->idle = c->next;
        self->nidle--;
        free(c);
    }
    self->limit = limit;
    PyMutex_Unlock(&self->lock);
    Py_RETURN_NONE;

error:
    return NULL;
}

static PyObject *
bad_pool_stats(PoolObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t idle, busy;

    if (self->closed) {
        PyMutex_Unlock(&self->lock);
        PyErr_SetString(PyExc_RuntimeError, "pool is closed");
        return NULL;
    }
    PyMutex_Lock(&self->lock);
    idle = self->nidle;
    busy = self->nbusy;
    PyMutex_Unlock(&self->lock);

    return Py_BuildValue("(nn)", idle, busy);
}

static PyObject *
ok_pool_stats_maybe_locked(PoolObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t idle, busy;
    int locked = 0;

    if (self->shared) {
        PyMutex_Lock(&self->lock);
        locked = 1;
    }
    idle = self->nidle;
    busy = self->nbusy;
    if (locked) {
        PyMutex_Unlock(&self->lock);
    }

    return Py_BuildValue("(nn)", idle, busy);
}

static PyObject *
bad_pool_close(PoolObject *self, PyObject *Py_UNUSED(ignored))
{
    conn *list;

    PyMutex_Lock(&self->lock);
    if (self->closed) {
        PyMutex_Unlock(&self->lock);
    }
    self->closed = 1;
    list = self->idle;
    self->idle = NULL;
    self->nidle = 0;
    PyMutex_Unlock(&self->lock);

    while (list != NULL) {
        conn *next = list->next;
        free(list);
        list = next;
    }
    Py_RETURN_NONE;
}

static PyObject *
ok_pool_close(PoolObject *self, PyObject *Py_UNUSED(ignored))
{
    conn *list;

    PyMutex_Lock(&self->lock);
    if (self->closed) {
        PyMutex_Unlock(&self->lock);
        Py_RETURN_NONE;
    }
    self->closed = 1;
    list = self->idle;
    self->idle = NULL;
    self->nidle = 0;
    PyMutex_Unlock(&self->lock);

    while (list != NULL) {
        conn *next = list->next;
        free(list);
        list = next;
    }
    Py_RETURN_NONE;
}

static PyMethodDef pool_methods[] = {
    {"acquire", (PyCFunction)ok_pool_acquire, METH_NOARGS, NULL},
    {"acquire_nowait", (PyCFunction)bad_pool_acquire, METH_NOARGS, NULL},
    {"release", (PyCFunction)ok_pool_release, METH_O, NULL},
    {"resize", (PyCFunction)bad_pool_resize, METH_O, NULL},
    {"stats", (PyCFunction)bad_pool_stats, METH_NOARGS, NULL},
    {"stats_fast", (PyCFunction)ok_pool_stats_maybe_locked, METH_NOARGS, NULL},
    {"close", (PyCFunction)ok_pool_close, METH_NOARGS, NULL},
    {"close_now", (PyCFunction)bad_pool_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyType_Slot pool_slots[] = {
    {Py_tp_methods, pool_methods},
    {0, NULL},
};

PyType_Spec Pool_spec = {
    .name = "connpool.Pool",
    .basicsize = sizeof(PoolObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = pool_slots,
};
