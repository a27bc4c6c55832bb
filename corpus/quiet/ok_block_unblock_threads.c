// Py_BLOCK_THREADS / Py_UNBLOCK_THREADS inside a Py_BEGIN_ALLOW_THREADS block: take the GIL back for a
// moment (to raise, to call back, or to leave early) and drop it again, or leave with it held.
#include <Python.h>
#include <errno.h>

extern int dev_read(int fd, char *buf, int len);
extern int dev_ready(int fd);

PyObject *ok_block_to_return_early(int fd, char *buf, int len)
{
    int n;
    Py_BEGIN_ALLOW_THREADS
    if (!dev_ready(fd)) {
        Py_BLOCK_THREADS
        PyErr_SetString(PyExc_BlockingIOError, "device not ready");
        return NULL;
    }
    n = dev_read(fd, buf, len);
    Py_END_ALLOW_THREADS
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBytes_FromStringAndSize(buf, n);
}

int ok_callback_between_reads(int fd, PyObject *progress)
{
    char buf[512];
    int total = 0, n;
    Py_BEGIN_ALLOW_THREADS
    while ((n = dev_read(fd, buf, (int)sizeof buf)) > 0) {
        total += n;
        Py_BLOCK_THREADS
        PyObject *r = PyObject_CallFunction(progress, "i", total);
        Py_XDECREF(r);
        Py_UNBLOCK_THREADS
    }
    Py_END_ALLOW_THREADS
    return total;
}

int ok_retry_on_signal(int fd, char *buf, int len)
{
    int n;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        n = dev_read(fd, buf, len);
        Py_END_ALLOW_THREADS
        if (n >= 0 || errno != EINTR)
            break;
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
    return n;
}

int ok_block_then_goto(int fd, char *buf, int len)
{
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = dev_read(fd, buf, len);
    if (n < 0) {
        Py_BLOCK_THREADS
        goto error;
    }
    Py_END_ALLOW_THREADS
    return n;
error:
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

/* Cython-style: the thread-state variable declared by hand, UNBLOCK first, BLOCK at the end. */
int ok_manual_save_variable(int fd, char *buf, int len)
{
    int n;
    PyThreadState *_save;
    Py_UNBLOCK_THREADS
    n = dev_read(fd, buf, len);
    Py_BLOCK_THREADS
    if (n < 0)
        PyErr_SetFromErrno(PyExc_OSError);
    return n;
}
