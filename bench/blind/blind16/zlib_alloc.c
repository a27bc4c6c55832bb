/*
 * zlib streams with custom allocators (z_stream.zalloc / zfree / opaque).
 * zlib calls zalloc/zfree from inflate() (lazy window), deflateEnd(),
 * inflateEnd() (and *Init2_, which run with the GIL held), some of which
 * this module calls with the GIL released.  PyMem_Malloc/PyMem_Free need
 * the GIL; PyMem_RawMalloc/PyMem_RawFree are documented as GIL-free.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- minimal zlib declarations (<zlib.h>) ---- */
typedef unsigned char Bytef;
typedef unsigned int uInt;
typedef unsigned long uLong;
typedef void *voidpf;
typedef voidpf (*alloc_func)(voidpf opaque, uInt items, uInt size);
typedef void (*free_func)(voidpf opaque, voidpf address);
struct internal_state;

typedef struct z_stream_s {
    const Bytef *next_in;
    uInt avail_in;
    uLong total_in;
    Bytef *next_out;
    uInt avail_out;
    uLong total_out;
    const char *msg;
    struct internal_state *state;
    alloc_func zalloc;
    free_func zfree;
    voidpf opaque;
    int data_type;
    uLong adler;
    uLong reserved;
} z_stream;
typedef z_stream *z_streamp;

#define ZLIB_VERSION "1.2.13"
#define Z_NULL 0
#define Z_OK 0
#define Z_STREAM_END 1
#define Z_BUF_ERROR (-5)
#define Z_MEM_ERROR (-4)
#define Z_NO_FLUSH 0
#define Z_SYNC_FLUSH 2
#define Z_FINISH 4
#define Z_DEFLATED 8
#define Z_DEFAULT_STRATEGY 0
#define Z_DEFAULT_COMPRESSION (-1)
#define MAX_WBITS 15
#define DEF_MEM_LEVEL 8

int deflateInit2_(z_streamp strm, int level, int method, int windowBits,
                  int memLevel, int strategy, const char *version, int stream_size);
int inflateInit2_(z_streamp strm, int windowBits, const char *version, int stream_size);
int deflate(z_streamp strm, int flush);
int deflateEnd(z_streamp strm);
int inflate(z_streamp strm, int flush);
int inflateEnd(z_streamp strm);
uLong deflateBound(z_streamp strm, uLong sourceLen);
#define deflateInit2(strm, level, method, windowBits, memLevel, strategy) \
    deflateInit2_((strm), (level), (method), (windowBits), (memLevel), \
                  (strategy), ZLIB_VERSION, (int)sizeof(z_stream))
#define inflateInit2(strm, windowBits) \
    inflateInit2_((strm), (windowBits), ZLIB_VERSION, (int)sizeof(z_stream))

/* ---- allocators ---- */

typedef struct {
    PyObject_HEAD
    z_stream zst;
    int inited;
    PyObject *unused_data;
} CompObject;

static size_t tracked_bytes;  /* plain C counter for the one-shot API */

// BAD: thread-entry-without-gil PyMem_Malloc requires the GIL but inflate() allocates its window lazily through zalloc while the GIL is released
static voidpf
zlib_pymem_alloc(voidpf ctx, uInt items, uInt size)
{
    (void)ctx;
    if (size != 0 && items > (size_t)PY_SSIZE_T_MAX / size)
        return NULL;
    return PyMem_Malloc((size_t)items * (size_t)size);
}

// BAD: thread-entry-without-gil PyMem_Free requires the GIL but zlib calls zfree from inflateEnd() run between PyEval_SaveThread/RestoreThread
static void
zlib_pymem_free(voidpf ctx, voidpf ptr)
{
    (void)ctx;
    PyMem_Free(ptr);
}

// OK: PyMem_RawMalloc is documented as safe to call without the GIL
static voidpf
zlib_raw_alloc(voidpf ctx, uInt items, uInt size)
{
    (void)ctx;
    if (size != 0 && items > (size_t)PY_SSIZE_T_MAX / size)
        return NULL;
    return PyMem_RawMalloc((size_t)items * (size_t)size);
}

