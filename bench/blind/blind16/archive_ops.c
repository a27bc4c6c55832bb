/*
 * libarchive reader/writer over either a raw fd or a Python file object
 * (libarchive-c style).  The I/O callbacks are collected in static const
 * ops tables; the reader/writer object stores a pointer to one table in
 * __init__, registers its fields with archive_read_set_*_callback() /
 * archive_write_open() in another method, and later methods drive
 * libarchive with the GIL released, so libarchive calls the callbacks
 * without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/types.h>

/* ---- minimal libarchive declarations (<archive.h>, <archive_entry.h>) ---- */
struct archive;
struct archive_entry;
typedef ssize_t la_ssize_t;
typedef long long la_int64_t;

typedef la_ssize_t archive_read_callback(struct archive *, void *_client_data, const void **_buffer);
typedef la_int64_t archive_skip_callback(struct archive *, void *_client_data, la_int64_t request);
typedef la_int64_t archive_seek_callback(struct archive *, void *_client_data, la_int64_t offset, int whence);
typedef la_ssize_t archive_write_callback(struct archive *, void *_client_data, const void *_buffer, size_t _length);
typedef int archive_open_callback(struct archive *, void *_client_data);
typedef int archive_close_callback(struct archive *, void *_client_data);

#define ARCHIVE_EOF 1
#define ARCHIVE_OK 0
#define ARCHIVE_RETRY (-10)
#define ARCHIVE_WARN (-20)
#define ARCHIVE_FAILED (-25)
#define ARCHIVE_FATAL (-30)
#define AE_IFREG 0100000

struct archive *archive_read_new(void);
int archive_read_support_filter_all(struct archive *);
int archive_read_support_format_all(struct archive *);
int archive_read_set_open_callback(struct archive *, archive_open_callback *);
int archive_read_set_read_callback(struct archive *, archive_read_callback *);
int archive_read_set_seek_callback(struct archive *, archive_seek_callback *);
int archive_read_set_skip_callback(struct archive *, archive_skip_callback *);
int archive_read_set_close_callback(struct archive *, archive_close_callback *);
int archive_read_set_callback_data(struct archive *, void *);
int archive_read_open1(struct archive *);
int archive_read_next_header(struct archive *, struct archive_entry **);
la_ssize_t archive_read_data(struct archive *, void *, size_t);
int archive_read_data_skip(struct archive *);
int archive_read_close(struct archive *);
int archive_read_free(struct archive *);

struct archive *archive_write_new(void);
int archive_write_set_format_pax_restricted(struct archive *);
int archive_write_open(struct archive *, void *, archive_open_callback *,
                       archive_write_callback *, archive_close_callback *);
int archive_write_header(struct archive *, struct archive_entry *);
la_ssize_t archive_write_data(struct archive *, const void *, size_t);
int archive_write_close(struct archive *);
int archive_write_free(struct archive *);

const char *archive_error_string(struct archive *);
void archive_set_error(struct archive *, int _err, const char *fmt, ...);

struct archive_entry *archive_entry_new(void);
void archive_entry_free(struct archive_entry *);
const char *archive_entry_pathname(struct archive_entry *);
void archive_entry_set_pathname(struct archive_entry *, const char *);
void archive_entry_set_size(struct archive_entry *, la_int64_t);
void archive_entry_set_filetype(struct archive_entry *, unsigned int);
void archive_entry_set_perm(struct archive_entry *, unsigned short);

/* ---- ops tables ---- */
struct source_ops {
    const char *name;
    archive_open_callback *open;
    archive_read_callback *read;
    archive_skip_callback *skip;
    archive_seek_callback *seek;
    archive_close_callback *close;
};

struct sink_ops {
    archive_open_callback *open;
    archive_write_callback *write;
    archive_close_callback *close;
};

#define READ_BUFSIZE 65536

typedef struct {
    PyObject_HEAD
    struct archive *a;
    const struct source_ops *ops;
    PyObject *fileobj;          /* for the Python-file source */
    int fd;                     /* for the fd source */
    int opened;
    char buf[READ_BUFSIZE];
} Reader;

