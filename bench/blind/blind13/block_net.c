/* _netio: socket and TLS primitives used by a Python RPC client/server. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

/* ---- openssl/ssl.h, openssl/bio.h (subset) ---- */
typedef struct ssl_st SSL;
typedef struct bio_st BIO;
int SSL_connect(SSL *ssl);
int SSL_read(SSL *ssl, void *buf, int num);
int SSL_write(SSL *ssl, const void *buf, int num);
int SSL_get_error(const SSL *ssl, int ret);
int SSL_pending(const SSL *ssl);
int BIO_read(BIO *b, void *data, int dlen);
#define SSL_ERROR_ZERO_RETURN 6
/* ---- end ---- */

typedef struct {
    PyObject_HEAD
    int fd;
    SSL *ssl;
    BIO *rbio;
    int epfd;
    PyObject *handler;   /* server: callable(conn_fd) */
    pthread_t acceptor;
    double timeout;
} Sock;

static PyObject *
bad_sock_recv(Sock *self, PyObject *args)
{
    Py_ssize_t n;
    PyObject *buf;
    ssize_t got;

    if (!PyArg_ParseTuple(args, "n", &n))
        return NULL;
    buf = PyBytes_FromStringAndSize(NULL, n);
    if (buf == NULL)
        return NULL;
    got = recv(self->fd, PyBytes_AS_STRING(buf), (size_t)n, 0);
    if (got < 0) {
        Py_DECREF(buf);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    _PyBytes_Resize(&buf, got);
    return buf;
}

static PyObject *
ok_sock_recv_into(Sock *self, PyObject *args)
{
    Py_buffer view;
    ssize_t got;
    int saved;

    if (!PyArg_ParseTuple(args, "w*", &view))
        return NULL;
    do {
        Py_BEGIN_ALLOW_THREADS
        got = recv(self->fd, view.buf, (size_t)view.len, 0);
        Py_END_ALLOW_THREADS
        saved = errno;
    } while (got < 0 && saved == EINTR && PyErr_CheckSignals() == 0);
    PyBuffer_Release(&view);
    if (got < 0) {
        if (!PyErr_Occurred()) {
            errno = saved;
            PyErr_SetFromErrno(PyExc_OSError);
        }
        return NULL;
    }
    return PyLong_FromSsize_t(got);
}

static PyObject *
bad_sock_connect(Sock *self, PyObject *args)
{
    unsigned int addr;
    unsigned short port;
    struct sockaddr_in sin;

    if (!PyArg_ParseTuple(args, "IH", &addr, &port))
        return NULL;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(addr);
    if (connect(self->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        return PyErr_SetFromErrno(PyExc_ConnectionError);
    Py_RETURN_NONE;
}

static PyObject *
bad_ssl_read(Sock *self, PyObject *arg)
{
    int len = _PyLong_AsInt(arg), n, err;
    PyObject *out;

    if (len < 0 && PyErr_Occurred())
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, len);
    if (out == NULL)
        return NULL;
    n = SSL_read(self->ssl, PyBytes_AS_STRING(out), len);
    if (n <= 0) {
        err = SSL_get_error(self->ssl, n);
        Py_DECREF(out);
        if (err == SSL_ERROR_ZERO_RETURN)
            return PyBytes_FromStringAndSize("", 0);
        PyErr_Format(PyExc_OSError, "SSL_read failed: %d", err);
        return NULL;
    }
    if (n < len)
        _PyBytes_Resize(&out, n);
    return out;
}

static PyObject *
ok_ssl_write(Sock *self, PyObject *args)
{
    Py_buffer data;
    int n, err = 0;

    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    if (data.len > INT_MAX) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_OverflowError, "string longer than 2GB");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    n = SSL_write(self->ssl, data.buf, (int)data.len);
    if (n <= 0)
        err = SSL_get_error(self->ssl, n);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    if (n <= 0) {
        PyErr_Format(PyExc_OSError, "SSL_write failed: %d", err);
        return NULL;
    }
    return PyLong_FromLong(n);
}

static PyObject *
bad_ssl_handshake(Sock *self, PyObject *Py_UNUSED(ignored))
{
    int rc = SSL_connect(self->ssl);
    if (rc != 1) {
        PyErr_Format(PyExc_ConnectionError, "handshake failed: %d",
                     SSL_get_error(self->ssl, rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ok_ssl_handshake(Sock *self, PyObject *Py_UNUSED(ignored))
{
    int rc, err = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = SSL_connect(self->ssl);
    if (rc != 1)
        err = SSL_get_error(self->ssl, rc);
    Py_END_ALLOW_THREADS
    if (rc != 1) {
        PyErr_Format(PyExc_ConnectionError, "handshake failed: %d", err);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
bad_bio_drain(Sock *self, PyObject *Py_UNUSED(ignored))
{
    char chunk[16384];
    PyObject *acc = PyBytes_FromStringAndSize("", 0);
    int n;

    while (acc != NULL && (n = BIO_read(self->rbio, chunk, sizeof(chunk))) > 0) {
        PyObject *piece = PyBytes_FromStringAndSize(chunk, n);
        PyBytes_ConcatAndDel(&acc, piece);
    }
    return acc;
}

static PyObject *
bad_sock_wait_readable(Sock *self, PyObject *Py_UNUSED(ignored))
{
    struct pollfd pfd;
    int rc;

    pfd.fd = self->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    rc = poll(&pfd, 1, self->timeout < 0 ? -1 : (int)(self->timeout * 1000));
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBool_FromLong(rc > 0);
}

static PyObject *
ok_sock_select(Sock *self, PyObject *Py_UNUSED(ignored))
{
    fd_set rfds;
    struct timeval tv, *tvp = NULL;
    int rc;

    FD_ZERO(&rfds);
    FD_SET(self->fd, &rfds);
    if (self->timeout >= 0) {
        tv.tv_sec = (long)self->timeout;
        tv.tv_usec = (long)((self->timeout - (double)tv.tv_sec) * 1e6);
        tvp = &tv;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = select(self->fd + 1, &rfds, NULL, NULL, tvp);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBool_FromLong(rc > 0);
}

static PyObject *
bad_epoll_poll(Sock *self, PyObject *args)
{
    struct epoll_event evs[64];
    int timeout_ms = -1, n, i;
    PyObject *out;

    if (!PyArg_ParseTuple(args, "|i", &timeout_ms))
        return NULL;
    n = epoll_wait(self->epfd, evs, 64, timeout_ms);
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *t = Py_BuildValue("(iI)", evs[i].data.fd, evs[i].events);
        if (t == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static PyObject *
bad_retry_backoff(Sock *self, PyObject *args)
{
    int attempts, i;
    unsigned int delay_us = 1000;
    (void)self;

    if (!PyArg_ParseTuple(args, "i", &attempts))
        return NULL;
    for (i = 0; i < attempts; i++) {
        if (send(self->fd, "", 0, MSG_DONTWAIT) == 0)
            Py_RETURN_TRUE;
        usleep(delay_us);
        delay_us *= 2;
    }
    Py_RETURN_FALSE;
}

static PyObject *
ok_throttle(Sock *self, PyObject *arg)
{
    double secs = PyFloat_AsDouble(arg);
    struct timespec ts;
    int rc;
    (void)self;

    if (secs == -1.0 && PyErr_Occurred())
        return NULL;
    ts.tv_sec = (time_t)secs;
    ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
    Py_BEGIN_ALLOW_THREADS
    rc = nanosleep(&ts, NULL);
    Py_END_ALLOW_THREADS
    if (rc < 0 && errno != EINTR)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* Acceptor thread: created with pthread_create, never holds the GIL while waiting. */
static void *
ok_acceptor_main(void *arg)
{
    Sock *self = (Sock *)arg;
    for (;;) {
        PyGILState_STATE g;
        PyObject *r;
        int cfd = accept(self->fd, NULL, NULL);
        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        g = PyGILState_Ensure();
        r = PyObject_CallFunction(self->handler, "i", cfd);
        if (r == NULL)
            PyErr_WriteUnraisable(self->handler);
        else
            Py_DECREF(r);
        PyGILState_Release(g);
    }
    return NULL;
}

/* Variant used by the "inline" server mode: keeps the GIL across accept(). */
static void *
bad_acceptor_main_locked(void *arg)
{
    Sock *self = (Sock *)arg;
    PyGILState_STATE g = PyGILState_Ensure();
    for (;;) {
        PyObject *r;
        int cfd = accept(self->fd, NULL, NULL);
        if (cfd < 0)
            break;
        r = PyObject_CallFunction(self->handler, "i", cfd);
        if (r == NULL) {
            PyErr_WriteUnraisable(self->handler);
            continue;
        }
        Py_DECREF(r);
    }
    PyGILState_Release(g);
    return NULL;
}

static PyObject *
Sock_serve(Sock *self, PyObject *args)
{
    PyObject *handler;
    int inline_mode = 0, rc;

    if (!PyArg_ParseTuple(args, "O|p", &handler, &inline_mode))
        return NULL;
    Py_XSETREF(self->handler, Py_NewRef(handler));
    rc = pthread_create(&self->acceptor, NULL,
                        inline_mode ? bad_acceptor_main_locked : ok_acceptor_main, self);
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pthread_detach(self->acceptor);
    Py_RETURN_NONE;
}

static PyMethodDef Sock_methods[] = {
    {"recv", (PyCFunction)bad_sock_recv, METH_VARARGS, NULL},
    {"recv_into", (PyCFunction)ok_sock_recv_into, METH_VARARGS, NULL},
    {"connect", (PyCFunction)bad_sock_connect, METH_VARARGS, NULL},
    {"ssl_read", (PyCFunction)bad_ssl_read, METH_O, NULL},
    {"ssl_write", (PyCFunction)ok_ssl_write, METH_VARARGS, NULL},
    {"handshake_fast", (PyCFunction)bad_ssl_handshake, METH_NOARGS, NULL},
    {"handshake", (PyCFunction)ok_ssl_handshake, METH_NOARGS, NULL},
    {"bio_drain", (PyCFunction)bad_bio_drain, METH_NOARGS, NULL},
    {"wait_readable", (PyCFunction)bad_sock_wait_readable, METH_NOARGS, NULL},
    {"select", (PyCFunction)ok_sock_select, METH_NOARGS, NULL},
    {"epoll", (PyCFunction)bad_epoll_poll, METH_VARARGS, NULL},
    {"retry", (PyCFunction)bad_retry_backoff, METH_VARARGS, NULL},
    {"throttle", (PyCFunction)ok_throttle, METH_O, NULL},
    {"serve", (PyCFunction)Sock_serve, METH_VARARGS, NULL},
    {NULL}
};
static PyTypeObject SockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_netio.Sock", .tp_basicsize = sizeof(Sock),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Sock_methods, .tp_new = PyType_GenericNew,
};
static struct PyModuleDef netio_module = { PyModuleDef_HEAD_INIT, "_netio", NULL, -1, NULL };

PyMODINIT_FUNC
PyInit__netio(void)
{
    PyObject *m;
    if (PyType_Ready(&SockType) < 0)
        return NULL;
    m = PyModule_Create(&netio_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&SockType);
    PyModule_AddObject(m, "Sock", (PyObject *)&SockType);
    return m;
}
