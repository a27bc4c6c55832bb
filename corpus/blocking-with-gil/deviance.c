// Blocking by deviance: outside functions no rules file describes, which the project releases the GIL around
// at some call sites and calls with it held at no more sites than that.
#include <Python.h>
#include <string.h>

typedef struct feed feed;
extern int feed_poll(feed *f, char *buf, size_t cap, int timeout_ms);
extern int feed_checksum(const char *buf, size_t n);
extern void feed_log(const char *msg);

typedef struct { PyObject_HEAD feed *f; char buf[512]; } Feed;

static PyObject *ok_feed_read(Feed *self, PyObject *unused)
{
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = feed_poll(self->f, self->buf, sizeof self->buf, 1000);
    Py_END_ALLOW_THREADS
    if (n < 0)
        return PyErr_Format(PyExc_OSError, "poll failed (%d)", n);
    return PyBytes_FromStringAndSize(self->buf, n);
}

static PyObject *ok_feed_read_into(Feed *self, PyObject *arg)
{
    Py_buffer view;
    int n;
    if (PyObject_GetBuffer(arg, &view, PyBUF_WRITABLE) < 0)
        return NULL;
    PyThreadState *ts = PyEval_SaveThread();
    n = feed_poll(self->f, view.buf, (size_t)view.len, 1000);
    memcpy(self->buf, view.buf, n > 0 ? 1 : 0);   // copied in a released region: no evidence that memcpy blocks
    PyEval_RestoreThread(ts);
    PyBuffer_Release(&view);
    return PyLong_FromLong(n);
}

static PyObject *bad_feed_peek(Feed *self, PyObject *unused)
{
    int n = feed_poll(self->f, self->buf, sizeof self->buf, 250);  // expect-warning{{the project releases the GIL around it at deviance.c:17}} [blocking-with-gil]
    memcpy(self->buf + 1, self->buf, 1);
    return PyLong_FromLong(n);
}

// feed_checksum is released around once and called with the GIL held three times: the project treats it as
// cheap, and the one release is no evidence.
static PyObject *ok_checksum_released(Feed *self, PyObject *unused)
{
    int c;
    Py_BEGIN_ALLOW_THREADS
    c = feed_checksum(self->buf, sizeof self->buf);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(c);
}

static PyObject *ok_checksum_a(Feed *self, PyObject *unused) { return PyLong_FromLong(feed_checksum(self->buf, 1)); }
static PyObject *ok_checksum_b(Feed *self, PyObject *unused) { return PyLong_FromLong(feed_checksum(self->buf, 2)); }
static PyObject *ok_checksum_c(Feed *self, PyObject *unused) { return PyLong_FromLong(feed_checksum(self->buf, 3)); }

// Released around once, in passing (freeing the stream inside a region released for the close), and called
// with the GIL held on an error path: one release is too little evidence (lz4's LZ4_freeStreamDecode).
extern void feed_stream_free(feed *f);

static PyObject *ok_close_released(Feed *self, PyObject *unused)
{
    Py_BEGIN_ALLOW_THREADS
    feed_stream_free(self->f);
    Py_END_ALLOW_THREADS
    self->f = NULL;
    Py_RETURN_NONE;
}

static PyObject *ok_open_failed(Feed *self, PyObject *unused)
{
    feed_stream_free(self->f);
    self->f = NULL;
    return PyErr_Format(PyExc_RuntimeError, "could not open the feed");
}

// Never released around: nothing is inferred.
static PyObject *ok_log(Feed *self, PyObject *unused)
{
    feed_log("tick");
    Py_RETURN_NONE;
}

static PyMethodDef Feed_methods[] = {
    {"read", (PyCFunction)ok_feed_read, METH_NOARGS, NULL},
    {"read_into", (PyCFunction)ok_feed_read_into, METH_O, NULL},
    {"peek", (PyCFunction)bad_feed_peek, METH_NOARGS, NULL},
    {"checksum_released", (PyCFunction)ok_checksum_released, METH_NOARGS, NULL},
    {"checksum_a", (PyCFunction)ok_checksum_a, METH_NOARGS, NULL},
    {"checksum_b", (PyCFunction)ok_checksum_b, METH_NOARGS, NULL},
    {"checksum_c", (PyCFunction)ok_checksum_c, METH_NOARGS, NULL},
    {"log", (PyCFunction)ok_log, METH_NOARGS, NULL},
    {"close", (PyCFunction)ok_close_released, METH_NOARGS, NULL},
    {"open_failed", (PyCFunction)ok_open_failed, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