typedef struct {
    PyObject_HEAD
    struct archive *a;
    const struct sink_ops *ops;
    PyObject *fileobj;
    size_t written;
} Writer;

/* -- Python file-object source -- */

// BAD: thread-entry-without-gil calls fileobj.read() and copies out of the bytes object with no PyGILState_Ensure
static la_ssize_t
pyfile_read(struct archive *a, void *client_data, const void **buffer)
{
    Reader *self = (Reader *)client_data;
    PyObject *data;
    Py_ssize_t n;

    data = PyObject_CallMethod(self->fileobj, "read", "n", (Py_ssize_t)READ_BUFSIZE);
    if (data == NULL) {
        PyErr_Clear();
        archive_set_error(a, EIO, "read() raised");
        return -1;
    }
    if (!PyBytes_Check(data)) {
        Py_DECREF(data);
        archive_set_error(a, EINVAL, "read() did not return bytes");
        return -1;
    }
    n = PyBytes_GET_SIZE(data);
    memcpy(self->buf, PyBytes_AS_STRING(data), (size_t)n);
    Py_DECREF(data);
    *buffer = self->buf;
    return n;
}

// OK: takes the GIL (PyGILState_Ensure) for fileobj.seek(); every return is preceded by PyGILState_Release
static la_int64_t
pyfile_skip(struct archive *a, void *client_data, la_int64_t request)
{
    Reader *self = (Reader *)client_data;
    PyGILState_STATE gil;
    PyObject *before, *after;
    la_int64_t skipped;

    (void)a;
    gil = PyGILState_Ensure();
    before = PyObject_CallMethod(self->fileobj, "tell", NULL);
    if (before == NULL) {
        PyErr_Clear();
        PyGILState_Release(gil);
        return 0;               /* libarchive falls back to reading */
    }
    after = PyObject_CallMethod(self->fileobj, "seek", "Li", request, 1);
    if (after == NULL) {
        PyErr_Clear();
        Py_DECREF(before);
        PyGILState_Release(gil);
        return 0;
    }
    skipped = PyLong_AsLongLong(after) - PyLong_AsLongLong(before);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        skipped = 0;
    }
    Py_DECREF(after);
    Py_DECREF(before);
    PyGILState_Release(gil);
    return skipped;
}

// BAD: thread-entry-without-gil calls fileobj.seek() and PyLong_AsLongLong without holding the GIL
static la_int64_t
pyfile_seek(struct archive *a, void *client_data, la_int64_t offset, int whence)
{
    Reader *self = (Reader *)client_data;
    PyObject *pos;
    la_int64_t r;

    pos = PyObject_CallMethod(self->fileobj, "seek", "Li", offset, whence);
    if (pos == NULL) {
        PyErr_Clear();
        archive_set_error(a, EIO, "seek() raised");
        return ARCHIVE_FATAL;
    }
    r = PyLong_AsLongLong(pos);
    Py_DECREF(pos);
    return r;
}

// OK: GIL taken with PyGILState_Ensure; the error path jumps to the label that releases it
static int
pyfile_close(struct archive *a, void *client_data)
{
    Reader *self = (Reader *)client_data;
    PyGILState_STATE gil;
    PyObject *res;
    int rc = ARCHIVE_OK;

    (void)a;
    gil = PyGILState_Ensure();
    if (self->fileobj == NULL)
        goto out;
    res = PyObject_CallMethod(self->fileobj, "close", NULL);
    if (res == NULL) {
        PyErr_WriteUnraisable(self->fileobj);
        rc = ARCHIVE_FATAL;
        goto out;
    }
    Py_DECREF(res);
out:
    PyGILState_Release(gil);
    return rc;
}

static const struct source_ops pyfile_source_ops = {
    .name = "pyfile",
    .open = NULL,
    .read = pyfile_read,
    .skip = pyfile_skip,
    .seek = pyfile_seek,
    .close = pyfile_close,
};

