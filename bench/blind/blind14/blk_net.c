/* wiretap: TLS socket / compression / fetch helpers */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ft.h"

typedef struct ssl_st SSL;
int SSL_read(SSL *ssl, void *buf, int num);

typedef struct z_stream_s {
    const unsigned char *next_in; unsigned avail_in; unsigned long total_in;
    unsigned char *next_out; unsigned avail_out; unsigned long total_out;
    const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
    int data_type; unsigned long adler; unsigned long reserved;
} z_stream;
int deflate(z_stream *strm, int flush);
#define Z_FINISH 4

typedef void CURL;
int curl_easy_perform(CURL *h);

typedef struct {
    PyObject_HEAD
    SSL *ssl;
    int fd;
    z_stream zs;
    CURL *curl;
} Tap;

static PyObject *bad_ssl_read(PyObject *self, PyObject *arg)
{
    Tap *t = (Tap *)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0 && PyErr_Occurred()) return NULL;
    PyObject *buf = PyBytes_FromStringAndSize(NULL, n);
    if (!buf) return NULL;
    int got = SSL_read(t->ssl, PyBytes_AS_STRING(buf), (int)n);
    if (got <= 0) { Py_DECREF(buf); Py_RETURN_NONE; }
    _PyBytes_Resize(&buf, got);
    return buf;
}

static PyObject *ok_ssl_read(PyObject *self, PyObject *arg)
{
    Tap *t = (Tap *)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0 && PyErr_Occurred()) return NULL;
    PyObject *buf = PyBytes_FromStringAndSize(NULL, n);
    if (!buf) return NULL;
    char *p = PyBytes_AS_STRING(buf);
    int got;
    Py_BEGIN_ALLOW_THREADS
    got = SSL_read(t->ssl, p, (int)n);
    Py_END_ALLOW_THREADS
    if (got <= 0) { Py_DECREF(buf); Py_RETURN_NONE; }
    _PyBytes_Resize(&buf, got);
    return buf;
}

static PyObject *bad_recv_msg(PyObject *self, PyObject *noargs)
{
    Tap *t = (Tap *)self;
    char hdr[16];
    ssize_t r = recv(t->fd, hdr, sizeof hdr, MSG_WAITALL);
    if (r < 0) return PyErr_SetFromErrno(PyExc_OSError);
    return PyBytes_FromStringAndSize(hdr, r);
}

/* MSG_DONTWAIT: never blocks, fine to keep the GIL */
static PyObject *ok_recv_nowait(PyObject *self, PyObject *noargs)
{
    Tap *t = (Tap *)self;
    char hdr[16];
    ssize_t r = recv(t->fd, hdr, sizeof hdr, MSG_DONTWAIT);
    if (r < 0) return PyErr_SetFromErrno(PyExc_OSError);
    return PyBytes_FromStringAndSize(hdr, r);
}

static PyObject *bad_nap(PyObject *self, PyObject *arg)
{
    long secs = PyLong_AsLong(arg);
    if (secs == -1 && PyErr_Occurred()) return NULL;
    sleep((unsigned)secs);
    Py_RETURN_NONE;
}

static PyObject *bad_compress(PyObject *self, PyObject *arg)
{
    Tap *t = (Tap *)self;
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, in.len + 64);
    if (!out) { PyBuffer_Release(&in); return NULL; }
    t->zs.next_in = in.buf; t->zs.avail_in = (unsigned)in.len;
    t->zs.next_out = (unsigned char *)PyBytes_AS_STRING(out);
    t->zs.avail_out = (unsigned)(in.len + 64);
    deflate(&t->zs, Z_FINISH);
    Py_ssize_t produced = (Py_ssize_t)(in.len + 64 - t->zs.avail_out);
    PyBuffer_Release(&in);
    _PyBytes_Resize(&out, produced);
    return out;
}

static PyObject *ok_compress(PyObject *self, PyObject *arg)
{
    Tap *t = (Tap *)self;
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, in.len + 64);
    if (!out) { PyBuffer_Release(&in); return NULL; }
    t->zs.next_in = in.buf; t->zs.avail_in = (unsigned)in.len;
    t->zs.next_out = (unsigned char *)PyBytes_AS_STRING(out);
    t->zs.avail_out = (unsigned)(in.len + 64);
    Py_BEGIN_ALLOW_THREADS
    deflate(&t->zs, Z_FINISH);
    Py_END_ALLOW_THREADS
    Py_ssize_t produced = (Py_ssize_t)(in.len + 64 - t->zs.avail_out);
    PyBuffer_Release(&in);
    _PyBytes_Resize(&out, produced);
    return out;
}

static PyObject *bad_fetch(PyObject *self, PyObject *noargs)
{
    Tap *t = (Tap *)self;
    int rc = curl_easy_perform(t->curl);
    return PyLong_FromLong(rc);
}

static PyObject *ok_fetch(PyObject *self, PyObject *noargs)
{
    Tap *t = (Tap *)self;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(t->curl);
    Py_END_ALLOW_THREADS
    if (rc != 0) { PyErr_Format(PyExc_RuntimeError, "curl error %d", rc); return NULL; }
    Py_RETURN_NONE;
}

static PyMethodDef tap_methods[] = {
    {"read", bad_ssl_read, METH_O, NULL},
    {"read_safe", ok_ssl_read, METH_O, NULL},
    {"recv_msg", bad_recv_msg, METH_NOARGS, NULL},
    {"recv_nowait", ok_recv_nowait, METH_NOARGS, NULL},
    {"nap", bad_nap, METH_O, NULL},
    {"compress", bad_compress, METH_O, NULL},
    {"compress_safe", ok_compress, METH_O, NULL},
    {"fetch", bad_fetch, METH_NOARGS, NULL},
    {"fetch_safe", ok_fetch, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};
static PyTypeObject TapType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wiretap.Tap", .tp_basicsize = sizeof(Tap),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = tap_methods, .tp_new = PyType_GenericNew,
};
static int helper_exec(PyObject *m)
{
    if (PyType_Ready(&TapType) < 0) return -1;
    Py_INCREF(&TapType);
    if (PyModule_AddObject(m, "Tap", (PyObject *)&TapType) < 0) { Py_DECREF(&TapType); return -1; }
    return 0;
}
static PyModuleDef_Slot tap_slots[] = {
    {Py_mod_exec, helper_exec}, {Py_mod_gil, Py_MOD_GIL_NOT_USED}, {0, NULL}
};
static struct PyModuleDef tap_module = { PyModuleDef_HEAD_INIT, "wiretap", NULL, 0, NULL, tap_slots };
PyMODINIT_FUNC PyInit_wiretap(void) { return PyModuleDef_Init(&tap_module); }
