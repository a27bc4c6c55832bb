#include <Python.h>
#include "ft_api.h"
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

/* Wrapper around a memory-mapped sensor device shared with a driver thread. */

typedef struct {
    pthread_mutex_t hw_lock;
    pthread_cond_t data_ready;
    volatile int ready;
    unsigned char regs[64];
} device_hw;

typedef struct {
    PyObject_HEAD
    device_hw *hw;
    PyMutex stats_lock;
    Py_ssize_t reads;
    Py_ssize_t timeouts;
    PyObject *last_sample;
} DeviceObject;

static PyObject *
bad_device_read(DeviceObject *self, PyObject *arg)
{
    long reg = PyLong_AsLong(arg);
    unsigned char v;

    if (reg == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (reg < 0 || reg >= 64) {
        PyErr_SetString(PyExc_IndexError, "register out of range");
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(self);
    pthread_mutex_lock(&self->hw->hw_lock);
    v = self->hw->regs[reg];
    pthread_mutex_unlock(&self->hw->hw_lock);
    self->reads++;
    Py_END_CRITICAL_SECTION();
    return PyLong_FromLong(v);
}

static PyObject *
ok_device_read(DeviceObject *self, PyObject *arg)
{
    long reg = PyLong_AsLong(arg);
    unsigned char v;

    if (reg == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (reg < 0 || reg >= 64) {
        PyErr_SetString(PyExc_IndexError, "register out of range");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->hw->hw_lock);
    v = self->hw->regs[reg];
    pthread_mutex_unlock(&self->hw->hw_lock);
    Py_END_ALLOW_THREADS

    Py_BEGIN_CRITICAL_SECTION(self);
    self->reads++;
    Py_END_CRITICAL_SECTION();
    return PyLong_FromLong(v);
}

static PyObject *
ok_device_stats(DeviceObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t reads, timeouts;
    PyObject *sample;

    Py_BEGIN_CRITICAL_SECTION(self);
    PyMutex_Lock(&self->stats_lock);
    reads = self->reads;
    timeouts = self->timeouts;
    PyMutex_Unlock(&self->stats_lock);
    sample = Py_XNewRef(self->last_sample);
    Py_END_CRITICAL_SECTION();

    if (sample == NULL) {
        sample = Py_NewRef(Py_None);
    }
    return Py_BuildValue("(nnN)", reads, timeouts, sample);
}

static PyObject *
bad_device_wait_ready(DeviceObject *self, PyObject *arg)
{
    long timeout_ms = PyLong_AsLong(arg);
    long waited = 0;

    if (timeout_ms == -1 && PyErr_Occurred()) {
        return NULL;
    }
    while (!self->hw->ready && waited < timeout_ms) {
        usleep(1000);
        waited++;
    }
    if (!self->hw->ready) {
        PyMutex_Lock(&self->stats_lock);
        self->timeouts++;
        PyMutex_Unlock(&self->stats_lock);
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyObject *
ok_device_wait_ready(DeviceObject *self, PyObject *arg)
{
    long timeout_ms = PyLong_AsLong(arg);
    long waited = 0;
    int ready;

    if (timeout_ms == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    while (!self->hw->ready && waited < timeout_ms) {
        usleep(1000);
        waited++;
    }
    ready = self->hw->ready;
    Py_END_ALLOW_THREADS

    if (!ready) {
        PyMutex_Lock(&self->stats_lock);
        self->timeouts++;
        PyMutex_Unlock(&self->stats_lock);
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyObject *
bad_device_snapshot(DeviceObject *self, PyObject *Py_UNUSED(ignored))
{
    unsigned char copy[64];

    pthread_mutex_lock(&self->hw->hw_lock);
    while (!self->hw->ready) {
        pthread_cond_wait(&self->hw->data_ready, &self->hw->hw_lock);
    }
    memcpy(copy, self->hw->regs, sizeof(copy));
    pthread_mutex_unlock(&self->hw->hw_lock);

    return PyBytes_FromStringAndSize((const char *)copy, sizeof(copy));
}

static PyObject *
ok_device_snapshot(DeviceObject *self, PyObject *Py_UNUSED(ignored))
{
    unsigned char copy[64];

    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->hw->hw_lock);
    while (!self->hw->ready) {
        pthread_cond_wait(&self->hw->data_ready, &self->hw->hw_lock);
    }
    memcpy(copy, self->hw->regs, sizeof(copy));
    pthread_mutex_unlock(&self->hw->hw_lock);
    Py_END_ALLOW_THREADS

    return PyBytes_FromStringAndSize((const char *)copy, sizeof(copy));
}

static PyObject *
ok_device_try_sample(DeviceObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *sample = NULL;
    int busy = 0;

    Py_BEGIN_CRITICAL_SECTION(self);
    if (pthread_mutex_trylock(&self->hw->hw_lock) == 0) {
        sample = PyLong_FromLong(self->hw->regs[0]);
        pthread_mutex_unlock(&self->hw->hw_lock);
        if (sample != NULL) {
            Py_XSETREF(self->last_sample, Py_NewRef(sample));
        }
    }
    else {
        busy = 1;
    }
    Py_END_CRITICAL_SECTION();

    if (busy) {
        Py_RETURN_NONE;
    }
    return sample;
}

typedef struct {
    PyMutex lock;
    long pending;
    struct timespec backoff;
} throttle_state;

static PyObject *
bad_throttle_enter(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    throttle_state *st = PyModule_GetState(module);
    long pending;

    Py_BEGIN_CRITICAL_SECTION_MUTEX(&st->lock);
    pending = ++st->pending;
    if (pending > 8) {
        nanosleep(&st->backoff, NULL);
    }
    Py_END_CRITICAL_SECTION();
    return PyLong_FromLong(pending);
}

static PyObject *
ok_throttle_enter(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    throttle_state *st = PyModule_GetState(module);
    struct timespec backoff;
    long pending;

    Py_BEGIN_CRITICAL_SECTION_MUTEX(&st->lock);
    pending = ++st->pending;
    backoff = st->backoff;
    Py_END_CRITICAL_SECTION();

    if (pending > 8) {
        Py_BEGIN_ALLOW_THREADS
        nanosleep(&backoff, NULL);
        Py_END_ALLOW_THREADS
    }
    return PyLong_FromLong(pending);
}

static PyMethodDef device_methods[] = {
    {"read", (PyCFunction)ok_device_read, METH_O, NULL},
    {"read_fast", (PyCFunction)bad_device_read, METH_O, NULL},
    {"stats", (PyCFunction)ok_device_stats, METH_NOARGS, NULL},
    {"wait_ready", (PyCFunction)ok_device_wait_ready, METH_O, NULL},
    {"wait_ready_spin", (PyCFunction)bad_device_wait_ready, METH_O, NULL},
    {"snapshot", (PyCFunction)ok_device_snapshot, METH_NOARGS, NULL},
    {"snapshot_fast", (PyCFunction)bad_device_snapshot, METH_NOARGS, NULL},
    {"try_sample", (PyCFunction)ok_device_try_sample, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMethodDef throttle_methods[] = {
    {"enter", ok_throttle_enter, METH_NOARGS, NULL},
    {"enter_fast", bad_throttle_enter, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

int
helper_device_register(PyObject *module, PyType_Slot *slots)
{
    slots[0].slot = Py_tp_methods;
    slots[0].pfunc = device_methods;
    return PyModule_AddFunctions(module, throttle_methods);
}