/* -- raw fd source: pure C -- */

// OK: pure C, rewinds the descriptor with lseek
static int
fd_open(struct archive *a, void *client_data)
{
    Reader *self = (Reader *)client_data;
    if (lseek(self->fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
        archive_set_error(a, errno, "lseek failed");
        return ARCHIVE_FATAL;
    }
    return ARCHIVE_OK;
}

// OK: pure C read(2) into the object's buffer
static la_ssize_t
fd_read(struct archive *a, void *client_data, const void **buffer)
{
    Reader *self = (Reader *)client_data;
    ssize_t n;

    do {
        n = read(self->fd, self->buf, sizeof(self->buf));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        archive_set_error(a, errno, "read failed");
        return -1;
    }
    *buffer = self->buf;
    return n;
}

// OK: pure C lseek(2)
static la_int64_t
fd_skip(struct archive *a, void *client_data, la_int64_t request)
{
    Reader *self = (Reader *)client_data;
    off_t old, now;
    (void)a;
    old = lseek(self->fd, 0, SEEK_CUR);
    if (old < 0)
        return 0;
    now = lseek(self->fd, (off_t)request, SEEK_CUR);
    if (now < 0)
        return 0;
    return (la_int64_t)(now - old);
}

// OK: pure C lseek(2)
static la_int64_t
fd_seek(struct archive *a, void *client_data, la_int64_t offset, int whence)
{
    Reader *self = (Reader *)client_data;
    off_t r = lseek(self->fd, (off_t)offset, whence);
    if (r < 0) {
        archive_set_error(a, errno, "seek failed");
        return ARCHIVE_FATAL;
    }
    return (la_int64_t)r;
}

// OK: pure C close(2)
static int
fd_close(struct archive *a, void *client_data)
{
    Reader *self = (Reader *)client_data;
    (void)a;
    if (self->fd >= 0) {
        close(self->fd);
        self->fd = -1;
    }
    return ARCHIVE_OK;
}

static const struct source_ops fd_source_ops = {
    .name = "fd",
    .open = fd_open,
    .read = fd_read,
    .skip = fd_skip,
    .seek = fd_seek,
    .close = fd_close,
};

/* -- Python file-object sink -- */

// BAD: thread-entry-without-gil wraps the buffer with PyBytes_FromStringAndSize and calls fileobj.write() without the GIL
static la_ssize_t
pysink_write(struct archive *a, void *client_data, const void *buffer, size_t length)
{
    Writer *self = (Writer *)client_data;
    PyObject *chunk, *res;

    chunk = PyBytes_FromStringAndSize(buffer, (Py_ssize_t)length);
    if (chunk == NULL)
        goto fail;
    res = PyObject_CallMethod(self->fileobj, "write", "O", chunk);
    Py_DECREF(chunk);
    if (res == NULL)
        goto fail;
    Py_DECREF(res);
    self->written += length;
    return (la_ssize_t)length;

fail:
    PyErr_Clear();
    archive_set_error(a, EIO, "write() raised");
    return -1;
}

// OK: flushes the Python file under PyGILState_Ensure/PyGILState_Release
static int
pysink_close(struct archive *a, void *client_data)
{
    Writer *self = (Writer *)client_data;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *res = PyObject_CallMethod(self->fileobj, "flush", NULL);
    int rc = ARCHIVE_OK;
    (void)a;
    if (res == NULL) {
        PyErr_WriteUnraisable(self->fileobj);
        rc = ARCHIVE_FATAL;
    }
    Py_XDECREF(res);
    PyGILState_Release(gil);
    return rc;
}

static const struct sink_ops pyfile_sink_ops = {
    .open = NULL,
    .write = pysink_write,
    .close = pysink_close,
};

/* ---- Reader ---- */
static int
Reader_init(Reader *self, PyObject *args, PyObject *kwds)
{
    PyObject *src;

    if (!PyArg_ParseTuple(args, "O", &src))
        return -1;
    self->fd = -1;
    if (PyLong_Check(src)) {
        self->fd = (int)PyLong_AsLong(src);
        if (self->fd == -1 && PyErr_Occurred())
            return -1;
        self->ops = &fd_source_ops;
    } else {
        Py_INCREF(src);
        Py_XSETREF(self->fileobj, src);
        self->ops = &pyfile_source_ops;
    }
    self->a = archive_read_new();
    if (self->a == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    archive_read_support_filter_all(self->a);
    archive_read_support_format_all(self->a);
    return 0;
}

/* hand the callbacks from the stored ops table to libarchive */
static int
Reader_install_callbacks(Reader *self)
{
    const struct source_ops *ops = self->ops;

    if (ops->open != NULL && archive_read_set_open_callback(self->a, ops->open) != ARCHIVE_OK)
        goto fail;
    if (archive_read_set_read_callback(self->a, ops->read) != ARCHIVE_OK)
        goto fail;
    if (ops->skip != NULL && archive_read_set_skip_callback(self->a, ops->skip) != ARCHIVE_OK)
        goto fail;
    if (ops->seek != NULL && archive_read_set_seek_callback(self->a, ops->seek) != ARCHIVE_OK)
        goto fail;
    if (archive_read_set_close_callback(self->a, ops->close) != ARCHIVE_OK)
        goto fail;
    if (archive_read_set_callback_data(self->a, self) != ARCHIVE_OK)
        goto fail;
    return 0;
fail:
    PyErr_Format(PyExc_RuntimeError, "%s: %s", ops->name, archive_error_string(self->a));
    return -1;
}

static PyObject *
Reader_open(Reader *self, PyObject *noargs)
{
    int r;

    if (self->opened)
        Py_RETURN_NONE;
    if (Reader_install_callbacks(self) < 0)
        return NULL;

    Py_BEGIN_ALLOW_THREADS
    r = archive_read_open1(self->a);
    Py_END_ALLOW_THREADS

    if (r != ARCHIVE_OK) {
        PyErr_SetString(PyExc_OSError, archive_error_string(self->a));
        return NULL;
    }
    self->opened = 1;
    Py_RETURN_NONE;
}

static PyObject *
Reader_next(Reader *self, PyObject *noargs)
{
    struct archive_entry *entry;
    int r;

    Py_BEGIN_ALLOW_THREADS
    r = archive_read_next_header(self->a, &entry);
    Py_END_ALLOW_THREADS

    if (r == ARCHIVE_EOF)
        Py_RETURN_NONE;
    if (r < ARCHIVE_WARN) {
        PyErr_SetString(PyExc_OSError, archive_error_string(self->a));
        return NULL;
    }
    return PyUnicode_DecodeFSDefault(archive_entry_pathname(entry));
}

static PyObject *
Reader_read_data(Reader *self, PyObject *args)
{
    Py_ssize_t size = 65536;
    PyObject *out;
    PyThreadState *ts;
    la_ssize_t n;

    if (!PyArg_ParseTuple(args, "|n", &size))
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL)
        return NULL;

    ts = PyEval_SaveThread();
    n = archive_read_data(self->a, PyBytes_AS_STRING(out), (size_t)size);
    PyEval_RestoreThread(ts);

    if (n < 0) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_OSError, archive_error_string(self->a));
        return NULL;
    }
    if (_PyBytes_Resize(&out, n) < 0)
        return NULL;
    return out;
}