// OK: PyMem_RawFree is documented as safe to call without the GIL
static void
zlib_raw_free(voidpf ctx, voidpf ptr)
{
    (void)ctx;
    PyMem_RawFree(ptr);
}

// OK: pure C malloc with a size header, no Python API
static voidpf
tracked_alloc(voidpf ctx, uInt items, uInt size)
{
    size_t *p;
    size_t n = (size_t)items * (size_t)size;
    (void)ctx;
    p = malloc(n + sizeof(size_t));
    if (p == NULL)
        return NULL;
    *p = n;
    tracked_bytes += n;
    return p + 1;
}

// OK: pure C free, no Python API
static void
tracked_free(voidpf ctx, voidpf ptr)
{
    size_t *p = (size_t *)ptr - 1;
    (void)ctx;
    if (ptr == NULL)
        return;
    tracked_bytes -= *p;
    free(p);
}

// OK: takes the GIL (PyGILState_Ensure) around PyObject_Malloc and the Python-level accounting
static voidpf
locked_pyobj_alloc(voidpf ctx, uInt items, uInt size)
{
    PyObject *counter = (PyObject *)ctx;    /* a list used for stats */
    PyGILState_STATE gil;
    void *p;

    gil = PyGILState_Ensure();
    p = PyObject_Malloc((size_t)items * (size_t)size);
    if (p != NULL && counter != NULL) {
        PyObject *n = PyLong_FromSize_t((size_t)items * (size_t)size);
        if (n == NULL || PyList_Append(counter, n) < 0)
            PyErr_Clear();
        Py_XDECREF(n);
    }
    PyGILState_Release(gil);
    return p;
}

// OK: takes the GIL with PyGILState_Ensure around PyObject_Free
static void
locked_pyobj_free(voidpf ctx, voidpf ptr)
{
    PyGILState_STATE gil;
    (void)ctx;
    gil = PyGILState_Ensure();
    PyObject_Free(ptr);
    PyGILState_Release(gil);
}

/* ---- Compress objects: fields filled in one function ... ---- */
static void
Comp_setup_allocators(CompObject *self)
{
    self->zst.opaque = NULL;
    self->zst.zalloc = zlib_raw_alloc;
    self->zst.zfree = zlib_raw_free;
    self->zst.next_in = NULL;
    self->zst.avail_in = 0;
}

static PyTypeObject CompType;
static PyTypeObject DecompType;

/* ... handed to zlib in another ... */
static PyObject *
zlib_compressobj(PyObject *module, PyObject *args)
{
    int level = Z_DEFAULT_COMPRESSION, err;
    CompObject *self;

    if (!PyArg_ParseTuple(args, "|i", &level))
        return NULL;
    self = PyObject_New(CompObject, &CompType);
    if (self == NULL)
        return NULL;
    self->inited = 0;
    self->unused_data = NULL;
    Comp_setup_allocators(self);

    err = deflateInit2(&self->zst, level, Z_DEFLATED, MAX_WBITS,
                       DEF_MEM_LEVEL, Z_DEFAULT_STRATEGY);
    if (err != Z_OK) {
        Py_DECREF(self);
        if (err == Z_MEM_ERROR)
            return PyErr_NoMemory();
        PyErr_SetString(PyExc_ValueError, "Invalid initialization option");
        return NULL;
    }
    self->inited = 1;
    return (PyObject *)self;
}

