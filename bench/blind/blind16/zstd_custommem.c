/*
 * zstd contexts created with custom allocators (ZSTD_customMem).
 * The ZSTD_customMem is copied into the context at creation; zstd then
 * calls customAlloc/customFree from ZSTD_compress2(), ZSTD_compressStream2(),
 * ZSTD_decompressDCtx() and ZSTD_free*Ctx(), which this module calls with
 * the GIL released (and, with nbWorkers > 0, from zstd's own worker threads).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- minimal zstd declarations (<zstd.h>, ZSTD_STATIC_LINKING_ONLY) ---- */
typedef struct ZSTD_CCtx_s ZSTD_CCtx;
typedef struct ZSTD_DCtx_s ZSTD_DCtx;
typedef void *(*ZSTD_allocFunction)(void *opaque, size_t size);
typedef void (*ZSTD_freeFunction)(void *opaque, void *address);
typedef struct {
    ZSTD_allocFunction customAlloc;
    ZSTD_freeFunction customFree;
    void *opaque;
} ZSTD_customMem;
typedef enum { ZSTD_c_compressionLevel = 100, ZSTD_c_nbWorkers = 400 } ZSTD_cParameter;
typedef enum { ZSTD_e_continue = 0, ZSTD_e_flush = 1, ZSTD_e_end = 2 } ZSTD_EndDirective;
typedef struct { const void *src; size_t size; size_t pos; } ZSTD_inBuffer;
typedef struct { void *dst; size_t size; size_t pos; } ZSTD_outBuffer;
#define ZSTD_CONTENTSIZE_UNKNOWN (0ULL - 1)
#define ZSTD_CONTENTSIZE_ERROR   (0ULL - 2)

ZSTD_CCtx *ZSTD_createCCtx_advanced(ZSTD_customMem customMem);
ZSTD_DCtx *ZSTD_createDCtx_advanced(ZSTD_customMem customMem);
size_t ZSTD_freeCCtx(ZSTD_CCtx *cctx);
size_t ZSTD_freeDCtx(ZSTD_DCtx *dctx);
size_t ZSTD_CCtx_setParameter(ZSTD_CCtx *cctx, ZSTD_cParameter param, int value);
size_t ZSTD_compress2(ZSTD_CCtx *cctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize);
size_t ZSTD_compressStream2(ZSTD_CCtx *cctx, ZSTD_outBuffer *output, ZSTD_inBuffer *input, ZSTD_EndDirective endOp);
size_t ZSTD_decompressDCtx(ZSTD_DCtx *dctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize);
unsigned long long ZSTD_getFrameContentSize(const void *src, size_t srcSize);
size_t ZSTD_compressBound(size_t srcSize);
unsigned ZSTD_isError(size_t code);
const char *ZSTD_getErrorName(size_t code);

/* ---- objects ---- */
typedef struct {
    PyObject_HEAD
    ZSTD_customMem mem;             /* filled in __init__ */
    ZSTD_CCtx *cctx;                /* created lazily from mem */
    int level;
    int workers;
    Py_ssize_t allocated;
} Compressor;

typedef struct {
    PyObject_HEAD
    const ZSTD_customMem *mem_ops;  /* points at a static const table */
    ZSTD_DCtx *dctx;
} Decompressor;

typedef struct {
    PyObject *on_oom;               /* Python callable notified on OOM */
    size_t limit;
    size_t used;
} MemBudget;

// BAD: thread-entry-without-gil PyMem_Malloc requires the GIL but zstd calls customAlloc from ZSTD_compress2 with it released
static void *
zstd_pymem_alloc(void *opaque, size_t size)
{
    Compressor *self = (Compressor *)opaque;
    void *p = PyMem_Malloc(size);
    if (p != NULL)
        self->allocated += (Py_ssize_t)size;
    return p;
}

// BAD: thread-entry-without-gil PyMem_Free needs the GIL; zstd calls customFree from ZSTD_freeCCtx/ZSTD_compress2 with it released
static void
zstd_pymem_free(void *opaque, void *address)
{
    (void)opaque;
    PyMem_Free(address);
}

// OK: takes the GIL with PyGILState_Ensure before PyMem_Malloc and releases it before returning
static void *
zstd_locked_alloc(void *opaque, size_t size)
{
    PyGILState_STATE gil;
    void *p;
    (void)opaque;
    gil = PyGILState_Ensure();
    p = PyMem_Malloc(size);
    PyGILState_Release(gil);
    return p;
}

