// Blocking waits (locks, condition variables, sleeps, I/O, joins) done only after the GIL is dropped.
#include <Python.h>
#include <pthread.h>
#include <semaphore.h>
#include <poll.h>
#include <unistd.h>

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static int q_len;
static sem_t slots;

PyObject *ok_wait_for_item(PyObject *self, PyObject *unused)
{
    int len;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&q_lock);
    while (q_len == 0)
        pthread_cond_wait(&q_cond, &q_lock);
    len = q_len--;
    pthread_mutex_unlock(&q_lock);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(len);
}

PyObject *ok_poll_fd(PyObject *self, PyObject *arg)
{
    int fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = poll(&p, 1, 1000);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBool_FromLong(rc > 0);
}

PyObject *ok_sleep_and_read(PyObject *self, PyObject *arg)
{
    char buf[128];
    ssize_t n;
    PyThreadState *ts = PyEval_SaveThread();
    usleep(500);
    sem_wait(&slots);
    n = read(0, buf, sizeof buf);
    sem_post(&slots);
    PyEval_RestoreThread(ts);
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBytes_FromStringAndSize(buf, n);
}

/* A foreign thread blocks before it asks for the GIL, never while holding it. */
static void *consumer(void *arg)
{
    pthread_mutex_lock(&q_lock);
    while (q_len == 0)
        pthread_cond_wait(&q_cond, &q_lock);
    q_len--;
    pthread_mutex_unlock(&q_lock);

    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs((PyObject *)arg);
    Py_XDECREF(r);
    PyGILState_Release(st);
    return NULL;
}

int ok_spawn_consumer(PyObject *cb)
{
    pthread_t t;
    return pthread_create(&t, NULL, consumer, cb);
}