/* ... and driven, GIL released, in a third. */
static PyObject *
Comp_compress(CompObject *self, PyObject *arg)
{
    Py_buffer data;
    PyObject *out = NULL;
    Py_ssize_t cap, used = 0;
    int err;

    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;

    cap = data.len / 2 + 64;
    out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL)
        goto done;

    self->zst.next_in = data.buf;
    self->zst.avail_in = (uInt)data.len;
    do {
        if (used == cap) {
            cap *= 2;
            if (_PyBytes_Resize(&out, cap) < 0)
                goto done;
        }
        self->zst.next_out = (Bytef *)PyBytes_AS_STRING(out) + used;
        self->zst.avail_out = (uInt)(cap - used);

        Py_BEGIN_ALLOW_THREADS
        err = deflate(&self->zst, Z_NO_FLUSH);
        Py_END_ALLOW_THREADS

        if (err != Z_OK && err != Z_BUF_ERROR) {
            PyErr_SetString(PyExc_RuntimeError, "deflate failed");
            Py_CLEAR(out);
            goto done;
        }
        used = cap - self->zst.avail_out;
    } while (self->zst.avail_out == 0 || self->zst.avail_in != 0);

    if (_PyBytes_Resize(&out, used) < 0)
        out = NULL;
done:
    PyBuffer_Release(&data);
    return out;
}

static void
Comp_dealloc(CompObject *self)
{
    if (self->inited) {
        Py_BEGIN_ALLOW_THREADS
        deflateEnd(&self->zst);
        Py_END_ALLOW_THREADS
    }
    Py_XDECREF(self->unused_data);
    PyObject_Free(self);
}

/* ---- Decompress objects: PyMem allocators, SaveThread/RestoreThread ---- */
static void
set_pymem_allocators(z_stream *zs, void *opaque)
{
    zs->zalloc = zlib_pymem_alloc;
    zs->zfree = zlib_pymem_free;
    zs->opaque = opaque;
}

static PyObject *
zlib_decompressobj(PyObject *module, PyObject *args)
{
    int wbits = MAX_WBITS;
    CompObject *self;

    if (!PyArg_ParseTuple(args, "|i", &wbits))
        return NULL;
    self = PyObject_New(CompObject, &DecompType);
    if (self == NULL)
        return NULL;
    memset(&self->zst, 0, sizeof(self->zst));
    self->inited = 0;
    self->unused_data = NULL;
    set_pymem_allocators(&self->zst, NULL);
    if (inflateInit2(&self->zst, wbits) != Z_OK) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_ValueError, "inflateInit2 failed");
        return NULL;
    }
    self->inited = 1;
    return (PyObject *)self;
}

static PyObject *
Decomp_decompress(CompObject *self, PyObject *arg)
{
    Py_buffer data;
    PyObject *out;
    PyThreadState *save;
    Py_ssize_t cap, used = 0;
    int err;

    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    cap = data.len * 4 + 64;
    out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    self->zst.next_in = data.buf;
    self->zst.avail_in = (uInt)data.len;

    for (;;) {
        self->zst.next_out = (Bytef *)PyBytes_AS_STRING(out) + used;
        self->zst.avail_out = (uInt)(cap - used);

        save = PyEval_SaveThread();
        err = inflate(&self->zst, Z_SYNC_FLUSH);
        PyEval_RestoreThread(save);

        used = cap - self->zst.avail_out;
        if (err == Z_STREAM_END || (err == Z_OK && self->zst.avail_in == 0 && self->zst.avail_out != 0))
            break;
        if (err != Z_OK && err != Z_BUF_ERROR) {
            PyErr_SetString(PyExc_RuntimeError, "inflate failed");
            goto error;
        }
        cap *= 2;
        if (_PyBytes_Resize(&out, cap) < 0)
            goto error_nobuf;
    }
    PyBuffer_Release(&data);
    if (_PyBytes_Resize(&out, used) < 0)
        return NULL;
    return out;

error:
    Py_DECREF(out);
error_nobuf:
    PyBuffer_Release(&data);
    return NULL;
}

static void
Decomp_dealloc(CompObject *self)
{
    if (self->inited) {
        PyThreadState *save = PyEval_SaveThread();
        inflateEnd(&self->zst);
        PyEval_RestoreThread(save);
    }
    PyObject_Free(self);
}