// OK: takes the GIL with PyGILState_Ensure before PyMem_Free; NULL is handled before touching Python
static void
zstd_locked_free(void *opaque, void *address)
{
    PyGILState_STATE gil;
    (void)opaque;
    if (address == NULL)
        return;
    gil = PyGILState_Ensure();
    PyMem_Free(address);
    PyGILState_Release(gil);
}

static const ZSTD_customMem gil_taking_mem = {
    .customAlloc = zstd_locked_alloc,
    .customFree = zstd_locked_free,
    .opaque = NULL,
};

// BAD: thread-entry-without-gil on the over-budget path calls the Python on_oom callback with PyObject_CallNoArgs without taking the GIL
static void *
zstd_budget_alloc(void *opaque, size_t size)
{
    MemBudget *b = (MemBudget *)opaque;
    size_t *p;

    if (b->used + size > b->limit) {
        if (b->on_oom != NULL) {
            PyObject *r = PyObject_CallNoArgs(b->on_oom);
            if (r == NULL)
                PyErr_Clear();
            Py_XDECREF(r);
        }
        return NULL;
    }
    p = malloc(size + sizeof(size_t));
    if (p == NULL)
        return NULL;
    *p = size;
    b->used += size;
    return p + 1;
}

// OK: pure C free and budget bookkeeping
static void
zstd_budget_free(void *opaque, void *address)
{
    MemBudget *b = (MemBudget *)opaque;
    size_t *p;
    if (address == NULL)
        return;
    p = (size_t *)address - 1;
    b->used -= *p;
    free(p);
}

/* bump arena for one-shot decompression */
typedef struct {
    char *base;
    size_t size;
    size_t off;
} Arena;

// OK: pure C bump allocator with malloc fallback, no Python API
static void *
zstd_arena_alloc(void *opaque, size_t size)
{
    Arena *a = (Arena *)opaque;
    size_t aligned = (size + 15) & ~(size_t)15;
    void *p;
    if (a->off + aligned > a->size)
        return malloc(size);
    p = a->base + a->off;
    a->off += aligned;
    return p;
}

// OK: pure C, frees only the malloc fallback blocks
static void
zstd_arena_free(void *opaque, void *address)
{
    Arena *a = (Arena *)opaque;
    if (address == NULL)
        return;
    if ((char *)address >= a->base && (char *)address < a->base + a->size)
        return;
    free(address);
}

/* ---- Compressor ---- */
static int
Compressor_init(Compressor *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"level", "threads", NULL};
    int level = 3, threads = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|ii", kwlist, &level, &threads))
        return -1;
    self->level = level;
    self->workers = threads;
    self->allocated = 0;
    self->mem.customAlloc = zstd_pymem_alloc;
    self->mem.customFree = zstd_pymem_free;
    self->mem.opaque = self;
    return 0;
}

static int
Compressor_ensure_cctx(Compressor *self)
{
    size_t zr;

    if (self->cctx != NULL)
        return 0;
    self->cctx = ZSTD_createCCtx_advanced(self->mem);
    if (self->cctx == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    zr = ZSTD_CCtx_setParameter(self->cctx, ZSTD_c_compressionLevel, self->level);
    if (!ZSTD_isError(zr) && self->workers > 0)
        zr = ZSTD_CCtx_setParameter(self->cctx, ZSTD_c_nbWorkers, self->workers);
    if (ZSTD_isError(zr)) {
        PyErr_SetString(PyExc_ValueError, ZSTD_getErrorName(zr));
        ZSTD_freeCCtx(self->cctx);
        self->cctx = NULL;
        return -1;
    }
    return 0;
}

static PyObject *
Compressor_compress(Compressor *self, PyObject *arg)
{
    Py_buffer src;
    PyObject *out = NULL;
    PyThreadState *ts;
    size_t bound, zr;

    if (Compressor_ensure_cctx(self) < 0)
        return NULL;
    if (PyObject_GetBuffer(arg, &src, PyBUF_SIMPLE) < 0)
        return NULL;

    bound = ZSTD_compressBound((size_t)src.len);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)bound);
    if (out == NULL)
        goto finally;

    ts = PyEval_SaveThread();
    zr = ZSTD_compress2(self->cctx, PyBytes_AS_STRING(out), bound, src.buf, (size_t)src.len);
    PyEval_RestoreThread(ts);

    if (ZSTD_isError(zr)) {
        PyErr_SetString(PyExc_RuntimeError, ZSTD_getErrorName(zr));
        Py_CLEAR(out);
        goto finally;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)zr) < 0)
        out = NULL;
