/*
 * _wire: socket, TLS and subprocess helpers for a message-bus client.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <arpa/inet.h>

/* --- OpenSSL (openssl/ssl.h) prototypes --- */
typedef struct ssl_st SSL;
int SSL_read(SSL *ssl, void *buf, int num);
int SSL_write(SSL *ssl, const void *buf, int num);
int SSL_get_error(const SSL *ssl, int ret);
#define SSL_ERROR_ZERO_RETURN 6

// BAD: blocking-with-gil  reads a length-prefixed frame from a blocking socket with recv(MSG_WAITALL) while holding the GIL
static PyObject *
bad_recv_frame(PyObject *mod, PyObject *args)
{
    int fd;
    uint32_t be_len;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    ssize_t n = recv(fd, &be_len, sizeof be_len, MSG_WAITALL);
    if (n != (ssize_t)sizeof be_len)
        return n < 0 ? PyErr_SetFromErrno(PyExc_OSError) : PyBytes_FromStringAndSize("", 0);
    size_t len = ntohl(be_len);
    PyObject *buf = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
    if (buf == NULL)
        return NULL;
    size_t got = 0;
    while (got < len) {
        n = recv(fd, PyBytes_AS_STRING(buf) + got, len - got, 0);
        if (n <= 0) {
            Py_DECREF(buf);
            return n < 0 ? PyErr_SetFromErrno(PyExc_OSError)
                         : (PyErr_SetString(PyExc_EOFError, "peer closed"), NULL);
        }
        got += (size_t)n;
    }
    (void)mod;
    return buf;
}

