/* Cross-process event built on a futex word in shared memory.  event_wait()
 * sleeps in the kernel via the raw syscall until another process bumps the
 * word; the project calls it with the GIL released at its normal sites. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct shm_event {
    uint32_t word;
    uint32_t waiters;
};

typedef struct {
    PyObject_HEAD
    struct shm_event *ev;
    uint32_t seen;
} EventObject;

/* Block until ev->word != old (or timeout).  Returns 0, or an errno. */
static int
event_wait(struct shm_event *ev, uint32_t old, const struct timespec *ts)
{
    __atomic_add_fetch(&ev->waiters, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&ev->word, __ATOMIC_ACQUIRE) == old) {
        long r = syscall(SYS_futex, &ev->word, FUTEX_WAIT, old, ts, NULL, 0);
        if (r < 0 && errno != EAGAIN && errno != EINTR) {
            __atomic_sub_fetch(&ev->waiters, 1, __ATOMIC_SEQ_CST);
            return errno;
        }
        if (r < 0 && errno == EINTR)
            break;
    }
    __atomic_sub_fetch(&ev->waiters, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* OK: waits with the GIL released. */
static PyObject *
ok_event_wait(EventObject *self, PyObject *Py_UNUSED(ignored))
{
    uint32_t old = self->seen;
    int err;

    Py_BEGIN_ALLOW_THREADS
    err = event_wait(self->ev, old, NULL);
    Py_END_ALLOW_THREADS

    if (err) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (PyErr_CheckSignals() < 0)
        return NULL;
    self->seen = __atomic_load_n(&self->ev->word, __ATOMIC_ACQUIRE);
    return PyLong_FromUnsignedLong(self->seen);
}

/* OK: timed wait, also released. */
static PyObject *
ok_event_wait_timeout(EventObject *self, PyObject *args)
{
    double timeout;
    struct timespec ts;
    uint32_t old = self->seen;
    int err;

    if (!PyArg_ParseTuple(args, "d:wait_timeout", &timeout))
        return NULL;
    if (timeout < 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must be >= 0");
        return NULL;
    }
    ts.tv_sec = (time_t)timeout;
    ts.tv_nsec = (long)((timeout - (double)ts.tv_sec) * 1e9);

    Py_BEGIN_ALLOW_THREADS
    err = event_wait(self->ev, old, &ts);
    Py_END_ALLOW_THREADS

    if (err == ETIMEDOUT)
        Py_RETURN_FALSE;
    if (err) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->seen = __atomic_load_n(&self->ev->word, __ATOMIC_ACQUIRE);
    Py_RETURN_TRUE;
}

/* BAD: the "block=True" branch of get_value() waits with the GIL held. */
static PyObject *
bad_event_get_value(EventObject *self, PyObject *args)
{
    int block = 0, err;
    uint32_t cur;

    if (!PyArg_ParseTuple(args, "|p:get_value", &block))
        return NULL;

    cur = __atomic_load_n(&self->ev->word, __ATOMIC_ACQUIRE);
    if (block && cur == self->seen) {
        err = event_wait(self->ev, cur, NULL);
        if (err) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        cur = __atomic_load_n(&self->ev->word, __ATOMIC_ACQUIRE);
    }
    self->seen = cur;
    return PyLong_FromUnsignedLong(cur);
}

static PyMethodDef Event_methods[] = {
    {"wait", (PyCFunction)ok_event_wait, METH_NOARGS, NULL},
    {"wait_timeout", (PyCFunction)ok_event_wait_timeout, METH_VARARGS, NULL},
    {"get_value", (PyCFunction)bad_event_get_value, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
