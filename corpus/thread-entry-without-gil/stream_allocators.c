// Allocators a compression library runs from inside its calls: zlib's z_stream carries zalloc/zfree, which
// inflate() calls on first use and inflateEnd() calls to free; Zstandard's context keeps a copy of the
// ZSTD_customMem it was created with and calls it from every compress call and from ZSTD_freeCCtx(). Made with
// the GIL released (as they should be), those calls run an allocator that uses PyMem_Malloc without the GIL.
// PyMem_RawMalloc needs no GIL. The declarations stand in for <zlib.h> and <zstd.h>.
#include <Python.h>
#include <string.h>

typedef void *(*alloc_func)(void *opaque, unsigned items, unsigned size);
typedef void (*free_func)(void *opaque, void *address);
typedef struct z_stream_s {
    const unsigned char *next_in;
    unsigned avail_in;
    unsigned char *next_out;
    unsigned avail_out;
    alloc_func zalloc;
    free_func zfree;
    void *opaque;
} z_stream;
typedef z_stream *z_streamp;
int inflateInit2_(z_streamp strm, int windowBits, const char *version, int stream_size);
#define inflateInit2(strm, bits) inflateInit2_((strm), (bits), "1.2.13", (int)sizeof(z_stream))
int inflate(z_streamp strm, int flush);
int inflateEnd(z_streamp strm);

typedef struct ZSTD_CCtx_s ZSTD_CCtx;
typedef struct {
    void *(*customAlloc)(void *opaque, size_t size);
    void (*customFree)(void *opaque, void *address);
    void *opaque;
} ZSTD_customMem;
ZSTD_CCtx *ZSTD_createCCtx_advanced(ZSTD_customMem customMem);
size_t ZSTD_compress2(ZSTD_CCtx *cctx, void *dst, size_t cap, const void *src, size_t n);
size_t ZSTD_freeCCtx(ZSTD_CCtx *cctx);

typedef struct { PyObject_HEAD z_stream zst; } Decomp;
typedef struct { PyObject_HEAD ZSTD_customMem mem; ZSTD_CCtx *cctx; } Comp;

// The stream's allocator: inflate() below calls it with the GIL released.
static void *bad_zalloc(void *opaque, unsigned items, unsigned size)
{
    (void)opaque;
    return PyMem_Malloc((size_t)items * size);   // expect-error{{stored in a z_stream_s that inflate() at stream_allocators.c:113 is given while the GIL is released there}} [thread-entry-without-gil]
}

// PyMem_RawFree may be called without the GIL.
static void ok_zfree(void *opaque, void *address)
{
    (void)opaque;
    PyMem_RawFree(address);
}

// Takes the GIL itself before using the object allocator.
static void *ok_locked_alloc(void *opaque, size_t size)
{
    PyGILState_STATE st = PyGILState_Ensure();
    void *p = PyObject_Malloc(size);
    PyGILState_Release(st);
    (void)opaque;
    return p;
}

// Zstandard keeps the allocator in the context and frees through it in ZSTD_freeCCtx(), called below with the
// GIL released.
static void bad_custom_free(void *opaque, void *address)
{
    (void)opaque;
    PyMem_Free(address);   // expect-error{{handed to ZSTD_createCCtx_advanced() at stream_allocators.c:97, then called back by ZSTD_compress2() at stream_allocators.c:129, where the GIL is released}} [thread-entry-without-gil]
}

static void set_allocators(z_stream *zs)
{
    zs->zalloc = bad_zalloc;
    zs->zfree = ok_zfree;
    zs->opaque = NULL;
}

static PyObject *Decomp_new(PyObject *mod, PyObject *noargs)
{
    Decomp *self = PyObject_New(Decomp, NULL);
    if (self == NULL)
        return NULL;
    memset(&self->zst, 0, sizeof(self->zst));
    set_allocators(&self->zst);
    if (inflateInit2(&self->zst, 15) != 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int Comp_init(Comp *self, PyObject *args, PyObject *kwds)
{
    self->mem.customAlloc = ok_locked_alloc;
    self->mem.customFree = bad_custom_free;
    self->mem.opaque = NULL;
    self->cctx = ZSTD_createCCtx_advanced(self->mem);
    return self->cctx == NULL ? -1 : 0;
}

static PyObject *Decomp_decompress(Decomp *self, PyObject *arg)
{
    Py_buffer data;
    unsigned char out[4096];
    int err;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    self->zst.next_in = data.buf;
    self->zst.avail_in = (unsigned)data.len;
    self->zst.next_out = out;
    self->zst.avail_out = sizeof(out);
    Py_BEGIN_ALLOW_THREADS
    err = inflate(&self->zst, 2);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    if (err < 0)
        return PyErr_Format(PyExc_ValueError, "inflate failed: %d", err);
    return PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)(sizeof(out) - self->zst.avail_out));
}

static PyObject *Comp_compress(Comp *self, PyObject *arg)
{
    Py_buffer data;
    char out[4096];
    size_t n;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    n = ZSTD_compress2(self->cctx, out, sizeof(out), data.buf, (size_t)data.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyBytes_FromStringAndSize(out, (Py_ssize_t)n);
}

static void Comp_dealloc(Comp *self)
{
    ZSTD_CCtx *c = self->cctx;
    Py_BEGIN_ALLOW_THREADS
    ZSTD_freeCCtx(c);
    Py_END_ALLOW_THREADS
    PyObject_Free(self);
}

static void Decomp_dealloc(Decomp *self)
{
    inflateEnd(&self->zst);   // with the GIL held: the allocator may use PyMem here
    PyObject_Free(self);
}