finally:
    PyBuffer_Release(&src);
    return out;
}

static PyObject *
Compressor_stream(Compressor *self, PyObject *args)
{
    Py_buffer src;
    PyObject *chunks = NULL, *chunk;
    char buf[131072];
    ZSTD_inBuffer in;
    ZSTD_outBuffer outb;
    size_t remaining;

    if (!PyArg_ParseTuple(args, "y*", &src))
        return NULL;
    if (Compressor_ensure_cctx(self) < 0)
        goto error;
    chunks = PyList_New(0);
    if (chunks == NULL)
        goto error;

    in.src = src.buf;
    in.size = (size_t)src.len;
    in.pos = 0;
    do {
        outb.dst = buf;
        outb.size = sizeof(buf);
        outb.pos = 0;
        Py_BEGIN_ALLOW_THREADS
        remaining = ZSTD_compressStream2(self->cctx, &outb, &in, ZSTD_e_end);
        Py_END_ALLOW_THREADS
        if (ZSTD_isError(remaining)) {
            PyErr_SetString(PyExc_RuntimeError, ZSTD_getErrorName(remaining));
            goto error;
        }
        chunk = PyBytes_FromStringAndSize(buf, (Py_ssize_t)outb.pos);
        if (chunk == NULL || PyList_Append(chunks, chunk) < 0) {
            Py_XDECREF(chunk);
            goto error;
        }
        Py_DECREF(chunk);
    } while (remaining != 0);

    PyBuffer_Release(&src);
    return chunks;
error:
    Py_XDECREF(chunks);
    PyBuffer_Release(&src);
    return NULL;
}

