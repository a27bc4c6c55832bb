/*
 * allow_threads_io.c -- "fastio" extension module: file and socket helpers
 * that drop the GIL around system calls.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- zlib (zlib.h) ---------------------------------------------------- */
typedef unsigned char Bytef;
typedef unsigned int uInt;
typedef unsigned long uLong;
uLong crc32(uLong crc, const Bytef *buf, uInt len);

#define CHUNK 16384
#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

/* Pure C. */
static uint64_t fnv1a64(const void *p, size_t n, uint64_t h)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* Pure C. */
static int is_zero_block(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* Pure C. */
static uLong crc32_large(const void *buf, Py_ssize_t len)
{
    const Bytef *p = buf;
    uLong crc = crc32(0L, NULL, 0);
    while (len > 0) {
        uInt n = len > (Py_ssize_t)0x40000000 ? 0x40000000u : (uInt)len;
        crc = crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return crc;
}

/* Pure C. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Requires the GIL.  Reads up to n bytes, dropping the GIL around each
 * read(); raises OSError and returns -1 on failure.
 */
static Py_ssize_t read_full(int fd, char *buf, Py_ssize_t n)
{
    Py_ssize_t got = 0;
    while (got < n) {
        ssize_t r;
        Py_BEGIN_ALLOW_THREADS
        r = read(fd, buf + got, (size_t)(n - got));
        Py_END_ALLOW_THREADS
        if (r < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    return -1;
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (r == 0)
            break;
        got += r;
    }
    return got;
}

// BAD: nested-release,api-without-gil calls read_full() (which does its own Py_BEGIN_ALLOW_THREADS and raises) inside an allow-threads block
static PyObject *bad_fastio_hash_file(PyObject *self, PyObject *args)
{
    const char *path;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &path))
        return NULL;
    char *buf = PyMem_Malloc(CHUNK);
    if (buf == NULL)
        return PyErr_NoMemory();

    uint64_t h = FNV_OFFSET;
    Py_ssize_t n = 0;
    int fd, saved_errno = 0;
    Py_BEGIN_ALLOW_THREADS
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while ((n = read_full(fd, buf, CHUNK)) > 0)
            h = fnv1a64(buf, (size_t)n, h);
        close(fd);
    } else {
        saved_errno = errno;
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(buf);

    if (fd < 0) {
        errno = saved_errno;
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    }
    if (n < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(h);
}

// OK: only open()/close() run inside allow-threads blocks; read_full() is called with the GIL and releases it itself
static PyObject *ok_fastio_hash_file(PyObject *self, PyObject *args)
{
    const char *path;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &path))
        return NULL;
    char *buf = PyMem_Malloc(CHUNK);
    if (buf == NULL)
        return PyErr_NoMemory();

    int fd;
    Py_BEGIN_ALLOW_THREADS
    fd = open(path, O_RDONLY | O_CLOEXEC);
    Py_END_ALLOW_THREADS
    if (fd < 0) {
        PyMem_Free(buf);
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    }

    uint64_t h = FNV_OFFSET;
    Py_ssize_t n;
    while ((n = read_full(fd, buf, CHUNK)) > 0)
        h = fnv1a64(buf, (size_t)n, h);

    Py_BEGIN_ALLOW_THREADS
    close(fd);
    Py_END_ALLOW_THREADS
    PyMem_Free(buf);
    if (n < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(h);
}

// BAD: allow-threads-leak,nested-release `continue` inside Py_BEGIN_ALLOW_THREADS skips Py_END_ALLOW_THREADS for all-zero (hole) blocks
static PyObject *bad_fastio_sparse_checksum(PyObject *self, PyObject *args)
{
    int fd;
    long long size;
    (void)self;
    if (!PyArg_ParseTuple(args, "iL", &fd, &size))
        return NULL;

    char buf[CHUNK];
    uint64_t h = FNV_OFFSET;
    long long off = 0, holes = 0;
    ssize_t n = 0;
    while (off < size) {
        Py_BEGIN_ALLOW_THREADS
        n = pread(fd, buf, sizeof buf, (off_t)off);
        if (n > 0 && is_zero_block(buf, (size_t)n)) {
            off += n;
            holes++;
            continue;
        }
        if (n > 0)
            h = fnv1a64(buf, (size_t)n, h);
        Py_END_ALLOW_THREADS
        if (n < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        if (n == 0)
            break;
        off += n;
    }
    return Py_BuildValue("KL", (unsigned long long)h, holes);
}

// OK: the hole test is computed inside the block but acted on (continue) only after Py_END_ALLOW_THREADS
static PyObject *ok_fastio_sparse_checksum(PyObject *self, PyObject *args)
{
    int fd;
    long long size;
    (void)self;
    if (!PyArg_ParseTuple(args, "iL", &fd, &size))
        return NULL;

    char buf[CHUNK];
    uint64_t h = FNV_OFFSET;
    long long off = 0, holes = 0;
    ssize_t n = 0;
    int hole = 0;
    while (off < size) {
        Py_BEGIN_ALLOW_THREADS
        n = pread(fd, buf, sizeof buf, (off_t)off);
        hole = n > 0 && is_zero_block(buf, (size_t)n);
        if (n > 0 && !hole)
            h = fnv1a64(buf, (size_t)n, h);
        Py_END_ALLOW_THREADS
        if (n < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        if (n == 0)
            break;
        off += n;
        if (hole) {
            holes++;
            continue;
        }
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    return Py_BuildValue("KL", (unsigned long long)h, holes);
}

// BAD: allow-threads-leak,api-without-gil `goto error` jumps out of the allow-threads block; the error label raises without the GIL
static PyObject *bad_fastio_sync_info(PyObject *self, PyObject *args)
{
    int fd;
    struct stat sb;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;

    Py_BEGIN_ALLOW_THREADS
    if (fstat(fd, &sb) < 0)
        goto error;
    if (fdatasync(fd) < 0 && errno != EINVAL)
        goto error;
    Py_END_ALLOW_THREADS

    return Py_BuildValue("LL", (long long)sb.st_size, (long long)sb.st_blocks);

error:
    return PyErr_SetFromErrno(PyExc_OSError);
}

// OK: error path inside the allow-threads block re-takes the GIL with Py_BLOCK_THREADS before raising and returning
static PyObject *ok_fastio_read_at(PyObject *self, PyObject *args)
{
    int fd;
    long long off;
    Py_ssize_t len;
    (void)self;
    if (!PyArg_ParseTuple(args, "iLn", &fd, &off, &len))
        return NULL;
    if (len < 0) {
        PyErr_SetString(PyExc_ValueError, "negative length");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, len);
    if (out == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(out);

    ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    n = pread(fd, p, (size_t)len, (off_t)off);
    if (n < 0) {
        int err = errno;
        Py_BLOCK_THREADS
        Py_DECREF(out);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_END_ALLOW_THREADS

    if (n < len && _PyBytes_Resize(&out, (Py_ssize_t)n) < 0)
        return NULL;
    return out;
}

// BAD: restore-without-save error path does Py_BLOCK_THREADS inside the block and then falls through to Py_END_ALLOW_THREADS (second restore)
static PyObject *bad_fastio_copy_fd(PyObject *self, PyObject *args)
{
    int src, dst;
    (void)self;
    if (!PyArg_ParseTuple(args, "ii", &src, &dst))
        return NULL;

    char buf[CHUNK];
    long long total = 0;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        ssize_t n = read(src, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 || write_all(dst, buf, (size_t)n) < 0) {
            Py_BLOCK_THREADS
            PyErr_SetFromErrno(PyExc_OSError);
            failed = 1;
            break;
        }
        total += n;
    }
    Py_END_ALLOW_THREADS

    if (failed)
        return NULL;
    return PyLong_FromLongLong(total);
}

// OK: Py_BLOCK_THREADS / Py_UNBLOCK_THREADS pair around the progress callback inside the allow-threads loop
static PyObject *ok_fastio_copy_fd_progress(PyObject *self, PyObject *args)
{
    int src, dst;
    PyObject *progress = Py_None;
    (void)self;
    if (!PyArg_ParseTuple(args, "ii|O", &src, &dst, &progress))
        return NULL;

    char buf[CHUNK];
    long long total = 0, last_report = 0;
    int err = 0, saved_errno = 0;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        ssize_t n = read(src, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 || write_all(dst, buf, (size_t)n) < 0) {
            saved_errno = errno;
            err = -1;
            break;
        }
        total += n;
        if (progress != Py_None && total - last_report >= (1 << 20)) {
            last_report = total;
            Py_BLOCK_THREADS
            PyObject *r = PyObject_CallFunction(progress, "L", total);
            int cb_failed = (r == NULL);
            Py_XDECREF(r);
            Py_UNBLOCK_THREADS
            if (cb_failed) {
                err = -2;
                break;
            }
        }
    }
    Py_END_ALLOW_THREADS

    if (err == -1) {
        errno = saved_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (err == -2)
        return NULL; /* exception from the progress callback */
    return PyLong_FromLongLong(total);
}

// BAD: allow-threads-leak `break` on EOF/error leaves the loop between PyEval_SaveThread and PyEval_RestoreThread
static PyObject *bad_fastio_recv_frames(PyObject *self, PyObject *args)
{
    int sock;
    Py_ssize_t max_frames;
    (void)self;
    if (!PyArg_ParseTuple(args, "in", &sock, &max_frames))
        return NULL;

    PyObject *frames = PyList_New(0);
    if (frames == NULL)
        return NULL;
    char buf[4096];
    while (PyList_GET_SIZE(frames) < max_frames) {
        PyThreadState *ts = PyEval_SaveThread();
        ssize_t n = recv(sock, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        PyEval_RestoreThread(ts);

        PyObject *b = PyBytes_FromStringAndSize(buf, n);
        if (b == NULL || PyList_Append(frames, b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(frames);
            return NULL;
        }
        Py_DECREF(b);
    }
    return frames;
}

// OK: restores the thread state right after recv(), before deciding to break or raise
static PyObject *ok_fastio_recv_frames(PyObject *self, PyObject *args)
{
    int sock;
    Py_ssize_t max_frames;
    (void)self;
    if (!PyArg_ParseTuple(args, "in", &sock, &max_frames))
        return NULL;

    PyObject *frames = PyList_New(0);
    if (frames == NULL)
        return NULL;
    char buf[4096];
    while (PyList_GET_SIZE(frames) < max_frames) {
        PyThreadState *ts = PyEval_SaveThread();
        ssize_t n = recv(sock, buf, sizeof buf, 0);
        int err = errno;
        PyEval_RestoreThread(ts);
        if (n == 0)
            break;
        if (n < 0) {
            if (err == EINTR && PyErr_CheckSignals() == 0)
                continue;
            if (!PyErr_Occurred()) {
                errno = err;
                PyErr_SetFromErrno(PyExc_OSError);
            }
            Py_DECREF(frames);
            return NULL;
        }
        PyObject *b = PyBytes_FromStringAndSize(buf, n);
        if (b == NULL || PyList_Append(frames, b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(frames);
            return NULL;
        }
        Py_DECREF(b);
    }
    return frames;
}

// BAD: api-without-gil PyBuffer_Release is called inside the allow-threads block
static PyObject *bad_fastio_crc(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    uLong crc;
    (void)self;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    crc = crc32_large(view.buf, view.len);
    PyBuffer_Release(&view);
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLong(crc);
}

// OK: buffer acquired before and released after the allow-threads block; only view.buf/view.len are used inside
static PyObject *ok_fastio_crc(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    uLong crc;
    (void)self;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    crc = crc32_large(view.buf, view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(crc);
}

static PyMethodDef fastio_methods[] = {
    {"hash_file", ok_fastio_hash_file, METH_VARARGS, NULL},
    {"hash_file_v1", bad_fastio_hash_file, METH_VARARGS, NULL},
    {"sparse_checksum", ok_fastio_sparse_checksum, METH_VARARGS, NULL},
    {"sparse_checksum_v1", bad_fastio_sparse_checksum, METH_VARARGS, NULL},
    {"sync_info", bad_fastio_sync_info, METH_VARARGS, NULL},
    {"read_at", ok_fastio_read_at, METH_VARARGS, NULL},
    {"copy_fd", bad_fastio_copy_fd, METH_VARARGS, NULL},
    {"copy_fd_progress", ok_fastio_copy_fd_progress, METH_VARARGS, NULL},
    {"recv_frames", ok_fastio_recv_frames, METH_VARARGS, NULL},
    {"recv_frames_v1", bad_fastio_recv_frames, METH_VARARGS, NULL},
    {"crc", ok_fastio_crc, METH_O, NULL},
    {"crc_v1", bad_fastio_crc, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastio_module = {PyModuleDef_HEAD_INIT, "fastio", NULL, -1, fastio_methods,
                                           NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_fastio(void)
{
    return PyModule_Create(&fastio_module);
}