/* ---- one-shot helpers with a local z_stream ---- */
static PyObject *
zlib_compress_tracked(PyObject *module, PyObject *arg)
{
    Py_buffer data;
    z_stream zs;
    PyObject *out = NULL;
    uLong bound;
    int err;

    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;

    memset(&zs, 0, sizeof(zs));
    zs.zalloc = tracked_alloc;
    zs.zfree = tracked_free;
    zs.opaque = Z_NULL;
    if (deflateInit2(&zs, 6, Z_DEFLATED, MAX_WBITS, DEF_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
        PyErr_NoMemory();
        goto done;
    }
    bound = deflateBound(&zs, (uLong)data.len);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)bound);
    if (out == NULL) {
        deflateEnd(&zs);
        goto done;
    }
    zs.next_in = data.buf;
    zs.avail_in = (uInt)data.len;
    zs.next_out = (Bytef *)PyBytes_AS_STRING(out);
    zs.avail_out = (uInt)bound;

    Py_BEGIN_ALLOW_THREADS
    err = deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    Py_END_ALLOW_THREADS

    if (err != Z_STREAM_END) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_RuntimeError, "compress failed");
        goto done;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)zs.total_out) < 0)
        out = NULL;
done:
    PyBuffer_Release(&data);
    return out;
}

static PyObject *
zlib_decompress_stats(PyObject *module, PyObject *args)
{
    Py_buffer data;
    PyObject *stats, *out = NULL;
    z_stream zs;
    Py_ssize_t bufsize = 65536;
    int err;

    if (!PyArg_ParseTuple(args, "y*O!|n", &data, &PyList_Type, &stats, &bufsize))
        return NULL;

    memset(&zs, 0, sizeof(zs));
    zs.zalloc = locked_pyobj_alloc;
    zs.zfree = locked_pyobj_free;
    zs.opaque = stats;
    if (inflateInit2(&zs, MAX_WBITS) != Z_OK) {
        PyErr_SetString(PyExc_RuntimeError, "inflateInit2 failed");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, bufsize);
    if (out == NULL)
        goto end;
    zs.next_in = data.buf;
    zs.avail_in = (uInt)data.len;
    zs.next_out = (Bytef *)PyBytes_AS_STRING(out);
    zs.avail_out = (uInt)bufsize;

    Py_BEGIN_ALLOW_THREADS
    err = inflate(&zs, Z_FINISH);
    Py_END_ALLOW_THREADS

    if (err != Z_STREAM_END) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_ValueError, "incomplete or truncated stream");
        goto end;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)zs.total_out) < 0)
        out = NULL;
end:
    Py_BEGIN_ALLOW_THREADS
    inflateEnd(&zs);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&data);
    return out;
}

static PyMethodDef Comp_methods[] = {
    {"compress", (PyCFunction)Comp_compress, METH_O, NULL},
    {NULL}
};
static PyMethodDef Decomp_methods[] = {
    {"decompress", (PyCFunction)Decomp_decompress, METH_O, NULL},
    {NULL}
};

static PyTypeObject CompType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_zalloc.Compress",
    .tp_basicsize = sizeof(CompObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Comp_dealloc,
    .tp_methods = Comp_methods,
};
static PyTypeObject DecompType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_zalloc.Decompress",
    .tp_basicsize = sizeof(CompObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Decomp_dealloc,
    .tp_methods = Decomp_methods,
};

static PyMethodDef module_methods[] = {
    {"compressobj", zlib_compressobj, METH_VARARGS, NULL},
    {"decompressobj", zlib_decompressobj, METH_VARARGS, NULL},
    {"compress_tracked", zlib_compress_tracked, METH_O, NULL},
    {"decompress_stats", zlib_decompress_stats, METH_VARARGS, NULL},
    {NULL}
};

static struct PyModuleDef zallocmodule = {
    PyModuleDef_HEAD_INIT, "_zalloc", NULL, -1, module_methods
};

PyMODINIT_FUNC
PyInit__zalloc(void)
{
    if (PyType_Ready(&CompType) < 0 || PyType_Ready(&DecompType) < 0)
        return NULL;
    return PyModule_Create(&zallocmodule);
}
