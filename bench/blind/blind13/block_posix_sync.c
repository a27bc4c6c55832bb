/* _bgtask: background tasks with POSIX and C11 threads. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <semaphore.h>
#include <threads.h>
#include <stdlib.h>

typedef struct {
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int done;
    double result;
    sem_t slots;
    thrd_t c11;
    mtx_t stats_mtx;
    long stats;
} TaskState;

typedef struct {
    PyObject_HEAD
    TaskState *st;
    int started;
} Task;

static void *
task_body(void *arg)
{
    TaskState *st = (TaskState *)arg;
    double acc = 0;
    long i;
    for (i = 1; i < 50000000; i++)
        acc += 1.0 / (double)i;
    pthread_mutex_lock(&st->lock);
    st->result = acc;
    st->done = 1;
    pthread_cond_broadcast(&st->done_cv);
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

static int
c11_body(void *arg)
{
    TaskState *st = (TaskState *)arg;
    mtx_lock(&st->stats_mtx);
    st->stats++;
    mtx_unlock(&st->stats_mtx);
    return 0;
}

static PyObject *
bad_task_wait(Task *self, PyObject *Py_UNUSED(ignored))
{
    TaskState *st = self->st;
    double r;

    pthread_mutex_lock(&st->lock);
    while (!st->done)
        pthread_cond_wait(&st->done_cv, &st->lock);
    r = st->result;
    pthread_mutex_unlock(&st->lock);
    return PyFloat_FromDouble(r);
}

static PyObject *
ok_task_wait(Task *self, PyObject *Py_UNUSED(ignored))
{
    TaskState *st = self->st;
    double r;

    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&st->lock);
    while (!st->done)
        pthread_cond_wait(&st->done_cv, &st->lock);
    r = st->result;
    pthread_mutex_unlock(&st->lock);
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(r);
}

static PyObject *
bad_task_join(Task *self, PyObject *Py_UNUSED(ignored))
{
    int rc;
    if (!self->started)
        Py_RETURN_NONE;
    rc = pthread_join(self->st->tid, NULL);
    self->started = 0;
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyFloat_FromDouble(self->st->result);
}

static PyObject *
ok_task_join(Task *self, PyObject *Py_UNUSED(ignored))
{
    int rc;
    pthread_t tid;
    if (!self->started)
        Py_RETURN_NONE;
    tid = self->st->tid;
    Py_BEGIN_ALLOW_THREADS
    rc = pthread_join(tid, NULL);
    Py_END_ALLOW_THREADS
    self->started = 0;
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyFloat_FromDouble(self->st->result);
}

static PyObject *
bad_slot_acquire(Task *self, PyObject *Py_UNUSED(ignored))
{
    if (sem_wait(&self->st->slots) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_TRUE;
}

static PyObject *
ok_slot_acquire(Task *self, PyObject *args)
{
    int blocking = 1, rc;
    if (!PyArg_ParseTuple(args, "|p", &blocking))
        return NULL;
    if (!blocking) {
        rc = sem_trywait(&self->st->slots);
        return PyBool_FromLong(rc == 0);
    }
    Py_BEGIN_ALLOW_THREADS
    do {
        rc = sem_wait(&self->st->slots);
    } while (rc < 0 && errno == EINTR);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_TRUE;
}

static PyObject *
bad_stats_snapshot(Task *self, PyObject *Py_UNUSED(ignored))
{
    long v;
    int res = 0;
    if (thrd_create(&self->st->c11, c11_body, self->st) != thrd_success) {
        PyErr_SetString(PyExc_RuntimeError, "thrd_create failed");
        return NULL;
    }
    thrd_join(self->st->c11, &res);
    mtx_lock(&self->st->stats_mtx);
    v = self->st->stats;
    mtx_unlock(&self->st->stats_mtx);
    return PyLong_FromLong(v);
}

static PyObject *
ok_stats_snapshot(Task *self, PyObject *Py_UNUSED(ignored))
{
    long v;
    int res = 0, ok;
    TaskState *st = self->st;

    Py_BEGIN_ALLOW_THREADS
    ok = thrd_create(&st->c11, c11_body, st) == thrd_success;
    if (ok)
        thrd_join(st->c11, &res);
    mtx_lock(&st->stats_mtx);
    v = st->stats;
    mtx_unlock(&st->stats_mtx);
    Py_END_ALLOW_THREADS
    if (!ok) {
        PyErr_SetString(PyExc_RuntimeError, "thrd_create failed");
        return NULL;
    }
    return PyLong_FromLong(v);
}

static PyObject *
Task_start(Task *self, PyObject *Py_UNUSED(ignored))
{
    int rc;
    if (self->st == NULL) {
        self->st = PyMem_RawCalloc(1, sizeof(TaskState));
        if (self->st == NULL)
            return PyErr_NoMemory();
        pthread_mutex_init(&self->st->lock, NULL);
        pthread_cond_init(&self->st->done_cv, NULL);
        sem_init(&self->st->slots, 0, 4);
        mtx_init(&self->st->stats_mtx, mtx_plain);
    }
    rc = pthread_create(&self->st->tid, NULL, task_body, self->st);
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->started = 1;
    Py_RETURN_NONE;
}

static PyMethodDef Task_methods[] = {
    {"start", (PyCFunction)Task_start, METH_NOARGS, NULL},
    {"wait", (PyCFunction)ok_task_wait, METH_NOARGS, NULL},
    {"wait_locked", (PyCFunction)bad_task_wait, METH_NOARGS, NULL},
    {"join", (PyCFunction)ok_task_join, METH_NOARGS, NULL},
    {"join_locked", (PyCFunction)bad_task_join, METH_NOARGS, NULL},
    {"acquire", (PyCFunction)ok_slot_acquire, METH_VARARGS, NULL},
    {"acquire_locked", (PyCFunction)bad_slot_acquire, METH_NOARGS, NULL},
    {"stats", (PyCFunction)ok_stats_snapshot, METH_NOARGS, NULL},
    {"stats_locked", (PyCFunction)bad_stats_snapshot, METH_NOARGS, NULL},
    {NULL}
};
static PyTypeObject TaskType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_bgtask.Task", .tp_basicsize = sizeof(Task),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Task_methods, .tp_new = PyType_GenericNew,
};
static struct PyModuleDef bgtask_module = { PyModuleDef_HEAD_INIT, "_bgtask", NULL, -1, NULL };

PyMODINIT_FUNC
PyInit__bgtask(void)
{
    PyObject *m;
    if (PyType_Ready(&TaskType) < 0)
        return NULL;
    m = PyModule_Create(&bgtask_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&TaskType);
    PyModule_AddObject(m, "Task", (PyObject *)&TaskType);
    return m;
}