static void
Compressor_dealloc(Compressor *self)
{
    if (self->cctx) {
        ZSTD_CCtx *c = self->cctx;
        self->cctx = NULL;
        Py_BEGIN_ALLOW_THREADS
        ZSTD_freeCCtx(c);
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- Decompressor: ops pointer stored in __init__, context made later ---- */
static int
Decompressor_init(Decompressor *self, PyObject *args, PyObject *kwds)
{
    self->mem_ops = &gil_taking_mem;
    self->dctx = NULL;
    return 0;
}

static int
Decompressor_attach(Decompressor *self)
{
    if (self->dctx)
        return 0;
    self->dctx = ZSTD_createDCtx_advanced(*self->mem_ops);
    if (self->dctx == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static PyObject *
Decompressor_decompress(Decompressor *self, PyObject *arg)
{
    Py_buffer src;
    PyObject *out = NULL;
    unsigned long long csize;
    size_t zr;

    if (Decompressor_attach(self) < 0)
        return NULL;
    if (PyObject_GetBuffer(arg, &src, PyBUF_SIMPLE) < 0)
        return NULL;
    csize = ZSTD_getFrameContentSize(src.buf, (size_t)src.len);
    if (csize == ZSTD_CONTENTSIZE_ERROR || csize == ZSTD_CONTENTSIZE_UNKNOWN ||
        csize > (unsigned long long)PY_SSIZE_T_MAX) {
        PyErr_SetString(PyExc_ValueError, "unknown frame content size");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)csize);
    if (out == NULL)
        goto done;

    Py_BEGIN_ALLOW_THREADS
    zr = ZSTD_decompressDCtx(self->dctx, PyBytes_AS_STRING(out), (size_t)csize,
                             src.buf, (size_t)src.len);
    Py_END_ALLOW_THREADS

    if (ZSTD_isError(zr)) {
        PyErr_SetString(PyExc_RuntimeError, ZSTD_getErrorName(zr));
        Py_CLEAR(out);
    }
done:
    PyBuffer_Release(&src);
    return out;
}

static void
Decompressor_dealloc(Decompressor *self)
{
    if (self->dctx) {
        PyThreadState *ts = PyEval_SaveThread();
        ZSTD_freeDCtx(self->dctx);
        PyEval_RestoreThread(ts);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- module-level one-shot functions ---- */
static PyObject *
zstd_compress_budget(PyObject *module, PyObject *args)
{
    Py_buffer src;
    PyObject *on_oom = NULL, *out = NULL;
    Py_ssize_t limit;
    MemBudget budget;
    ZSTD_customMem mem;
    ZSTD_CCtx *cctx;
    size_t bound, zr;

    if (!PyArg_ParseTuple(args, "y*n|O", &src, &limit, &on_oom))
        return NULL;

    budget.on_oom = on_oom;
    budget.limit = (size_t)limit;
    budget.used = 0;
    mem.customAlloc = zstd_budget_alloc;
    mem.customFree = zstd_budget_free;
    mem.opaque = &budget;

    cctx = ZSTD_createCCtx_advanced(mem);
    if (cctx == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    bound = ZSTD_compressBound((size_t)src.len);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)bound);
    if (out == NULL)
        goto free_ctx;

    Py_BEGIN_ALLOW_THREADS
    zr = ZSTD_compress2(cctx, PyBytes_AS_STRING(out), bound, src.buf, (size_t)src.len);
    Py_END_ALLOW_THREADS

    if (ZSTD_isError(zr)) {
        PyErr_SetString(PyExc_MemoryError, ZSTD_getErrorName(zr));
        Py_CLEAR(out);
    } else if (_PyBytes_Resize(&out, (Py_ssize_t)zr) < 0) {
        out = NULL;
    }
free_ctx:
    ZSTD_freeCCtx(cctx);
done:
    PyBuffer_Release(&src);
    return out;
}

static PyObject *
zstd_decompress_arena(PyObject *module, PyObject *args)
{
    Py_buffer src;
    Py_ssize_t size;
    PyObject *out = NULL;
    Arena arena;
    ZSTD_DCtx *dctx;
    PyThreadState *ts;
    size_t zr;
    const ZSTD_customMem mem = {
        .customAlloc = zstd_arena_alloc,
        .customFree = zstd_arena_free,
        .opaque = &arena,
    };

    if (!PyArg_ParseTuple(args, "y*n", &src, &size))
        return NULL;
    arena.size = 1 << 20;
    arena.off = 0;
    arena.base = malloc(arena.size);
    if (arena.base == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL)
        goto free_arena;

    ts = PyEval_SaveThread();
    dctx = ZSTD_createDCtx_advanced(mem);
    if (dctx != NULL) {
        zr = ZSTD_decompressDCtx(dctx, PyBytes_AS_STRING(out), (size_t)size,
                                 src.buf, (size_t)src.len);
        ZSTD_freeDCtx(dctx);
    }
    PyEval_RestoreThread(ts);

    if (dctx == NULL) {
        Py_CLEAR(out);
        PyErr_NoMemory();
    } else if (ZSTD_isError(zr)) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_RuntimeError, ZSTD_getErrorName(zr));
    } else if (_PyBytes_Resize(&out, (Py_ssize_t)zr) < 0) {
        out = NULL;
    }
free_arena:
    free(arena.base);
done:
    PyBuffer_Release(&src);
    return out;
}

static PyMethodDef Compressor_methods[] = {
    {"compress", (PyCFunction)Compressor_compress, METH_O, NULL},
    {"stream", (PyCFunction)Compressor_stream, METH_VARARGS, NULL},
    {NULL}
};
static PyMethodDef Decompressor_methods[] = {
    {"decompress", (PyCFunction)Decompressor_decompress, METH_O, NULL},
    {NULL}
};

static PyTypeObject CompressorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_zstdmem.Compressor",
    .tp_basicsize = sizeof(Compressor),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Compressor_dealloc,
    .tp_methods = Compressor_methods,
    .tp_init = (initproc)Compressor_init,
    .tp_new = PyType_GenericNew,
};
static PyTypeObject DecompressorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_zstdmem.Decompressor",
    .tp_basicsize = sizeof(Decompressor),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Decompressor_dealloc,
    .tp_methods = Decompressor_methods,
    .tp_init = (initproc)Decompressor_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"compress_budget", zstd_compress_budget, METH_VARARGS, NULL},
    {"decompress_arena", zstd_decompress_arena, METH_VARARGS, NULL},
    {NULL}
};

static struct PyModuleDef zstdmemmodule = {
    PyModuleDef_HEAD_INIT, "_zstdmem", NULL, -1, module_methods
};

PyMODINIT_FUNC
PyInit__zstdmem(void)
{
    PyObject *m;
    if (PyType_Ready(&CompressorType) < 0 || PyType_Ready(&DecompressorType) < 0)
        return NULL;
    m = PyModule_Create(&zstdmemmodule);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CompressorType);
    PyModule_AddObject(m, "Compressor", (PyObject *)&CompressorType);
    Py_INCREF(&DecompressorType);
    PyModule_AddObject(m, "Decompressor", (PyObject *)&DecompressorType);
    return m;
}
