// PyEval_SaveThread() / PyEval_RestoreThread() pairs where every path out of the released region restores
// first: early returns, goto to a restore label, restores in both branches.
#include <Python.h>
#include <sys/types.h>

extern ssize_t net_send(int sock, const void *buf, size_t len);
extern int net_connect(const char *host, int port);

PyObject *ok_send_all(int sock, const char *buf, size_t len)
{
    size_t sent = 0;
    ssize_t n = 0;
    PyThreadState *ts = PyEval_SaveThread();
    while (sent < len) {
        n = net_send(sock, buf + sent, len - sent);
        if (n < 0)
            break;
        sent += (size_t)n;
    }
    PyEval_RestoreThread(ts);
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromSize_t(sent);
}

int ok_restore_in_both_branches(const char *host, int port)
{
    PyThreadState *ts = PyEval_SaveThread();
    int sock = net_connect(host, port);
    if (sock < 0) {
        PyEval_RestoreThread(ts);
        PyErr_SetFromErrno(PyExc_ConnectionError);
        return -1;
    }
    PyEval_RestoreThread(ts);
    return sock;
}

int ok_goto_restore_label(const char *host, int port, int retries)
{
    int sock = -1;
    PyThreadState *ts = PyEval_SaveThread();
    for (int i = 0; i < retries; i++) {
        sock = net_connect(host, port);
        if (sock >= 0)
            goto connected;
    }
    PyEval_RestoreThread(ts);
    PyErr_SetString(PyExc_TimeoutError, "no connection");
    return -1;
connected:
    PyEval_RestoreThread(ts);
    return sock;
}
