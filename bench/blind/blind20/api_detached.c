/* api-without-gil: a file-digest module that detaches around I/O, and
 * a native completion callback.  Python C API calls need an attached
 * thread state even on a free-threaded build. */
#include <Python.h>
#include <errno.h>
#include <unistd.h>
#include "ft_fixture.h"

typedef struct {
    PyObject_HEAD
    int fd;
    PyMutex stats_lock;
    Py_ssize_t bytes_read;
    PyObject *last_error;
} DigestObject;

typedef struct {
    PyInterpreterView *view;
    PyObject *callback;
} Completion;

static uint32_t
fnv1a(const unsigned char *p, size_t n, uint32_t h)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

// BAD: api-without-gil Py_DECREF of the callback result after PyThreadState_Release
static void
bad_on_complete(Completion *c, long status)
{
    PyThreadState *ts = PyThreadState_EnsureFromView(c->view);
    if (ts == NULL) {
        return;
    }
    PyObject *res = PyObject_CallFunction(c->callback, "l", status);
    if (res == NULL) {
        PyErr_WriteUnraisable(c->callback);
    }
    PyThreadState_Release(ts);
    Py_XDECREF(res);                /* no thread state any more */
}

// OK: result dropped before the thread state is released
static void
ok_on_complete(Completion *c, long status)
{
    PyThreadState *ts = PyThreadState_EnsureFromView(c->view);
    if (ts == NULL) {
        return;
    }
    PyObject *res = PyObject_CallFunction(c->callback, "l", status);
    if (res == NULL) {
        PyErr_WriteUnraisable(c->callback);
    }
    Py_XDECREF(res);
    PyThreadState_Release(ts);
}

// BAD: api-without-gil PyErr_SetFromErrno called inside Py_BEGIN_ALLOW_THREADS on a read error
static PyObject *
bad_digest_read(DigestObject *self, PyObject *Py_UNUSED(ignored))
{
    unsigned char buf[8192];
    uint32_t h = 2166136261u;
    ssize_t n;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    while ((n = read(self->fd, buf, sizeof(buf))) > 0) {
        h = fnv1a(buf, (size_t)n, h);
    }
    if (n < 0) {
        PyErr_SetFromErrno(PyExc_OSError);  /* detached here */
        failed = 1;
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        return NULL;
    }
    return PyLong_FromUnsignedLong(h);
}

// OK: Py_BLOCK_THREADS re-attaches before raising and returning from inside the block (CPython's own idiom)
static PyObject *
ok_digest_read(DigestObject *self, PyObject *Py_UNUSED(ignored))
{
    unsigned char buf[8192];
    uint32_t h = 2166136261u;
    ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    while ((n = read(self->fd, buf, sizeof(buf))) > 0) {
        h = fnv1a(buf, (size_t)n, h);
    }
    if (n < 0) {
        Py_BLOCK_THREADS
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLong(h);
}

// BAD: api-without-gil Py_CLEAR of a Python field while detached
static PyObject *
bad_digest_reset(DigestObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_BEGIN_ALLOW_THREADS
    (void)lseek(self->fd, 0, SEEK_SET);
    Py_CLEAR(self->last_error);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// OK: PyMutex and the raw allocator may be used without an attached thread state
static PyObject *
ok_digest_scan(DigestObject *self, PyObject *Py_UNUSED(ignored))
{
    uint32_t h = 2166136261u;
    ssize_t total = 0;
    int nomem = 0;
    Py_BEGIN_ALLOW_THREADS
    unsigned char *buf = PyMem_RawMalloc(1 << 16);
    if (buf == NULL) {
        nomem = 1;
    }
    else {
        ssize_t n;
        while ((n = read(self->fd, buf, 1 << 16)) > 0) {
            h = fnv1a(buf, (size_t)n, h);
            total += n;
        }
        PyMem_RawFree(buf);
    }
    PyMutex_Lock(&self->stats_lock);
    self->bytes_read += total;
    PyMutex_Unlock(&self->stats_lock);
    Py_END_ALLOW_THREADS
    if (nomem) {
        return PyErr_NoMemory();
    }
    return PyLong_FromUnsignedLong(h);
}

// BAD: api-without-gil PyBytes_AsString/PyBytes_Size called on the argument after detaching
static PyObject *
bad_digest_bytes(DigestObject *self, PyObject *data)
{
    uint32_t h = 2166136261u;
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "bytes expected");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    h = fnv1a((const unsigned char *)PyBytes_AsString(data),
              (size_t)PyBytes_Size(data), h);
    Py_END_ALLOW_THREADS
    (void)self;
    return PyLong_FromUnsignedLong(h);
}

// OK: buffer pointer and size captured while attached, only plain C runs detached
static PyObject *
ok_digest_bytes(DigestObject *self, PyObject *data)
{
    uint32_t h = 2166136261u;
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "bytes expected");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    size_t n = (size_t)PyBytes_GET_SIZE(data);
    Py_INCREF(data);                /* keep the buffer alive while detached */
    Py_BEGIN_ALLOW_THREADS
    h = fnv1a(p, n, h);
    Py_END_ALLOW_THREADS
    Py_DECREF(data);
    (void)self;
    return PyLong_FromUnsignedLong(h);
}
