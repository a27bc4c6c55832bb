// zlib, bzip2, liblzma and Zstandard calls that compress or decompress a whole buffer (rules/libs/zlib.yml,
// bzip2.yml, lzma.yml, zstd.yml) made while holding the GIL, and the same calls with the GIL released, as
// CPython's zlib, bz2 and lzma modules do. The set-up calls compress nothing. The prototypes are declared here.
#include <Python.h>
#include <stdint.h>

typedef struct z_stream_s { const unsigned char *next_in; unsigned avail_in; unsigned char *next_out;
                            unsigned avail_out; void *state; } z_stream;
int deflateInit_(z_stream *strm, int level, const char *version, int stream_size);
#define deflateInit(strm, level) deflateInit_((strm), (level), "1.2.13", (int)sizeof(z_stream))
int deflate(z_stream *strm, int flush);
int deflateEnd(z_stream *strm);
int uncompress(unsigned char *dest, unsigned long *destLen, const unsigned char *source, unsigned long sourceLen);
unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned len);

typedef struct { char *next_in; unsigned avail_in; char *next_out; unsigned avail_out; void *state; } bz_stream;
int BZ2_bzCompress(bz_stream *strm, int action);
int BZ2_bzBuffToBuffDecompress(char *dest, unsigned *destLen, char *source, unsigned sourceLen, int small,
                               int verbosity);

typedef struct { const uint8_t *next_in; size_t avail_in; uint8_t *next_out; size_t avail_out; } lzma_stream;
int lzma_easy_encoder(lzma_stream *strm, uint32_t preset, int check);
int lzma_code(lzma_stream *strm, int action);

typedef struct ZSTD_CCtx_s ZSTD_CCtx;
size_t ZSTD_compressBound(size_t srcSize);
size_t ZSTD_compress2(ZSTD_CCtx *cctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize);
size_t ZSTD_decompress(void *dst, size_t dstCapacity, const void *src, size_t compressedSize);

#define Z_FINISH 4
#define BZ_FINISH 2
#define LZMA_FINISH 3

static PyObject *bad_deflate(PyObject *self, PyObject *arg)
{
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    unsigned char out[65536];
    z_stream z = {0};
    deflateInit(&z, 9);
    z.next_in = in.buf;
    z.avail_in = (unsigned)in.len;
    z.next_out = out;
    z.avail_out = sizeof out;
    int rc = deflate(&z, Z_FINISH);                 // expect-warning{{deflate() may block while this thread holds the GIL}} [blocking-with-gil]
    deflateEnd(&z);
    PyBuffer_Release(&in);
    if (rc < 0)
        return PyErr_Format(PyExc_ValueError, "deflate failed: %d", rc);
    return PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)(sizeof out - z.avail_out));
}

static PyObject *bad_bzip2(PyObject *self, PyObject *arg)
{
    bz_stream *s = PyLong_AsVoidPtr(arg);
    if (s == NULL && PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(BZ2_bzCompress(s, BZ_FINISH));   // expect-warning{{BZ2_bzCompress() may block}} [blocking-with-gil]
}

static PyObject *bad_xz(PyObject *self, PyObject *arg)
{
    lzma_stream *s = PyLong_AsVoidPtr(arg);
    if (s == NULL && PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(lzma_code(s, LZMA_FINISH));     // expect-warning{{lzma_code() may block}} [blocking-with-gil]
}

static PyObject *bad_zstd(PyObject *self, PyObject *args)
{
    PyObject *ctx_obj;
    Py_buffer in;
    if (!PyArg_ParseTuple(args, "Oy*", &ctx_obj, &in))
        return NULL;
    ZSTD_CCtx *cctx = PyLong_AsVoidPtr(ctx_obj);
    size_t cap = ZSTD_compressBound((size_t)in.len);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    size_t n = ZSTD_compress2(cctx, PyBytes_AS_STRING(out), cap, in.buf, (size_t)in.len);   // expect-warning{{ZSTD_compress2() may block}} [blocking-with-gil]
    PyBuffer_Release(&in);
    _PyBytes_Resize(&out, (Py_ssize_t)n);
    return out;
}

static PyObject *ok_uncompress(PyObject *self, PyObject *args)
{
    Py_buffer in;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "y*n", &in, &size))
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    unsigned long dlen = (unsigned long)size;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = uncompress(dst, &dlen, in.buf, (unsigned long)in.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    if (rc != 0) {
        Py_DECREF(out);
        return PyErr_Format(PyExc_ValueError, "uncompress failed: %d", rc);
    }
    return out;
}

static PyObject *ok_decompress_all(PyObject *self, PyObject *args)
{
    Py_buffer in;
    char out[65536];
    unsigned blen = sizeof out;
    size_t zlen;
    int bz;
    if (!PyArg_ParseTuple(args, "y*", &in))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    bz = BZ2_bzBuffToBuffDecompress(out, &blen, in.buf, (unsigned)in.len, 0, 0);
    zlen = ZSTD_decompress(out, sizeof out, in.buf, (size_t)in.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    return Py_BuildValue("(in)", bz, (Py_ssize_t)zlen);
}

/* Set-up calls and a checksum: nothing is compressed. */
static PyObject *ok_setup(PyObject *self, PyObject *arg)
{
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    lzma_stream s = {0};
    int rc = lzma_easy_encoder(&s, 6, 4);
    unsigned long sum = crc32(0, in.buf, (unsigned)in.len);
    PyBuffer_Release(&in);
    return Py_BuildValue("(ik)", rc, sum);
}

static PyMethodDef compression_methods[] = {
    {"deflate", bad_deflate, METH_O, NULL},
    {"bzip2", bad_bzip2, METH_O, NULL},
    {"xz", bad_xz, METH_O, NULL},
    {"zstd", bad_zstd, METH_VARARGS, NULL},
    {"uncompress", ok_uncompress, METH_VARARGS, NULL},
    {"decompress_all", ok_decompress_all, METH_VARARGS, NULL},
    {"setup", ok_setup, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
