// goto from inside a released region to a label after it, where the code expects the GIL.
#include <Python.h>

extern int socket_recv(int sock, char *buf, int len);

PyObject *bad_goto_error_label(int sock)
{
    char buf[256];
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = socket_recv(sock, buf, (int)sizeof buf);
    if (n < 0)
        goto error;
    Py_END_ALLOW_THREADS
    return PyBytes_FromStringAndSize(buf, n);
error:
    PyErr_SetFromErrno(PyExc_OSError);  // expect-error{{needs the GIL}} [api-without-gil]
    return NULL;                        // expect-error{{is not restored}} [allow-threads-leak]
}

int bad_goto_plain_exit(int sock, char *buf, int len)
{
    int n = -1;
    PyThreadState *ts = PyEval_SaveThread();
    if (sock < 0)
        goto out;
    n = socket_recv(sock, buf, len);
    PyEval_RestoreThread(ts);
out:
    return n;   // expect-error{{is not restored}} [allow-threads-leak]
}

PyObject *ok_goto_after_block(int sock)
{
    char buf[256];
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = socket_recv(sock, buf, (int)sizeof buf);
    if (n < 0) {
        Py_BLOCK_THREADS
        goto error;
    }
    Py_END_ALLOW_THREADS
    return PyBytes_FromStringAndSize(buf, n);
error:
    return PyErr_SetFromErrno(PyExc_OSError);
}