// OK: MSG_DONTWAIT makes recv return EAGAIN immediately instead of waiting, so holding the GIL is fine
static PyObject *
ok_try_recv(PyObject *mod, PyObject *args)
{
    int fd;
    Py_ssize_t maxlen = 65536;
    if (!PyArg_ParseTuple(args, "i|n", &fd, &maxlen))
        return NULL;
    PyObject *buf = PyBytes_FromStringAndSize(NULL, maxlen);
    if (buf == NULL)
        return NULL;
    ssize_t n = recv(fd, PyBytes_AS_STRING(buf), (size_t)maxlen, MSG_DONTWAIT);
    if (n < 0) {
        Py_DECREF(buf);
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            Py_RETURN_NONE;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (_PyBytes_Resize(&buf, n) < 0)
        return NULL;
    (void)mod;
    return buf;
}

// OK: poll with a zero timeout only samples readiness and never sleeps
static PyObject *
ok_ready_mask(PyObject *mod, PyObject *args)
{
    PyObject *seq;
    struct pollfd pfds[64];
    if (!PyArg_ParseTuple(args, "O", &seq))
        return NULL;
    Py_ssize_t n = PySequence_Size(seq);
    if (n < 0)
        return NULL;
    if (n > 64) {
        PyErr_SetString(PyExc_ValueError, "at most 64 descriptors");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PySequence_GetItem(seq, i);
        if (o == NULL)
            return NULL;
        pfds[i].fd = (int)PyLong_AsLong(o);
        pfds[i].events = POLLIN;
        pfds[i].revents = 0;
        Py_DECREF(o);
        if (pfds[i].fd == -1 && PyErr_Occurred())
            return NULL;
    }
    if (poll(pfds, (nfds_t)n, 0) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    unsigned long long mask = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (pfds[i].revents & POLLIN)
            mask |= 1ULL << i;
    (void)mod;
    return PyLong_FromUnsignedLongLong(mask);
}

// BAD: blocking-with-gil  poll() with the caller's timeout (default -1, forever) is made while the GIL is held
static PyObject *
bad_wait_readable(PyObject *mod, PyObject *args)
{
    int fd, timeout_ms = -1;
    if (!PyArg_ParseTuple(args, "i|i", &fd, &timeout_ms))
        return NULL;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int rc;
    do {
        rc = poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    (void)mod;
    return PyBool_FromLong(rc > 0);
}

// BAD: blocking-with-gil  SSL_read on a blocking TLS connection waits for the peer with the GIL held
static PyObject *
bad_tls_read(PyObject *mod, PyObject *args)
{
    PyObject *cap;
    int want = 16384;
    if (!PyArg_ParseTuple(args, "O|i", &cap, &want))
        return NULL;
    SSL *ssl = (SSL *)PyCapsule_GetPointer(cap, "_wire.SSL");
    if (ssl == NULL)
        return NULL;
    PyObject *buf = PyBytes_FromStringAndSize(NULL, want);
    if (buf == NULL)
        return NULL;
    int n = SSL_read(ssl, PyBytes_AS_STRING(buf), want);
    if (n <= 0) {
        int err = SSL_get_error(ssl, n);
        Py_DECREF(buf);
        if (err == SSL_ERROR_ZERO_RETURN)
            return PyBytes_FromStringAndSize("", 0);
        PyErr_Format(PyExc_OSError, "SSL_read failed (%d)", err);
        return NULL;
    }
    if (_PyBytes_Resize(&buf, n) < 0)
        return NULL;
    (void)mod;
    return buf;
}

// OK: SSL_write runs released; errors are turned into exceptions after Py_END_ALLOW_THREADS
static PyObject *
ok_tls_write_all(PyObject *mod, PyObject *args)
{
    PyObject *cap;
    Py_buffer view;
    int n = 1, err = 0;
    Py_ssize_t off = 0;
    if (!PyArg_ParseTuple(args, "Oy*", &cap, &view))
        return NULL;
    SSL *ssl = (SSL *)PyCapsule_GetPointer(cap, "_wire.SSL");
    if (ssl == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    while (off < view.len) {
        n = SSL_write(ssl, (const char *)view.buf + off, (int)(view.len - off));
        if (n <= 0) {
            err = SSL_get_error(ssl, n);
            break;
        }
        off += n;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (n <= 0) {
        PyErr_Format(PyExc_OSError, "SSL_write failed (%d)", err);
        return NULL;
    }
    (void)mod;
    return PyLong_FromSsize_t(off);
}

// OK: the child after fork() only calls async-signal-safe functions before exec; the parent waits with the GIL released
static PyObject *
ok_spawn_and_wait(PyObject *mod, PyObject *args)
{
    const char *prog;
    int devnull, status = 0;
    pid_t pid, r;
    if (!PyArg_ParseTuple(args, "s", &prog))
        return NULL;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    pid = fork();
    if (pid < 0) {
        close(devnull);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (pid == 0) {
        /* child: no Python, no GIL bookkeeping, only exec */
        dup2(devnull, 0);
        dup2(devnull, 1);
        execlp(prog, prog, (char *)NULL);
        _exit(127);
    }
    close(devnull);
    Py_BEGIN_ALLOW_THREADS
    do {
        r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    (void)mod;
    return PyLong_FromLong(WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
}

// BAD: blocking-with-gil  fread on a popen() pipe waits for the child's output while the GIL is held
static PyObject *
bad_run_capture(PyObject *mod, PyObject *args)
{
    const char *cmd;
    char chunk[4096];
    size_t n;
    if (!PyArg_ParseTuple(args, "s", &cmd))
        return NULL;
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return PyErr_SetFromErrno(PyExc_OSError);
    PyObject *out = PyByteArray_FromStringAndSize("", 0);
    while (out != NULL && (n = fread(chunk, 1, sizeof chunk, p)) > 0) {
        PyObject *piece = PyByteArray_FromStringAndSize(chunk, (Py_ssize_t)n);
        PyObject *joined = piece ? PyByteArray_Concat(out, piece) : NULL;
        Py_XDECREF(piece);
        Py_SETREF(out, joined);
    }
    int rc = pclose(p);
    if (out != NULL && rc != 0) {
        Py_DECREF(out);
        PyErr_Format(PyExc_RuntimeError, "command exited with status %d", rc);
        return NULL;
    }
    (void)mod;
    return out;
}

static PyMethodDef wire_methods[] = {
    {"recv_frame", bad_recv_frame, METH_VARARGS, NULL},
    {"try_recv", ok_try_recv, METH_VARARGS, NULL},
    {"ready_mask", ok_ready_mask, METH_VARARGS, NULL},
    {"wait_readable", bad_wait_readable, METH_VARARGS, NULL},
    {"tls_read", bad_tls_read, METH_VARARGS, NULL},
    {"tls_write_all", ok_tls_write_all, METH_VARARGS, NULL},
    {"spawn_and_wait", ok_spawn_and_wait, METH_VARARGS, NULL},
    {"run_capture", bad_run_capture, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef wiremod = {PyModuleDef_HEAD_INIT, "_wire", NULL, -1, wire_methods};
PyMODINIT_FUNC PyInit__wire(void) { return PyModule_Create(&wiremod); }