static PyObject *
Reader_skip_data(Reader *self, PyObject *noargs)
{
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = archive_read_data_skip(self->a);
    Py_END_ALLOW_THREADS
    if (r != ARCHIVE_OK) {
        PyErr_SetString(PyExc_OSError, archive_error_string(self->a));
        return NULL;
    }
    Py_RETURN_NONE;
}

static void
Reader_dealloc(Reader *self)
{
    if (self->a) {
        struct archive *a = self->a;
        self->a = NULL;
        Py_BEGIN_ALLOW_THREADS
        archive_read_free(a);     /* runs the close callback */
        Py_END_ALLOW_THREADS
    }
    Py_XDECREF(self->fileobj);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- Writer ---- */
static int
Writer_init(Writer *self, PyObject *args, PyObject *kwds)
{
    PyObject *fileobj;
    if (!PyArg_ParseTuple(args, "O", &fileobj))
        return -1;
    Py_INCREF(fileobj);
    Py_XSETREF(self->fileobj, fileobj);
    self->ops = &pyfile_sink_ops;
    self->a = archive_write_new();
    if (self->a == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    archive_write_set_format_pax_restricted(self->a);
    return 0;
}

static PyObject *
Writer_open(Writer *self, PyObject *noargs)
{
    if (archive_write_open(self->a, self, self->ops->open, self->ops->write,
                           self->ops->close) != ARCHIVE_OK) {
        PyErr_SetString(PyExc_OSError, archive_error_string(self->a));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Writer_add(Writer *self, PyObject *args)
{
    const char *name;
    Py_buffer data;
    struct archive_entry *entry;
    la_ssize_t n = 0;
    int r;

    if (!PyArg_ParseTuple(args, "sy*", &name, &data))
        return NULL;
    entry = archive_entry_new();
    if (entry == NULL) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    archive_entry_set_pathname(entry, name);
    archive_entry_set_size(entry, (la_int64_t)data.len);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);

    Py_BEGIN_ALLOW_THREADS
    r = archive_write_header(self->a, entry);
    if (r == ARCHIVE_OK)
        n = archive_write_data(self->a, data.buf, (size_t)data.len);
    Py_END_ALLOW_THREADS

    archive_entry_free(entry);
    PyBuffer_Release(&data);
    if (r != ARCHIVE_OK || n < 0) {
        PyErr_SetString(PyExc_OSError, archive_error_string(self->a));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Writer_close(Writer *self, PyObject *noargs)
{
    PyThreadState *ts;
    int r;

    ts = PyEval_SaveThread();
    r = archive_write_close(self->a);
    PyEval_RestoreThread(ts);
    if (r != ARCHIVE_OK) {
        PyErr_SetString(PyExc_OSError, archive_error_string(self->a));
        return NULL;
    }
    return PyLong_FromSize_t(self->written);
}

static void
Writer_dealloc(Writer *self)
{
    if (self->a)
        archive_write_free(self->a);
    Py_XDECREF(self->fileobj);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Reader_methods[] = {
    {"open", (PyCFunction)Reader_open, METH_NOARGS, NULL},
    {"next", (PyCFunction)Reader_next, METH_NOARGS, NULL},
    {"read_data", (PyCFunction)Reader_read_data, METH_VARARGS, NULL},
    {"skip_data", (PyCFunction)Reader_skip_data, METH_NOARGS, NULL},
    {NULL}
};
static PyMethodDef Writer_methods[] = {
    {"open", (PyCFunction)Writer_open, METH_NOARGS, NULL},
    {"add", (PyCFunction)Writer_add, METH_VARARGS, NULL},
    {"close", (PyCFunction)Writer_close, METH_NOARGS, NULL},
    {NULL}
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_larchive.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_methods = Reader_methods,
    .tp_init = (initproc)Reader_init,
    .tp_new = PyType_GenericNew,
};
static PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_larchive.Writer",
    .tp_basicsize = sizeof(Writer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Writer_dealloc,
    .tp_methods = Writer_methods,
    .tp_init = (initproc)Writer_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef larchivemodule = {
    PyModuleDef_HEAD_INIT, "_larchive", NULL, -1, NULL
};

PyMODINIT_FUNC
PyInit__larchive(void)
{
    PyObject *m;
    if (PyType_Ready(&ReaderType) < 0 || PyType_Ready(&WriterType) < 0)
        return NULL;
    m = PyModule_Create(&larchivemodule);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ReaderType);
    PyModule_AddObject(m, "Reader", (PyObject *)&ReaderType);
    Py_INCREF(&WriterType);
    PyModule_AddObject(m, "Writer", (PyObject *)&WriterType);
    return m;
}
