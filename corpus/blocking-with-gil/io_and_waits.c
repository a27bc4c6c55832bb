// Blocking I/O and waits made while holding the GIL: every other Python thread stalls until they return.
#include <Python.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static sem_t jobs_done;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

/* A receive loop that drops the GIL for the first read but forgets to for the retry. */
PyObject *bad_recv_retry_with_gil(PyObject *self, PyObject *arg)
{
    int sock = (int)PyLong_AsLong(arg);
    char buf[1024];
    ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    n = recv(sock, buf, sizeof buf, 0);
    Py_END_ALLOW_THREADS
    if (n == 0)
        n = recv(sock, buf, sizeof buf, 0);        // expect-warning{{may block while this thread holds the GIL}} [blocking-with-gil]
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBytes_FromStringAndSize(buf, n);
}

void bad_wait_from_callback(PyObject *cb)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cb);
    Py_XDECREF(r);
    sem_wait(&jobs_done);                           // expect-warning{{may block}} [blocking-with-gil]
    PyGILState_Release(st);
}

int bad_waitpid_in_child_callback(pid_t pid, PyObject *on_exit)
{
    int status = 0;
    PyGILState_STATE st = PyGILState_Ensure();
    if (waitpid(pid, &status, 0) < 0) {             // expect-warning{{may block}} [blocking-with-gil]
        PyGILState_Release(st);
        return -1;
    }
    PyObject *r = PyObject_CallFunction(on_exit, "i", status);
    Py_XDECREF(r);
    PyGILState_Release(st);
    return 0;
}

PyObject *bad_sleep_after_restore(PyObject *self, PyObject *unused)
{
    PyThreadState *ts = PyEval_SaveThread();
    pthread_mutex_lock(&reg_lock);
    pthread_mutex_unlock(&reg_lock);
    PyEval_RestoreThread(ts);
    sleep(1);                                       // expect-warning{{may block}} [blocking-with-gil]
    Py_RETURN_NONE;
}

PyObject *ok_recv_without_gil(PyObject *self, PyObject *arg)
{
    int sock = (int)PyLong_AsLong(arg);
    if (sock == -1 && PyErr_Occurred())
        return NULL;
    char buf[1024];
    ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    n = recv(sock, buf, sizeof buf, 0);
    Py_END_ALLOW_THREADS
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBytes_FromStringAndSize(buf, n);
}
