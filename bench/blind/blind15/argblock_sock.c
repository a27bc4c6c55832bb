/* A small socket-connection type.  recv/send block or not depending on the
 * flags argument; getnameinfo does reverse DNS unless NI_NUMERICHOST is
 * passed. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef struct {
    PyObject_HEAD
    int fd;
    int nonblocking;
    struct sockaddr_storage peer;
    socklen_t peerlen;
} ConnObject;

static PyObject *
conn_closed_error(void)
{
    PyErr_SetString(PyExc_ValueError, "I/O operation on closed connection");
    return NULL;
}

/* BAD: recv() with flags 0 on a blocking socket while holding the GIL. */
static PyObject *
bad_Conn_recv(ConnObject *self, PyObject *args)
{
    Py_ssize_t n;
    ssize_t got;
    PyObject *buf;

    if (!PyArg_ParseTuple(args, "n:recv", &n))
        return NULL;
    if (self->fd < 0)
        return conn_closed_error();

    buf = PyBytes_FromStringAndSize(NULL, n);
    if (buf == NULL)
        return NULL;

    got = recv(self->fd, PyBytes_AS_STRING(buf), (size_t)n, 0);
    if (got < 0) {
        Py_DECREF(buf);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (_PyBytes_Resize(&buf, got) < 0)
        return NULL;
    return buf;
}

/* OK: recv() with MSG_DONTWAIT never blocks, so holding the GIL is fine;
 * EAGAIN is reported as None. */
static PyObject *
ok_Conn_recv_nowait(ConnObject *self, PyObject *args)
{
    Py_ssize_t n;
    ssize_t got;
    PyObject *buf;

    if (!PyArg_ParseTuple(args, "n:recv_nowait", &n))
        return NULL;
    if (self->fd < 0)
        return conn_closed_error();

    buf = PyBytes_FromStringAndSize(NULL, n);
    if (buf == NULL)
        return NULL;

    got = recv(self->fd, PyBytes_AS_STRING(buf), (size_t)n, MSG_DONTWAIT);
    if (got < 0) {
        Py_DECREF(buf);
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            Py_RETURN_NONE;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (_PyBytes_Resize(&buf, got) < 0)
        return NULL;
    return buf;
}

/* BAD: flags are MSG_DONTWAIT only when self->nonblocking; in blocking mode
 * the send() with flags MSG_NOSIGNAL runs with the GIL held. */
static PyObject *
bad_Conn_send(ConnObject *self, PyObject *args)
{
    Py_buffer data;
    ssize_t sent;
    int flags;

    if (!PyArg_ParseTuple(args, "y*:send", &data))
        return NULL;
    if (self->fd < 0) {
        PyBuffer_Release(&data);
        return conn_closed_error();
    }

    flags = MSG_NOSIGNAL;
    if (self->nonblocking)
        flags |= MSG_DONTWAIT;

    sent = send(self->fd, data.buf, (size_t)data.len, flags);
    PyBuffer_Release(&data);
    if (sent < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromSsize_t(sent);
}

/* OK: same flag computation, but the blocking form is issued with the GIL
 * released and only the MSG_DONTWAIT form is issued with it held. */
static PyObject *
ok_Conn_send(ConnObject *self, PyObject *args)
{
    Py_buffer data;
    ssize_t sent;
    int flags;

    if (!PyArg_ParseTuple(args, "y*:send", &data))
        return NULL;
    if (self->fd < 0) {
        PyBuffer_Release(&data);
        return conn_closed_error();
    }

    flags = MSG_NOSIGNAL;
    if (self->nonblocking) {
        flags |= MSG_DONTWAIT;
        sent = send(self->fd, data.buf, (size_t)data.len, flags);
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        sent = send(self->fd, data.buf, (size_t)data.len, flags);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    if (sent < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromSsize_t(sent);
}

/* BAD: getnameinfo() without NI_NUMERICHOST performs a reverse DNS lookup,
 * here with the GIL held. */
static PyObject *
bad_Conn_peer_name(ConnObject *self, PyObject *Py_UNUSED(ignored))
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    int rc;

    rc = getnameinfo((struct sockaddr *)&self->peer, self->peerlen,
                     host, sizeof(host), serv, sizeof(serv),
                     NI_NUMERICSERV);
    if (rc != 0) {
        PyErr_SetString(PyExc_OSError, gai_strerror(rc));
        return NULL;
    }
    return Py_BuildValue("(ss)", host, serv);
}

/* OK: NI_NUMERICHOST|NI_NUMERICSERV only formats the address (no DNS), so
 * it is fine with the GIL held. */
static PyObject *
ok_Conn_peer_addr(ConnObject *self, PyObject *Py_UNUSED(ignored))
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    int rc;

    rc = getnameinfo((struct sockaddr *)&self->peer, self->peerlen,
                     host, sizeof(host), serv, sizeof(serv),
                     NI_NUMERICHOST | NI_NUMERICSERV);
    if (rc != 0) {
        PyErr_SetString(PyExc_OSError, gai_strerror(rc));
        return NULL;
    }
    return Py_BuildValue("(ss)", host, serv);
}

static PyMethodDef Conn_methods[] = {
    {"recv", (PyCFunction)bad_Conn_recv, METH_VARARGS, NULL},
    {"recv_nowait", (PyCFunction)ok_Conn_recv_nowait, METH_VARARGS, NULL},
    {"send", (PyCFunction)bad_Conn_send, METH_VARARGS, NULL},
    {"send_fixed", (PyCFunction)ok_Conn_send, METH_VARARGS, NULL},
    {"peer_name", (PyCFunction)bad_Conn_peer_name, METH_NOARGS, NULL},
    {"peer_addr", (PyCFunction)ok_Conn_peer_addr, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};
