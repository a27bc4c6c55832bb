/* Process / queue helpers: waitpid blocks unless WNOHANG; sem_trywait and
 * pthread_mutex_trylock never block. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/types.h>
#include <sys/wait.h>

typedef struct {
    PyObject_HEAD
    pid_t pid;
    int returncode;
    int reaped;
} ChildObject;

typedef struct {
    PyObject_HEAD
    sem_t items;
    pthread_mutex_t lock;   /* held by worker threads during slow refills */
    PyObject *pending;      /* list, protected by the GIL */
    long hits;
} QueueObject;

static PyObject *
child_status_to_py(ChildObject *self, int status)
{
    if (WIFEXITED(status))
        self->returncode = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        self->returncode = -WTERMSIG(status);
    self->reaped = 1;
    return PyLong_FromLong(self->returncode);
}

/* BAD: waitpid(pid, &status, 0) waits for the child to exit with the GIL
 * held. */
static PyObject *
bad_Child_wait(ChildObject *self, PyObject *Py_UNUSED(ignored))
{
    int status = 0;
    pid_t r;

    if (self->reaped)
        return PyLong_FromLong(self->returncode);

    do {
        r = waitpid(self->pid, &status, 0);
    } while (r < 0 && errno == EINTR);

    if (r < 0)
        return PyErr_SetFromErrno(PyExc_ChildProcessError);
    return child_status_to_py(self, status);
}

/* OK: waitpid with WNOHANG returns immediately; polling with the GIL held
 * is fine. */
static PyObject *
ok_Child_poll(ChildObject *self, PyObject *Py_UNUSED(ignored))
{
    int status = 0;
    pid_t r;

    if (self->reaped)
        return PyLong_FromLong(self->returncode);

    r = waitpid(self->pid, &status, WNOHANG);
    if (r < 0)
        return PyErr_SetFromErrno(PyExc_ChildProcessError);
    if (r == 0)
        Py_RETURN_NONE;
    return child_status_to_py(self, status);
}

/* OK: sem_trywait() fails with EAGAIN instead of waiting, so it may run
 * with the GIL held. */
static PyObject *
ok_Queue_get_nowait(QueueObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *item;

    if (sem_trywait(&self->items) < 0) {
        if (errno == EAGAIN) {
            PyErr_SetString(PyExc_BlockingIOError, "queue empty");
            return NULL;
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (PyList_GET_SIZE(self->pending) == 0) {
        sem_post(&self->items);
        PyErr_SetString(PyExc_RuntimeError, "queue out of sync");
        return NULL;
    }
    item = PyList_GetItem(self->pending, 0);
    Py_INCREF(item);
    if (PySequence_DelItem(self->pending, 0) < 0) {
        Py_DECREF(item);
        return NULL;
    }
    return item;
}

/* OK: pthread_mutex_trylock() returns EBUSY instead of blocking on the
 * worker-held lock, so it is safe with the GIL held. */
static PyObject *
ok_Queue_try_count(QueueObject *self, PyObject *Py_UNUSED(ignored))
{
    long hits;
    int rc;

    rc = pthread_mutex_trylock(&self->lock);
    if (rc == EBUSY)
        Py_RETURN_NONE;
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    hits = self->hits;
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromLong(hits);
}

static PyMethodDef Child_methods[] = {
    {"wait", (PyCFunction)bad_Child_wait, METH_NOARGS, NULL},
    {"poll", (PyCFunction)ok_Child_poll, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMethodDef Queue_methods[] = {
    {"get_nowait", (PyCFunction)ok_Queue_get_nowait, METH_NOARGS, NULL},
    {"try_count", (PyCFunction)ok_Queue_try_count, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};
