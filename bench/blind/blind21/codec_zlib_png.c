/*
 * _imgcodec.c -- zlib / libpng helpers of an imaging package (the style of
 * Pillow's decode.c and CPython's zlibmodule.c).  Heavy work runs with the
 * GIL released; library callbacks (zalloc, png read fn, qsort comparators)
 * are therefore called synchronously on this thread without the GIL unless
 * noted.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- zlib.h (subset) ------------------------------------------------- */
typedef unsigned char Bytef;
typedef unsigned int uInt;
typedef unsigned long uLong;
typedef uLong uLongf;
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
    char *msg;
    struct internal_state *state;
    alloc_func zalloc;
    free_func zfree;
    voidpf opaque;
    int data_type;
    uLong adler;
    uLong reserved;
} z_stream;
typedef z_stream *z_streamp;
#define Z_OK 0
#define Z_STREAM_END 1
#define Z_BUF_ERROR (-5)
#define Z_NO_FLUSH 0
#define ZLIB_VERSION "1.2.13"
int inflateInit_(z_streamp strm, const char *version, int stream_size);
#define inflateInit(strm) inflateInit_((strm), ZLIB_VERSION, (int)sizeof(z_stream))
int inflate(z_streamp strm, int flush);
int inflateEnd(z_streamp strm);
int compress2(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen, int level);
uLong compressBound(uLong sourceLen);
int uncompress(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen);

/* ---- png.h (subset) -------------------------------------------------- */
typedef struct png_struct_def png_struct;
typedef png_struct *png_structp;
typedef png_struct **png_structpp;
typedef struct png_info_def png_info;
typedef png_info *png_infop;
typedef png_info **png_infopp;
typedef unsigned char png_byte;
typedef png_byte *png_bytep;
typedef png_byte **png_bytepp;
typedef const char *png_const_charp;
typedef uint32_t png_uint_32;
typedef void (*png_error_ptr)(png_structp, png_const_charp);
typedef void (*png_rw_ptr)(png_structp, png_bytep, size_t);
#define PNG_LIBPNG_VER_STRING "1.6.40"
png_structp png_create_read_struct(png_const_charp user_png_ver, void *error_ptr,
                                   png_error_ptr error_fn, png_error_ptr warn_fn);
png_infop png_create_info_struct(png_structp png_ptr);
void png_destroy_read_struct(png_structpp png_ptr_ptr, png_infopp info_ptr_ptr,
                             png_infopp end_info_ptr_ptr);
void png_set_read_fn(png_structp png_ptr, void *io_ptr, png_rw_ptr read_data_fn);
void *png_get_io_ptr(png_structp png_ptr);
void *png_get_error_ptr(png_structp png_ptr);
void png_read_info(png_structp png_ptr, png_infop info_ptr);
void png_read_image(png_structp png_ptr, png_bytepp image);
void png_read_end(png_structp png_ptr, png_infop info_ptr);
png_uint_32 png_get_image_height(png_structp png_ptr, png_infop info_ptr);
size_t png_get_rowbytes(png_structp png_ptr, png_infop info_ptr);
void png_error(png_structp png_ptr, png_const_charp error_message) __attribute__((noreturn));

/* ---------------------------------------------------------------------- */

static PyObject *CodecError;

/* ===== zlib allocators ===== */

/* Not scored: zfree counterpart, only reached from inflateEnd() with the GIL. */
static void
legacy_zfree(voidpf opaque, voidpf address)
{
    (void)opaque;
    PyMem_Free(address);
}

// BAD: api-without-gil zalloc hook uses PyMem_Malloc (needs the GIL); zlib calls it lazily from inflate() to allocate the window, and inflater_feed() runs inflate with the GIL released
static voidpf
bad_inflate_zalloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size != 0 && items > (uInt)-1 / size)
        return NULL;
    return PyMem_Malloc((size_t)items * size);
}

// OK: zalloc hook uses PyMem_RawMalloc, which is documented as safe without the GIL, for allocations made from inflate() in the released region
static voidpf
ok_inflate_zalloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size != 0 && items > (uInt)-1 / size)
        return NULL;
    return PyMem_RawMalloc((size_t)items * size);
}

/* Not scored */
static void
raw_zfree(voidpf opaque, voidpf address)
{
    (void)opaque;
    PyMem_RawFree(address);
}

typedef struct {
    PyObject_HEAD
    z_stream *zs;
} InflaterObject;

/* Not scored: init registers the allocator pair; legacy=1 for the old API. */
static int
inflater_init(InflaterObject *self, PyObject *args, PyObject *kwds)
{
    int legacy = 0;
    static char *kwlist[] = {"legacy", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p", kwlist, &legacy))
        return -1;
    self->zs = PyMem_Calloc(1, sizeof(z_stream));
    if (self->zs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->zs->zalloc = legacy ? bad_inflate_zalloc : ok_inflate_zalloc;
    self->zs->zfree = legacy ? legacy_zfree : raw_zfree;
    if (inflateInit(self->zs) != Z_OK) {
        PyErr_SetString(CodecError, "inflateInit failed");
        return -1;
    }
    return 0;
}

/* Not scored: feeds data with the GIL released; output grows with raw allocs. */
static PyObject *
inflater_feed(InflaterObject *self, PyObject *arg)
{
    Py_buffer in;
    z_stream *zs = self->zs;
    char *out = NULL;
    size_t cap = 0, used = 0;
    int rc = Z_OK, nomem = 0;
    PyObject *res;

    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    zs->next_in = (const Bytef *)in.buf;
    zs->avail_in = (uInt)in.len;
    do {
        if (used == cap) {
            char *p = PyMem_RawRealloc(out, cap ? cap * 2 : 16384);
            if (p == NULL) {
                nomem = 1;
                break;
            }
            out = p;
            cap = cap ? cap * 2 : 16384;
        }
        zs->next_out = (Bytef *)out + used;
        zs->avail_out = (uInt)(cap - used);
        rc = inflate(zs, Z_NO_FLUSH);
        used = cap - zs->avail_out;
    } while (rc == Z_OK && zs->avail_in > 0);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    if (nomem || (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)) {
        PyMem_RawFree(out);
        if (nomem)
            return PyErr_NoMemory();
        PyErr_Format(CodecError, "inflate error %d", rc);
        return NULL;
    }
    res = PyBytes_FromStringAndSize(out, (Py_ssize_t)used);
    PyMem_RawFree(out);
    return res;
}

/* ===== one-shot compress / uncompress ===== */

// BAD: api-without-gil the output buffer is allocated with PyMem_Malloc (GIL required) inside Py_BEGIN_ALLOW_THREADS
static PyObject *
bad_compress_bytes(PyObject *self, PyObject *args)
{
    Py_buffer src;
    int level = 6, rc;
    Bytef *dst;
    uLongf dlen;
    PyObject *res = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*|i", &src, &level))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    dlen = compressBound((uLong)src.len);
    dst = PyMem_Malloc(dlen);
    rc = dst ? compress2(dst, &dlen, src.buf, (uLong)src.len, level) : -4;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    if (rc == Z_OK)
        res = PyBytes_FromStringAndSize((const char *)dst, (Py_ssize_t)dlen);
    else
        PyErr_Format(CodecError, "compress2 failed (%d)", rc);
    PyMem_Free(dst);
    return res;
}

// OK: released region only uses PyMem_RawMalloc/PyMem_RawFree; the bytes object is created after the GIL is reacquired
static PyObject *
ok_compress_bytes(PyObject *self, PyObject *args)
{
    Py_buffer src;
    int level = 6, rc;
    Bytef *dst;
    uLongf dlen;
    PyObject *res = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*|i", &src, &level))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    dlen = compressBound((uLong)src.len);
    dst = PyMem_RawMalloc(dlen);
    rc = dst ? compress2(dst, &dlen, src.buf, (uLong)src.len, level) : -4;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    if (rc == Z_OK)
        res = PyBytes_FromStringAndSize((const char *)dst, (Py_ssize_t)dlen);
    else
        PyErr_Format(CodecError, "compress2 failed (%d)", rc);
    PyMem_RawFree(dst);
    return res;
}

// BAD: api-without-gil error path drops the preallocated result with Py_XDECREF while the GIL is released
static PyObject *
bad_uncompress_error(PyObject *self, PyObject *args)
{
    Py_buffer src;
    Py_ssize_t expected;
    PyObject *result;
    uLongf dlen;
    Bytef *dst;
    int rc;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n", &src, &expected))
        return NULL;
    result = PyBytes_FromStringAndSize(NULL, expected);
    if (result == NULL) {
        PyBuffer_Release(&src);
        return NULL;
    }
    dst = (Bytef *)PyBytes_AS_STRING(result);
    dlen = (uLongf)expected;
    Py_BEGIN_ALLOW_THREADS
    rc = uncompress(dst, &dlen, src.buf, (uLong)src.len);
    if (rc != Z_OK || dlen != (uLongf)expected) {
        Py_XDECREF(result);
        result = NULL;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    if (result == NULL)
        PyErr_Format(CodecError, "uncompress failed (%d)", rc);
    return result;
}

// OK: the released region only records rc/dlen; the result is discarded and the exception raised after Py_END_ALLOW_THREADS
static PyObject *
ok_uncompress_error(PyObject *self, PyObject *args)
{
    Py_buffer src;
    Py_ssize_t expected;
    PyObject *result;
    uLongf dlen;
    Bytef *dst;
    int rc;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n", &src, &expected))
        return NULL;
    result = PyBytes_FromStringAndSize(NULL, expected);
    if (result == NULL) {
        PyBuffer_Release(&src);
        return NULL;
    }
    dst = (Bytef *)PyBytes_AS_STRING(result);
    dlen = (uLongf)expected;
    Py_BEGIN_ALLOW_THREADS
    rc = uncompress(dst, &dlen, src.buf, (uLong)src.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    if (rc != Z_OK || dlen != (uLongf)expected) {
        Py_DECREF(result);
        PyErr_Format(CodecError, "uncompress failed (%d)", rc);
        return NULL;
    }
    return result;
}

/* ===== PNG decoding ===== */

struct png_decoder {
    jmp_buf jmp;
    const unsigned char *data;   /* memory source */
    size_t len, pos;
    PyObject *file;              /* file-object source */
    char errmsg[128];
};

/* Not scored: pure-C error hook, longjmps back into the decoder. */
static void
decoder_error_fn(png_structp png, png_const_charp msg)
{
    struct png_decoder *dec = (struct png_decoder *)png_get_error_ptr(png);
    snprintf(dec->errmsg, sizeof dec->errmsg, "%s", msg);
    longjmp(dec->jmp, 1);
}

/* Not scored: pure-C memory reader. */
static void
memory_read_fn(png_structp png, png_bytep out, size_t length)
{
    struct png_decoder *dec = (struct png_decoder *)png_get_io_ptr(png);
    if (dec->len - dec->pos < length)
        png_error(png, "truncated PNG data");
    memcpy(out, dec->data + dec->pos, length);
    dec->pos += length;
}

// OK: libpng read callback (called from png_read_image with the GIL released) wraps the Python read() in Ensure/Release and releases before png_error() longjmps
static void
ok_png_read_cb(png_structp png, png_bytep out, size_t length)
{
    struct png_decoder *dec = (struct png_decoder *)png_get_io_ptr(png);
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *chunk = PyObject_CallMethod(dec->file, "read", "n", (Py_ssize_t)length);
    int short_read = 1;

    if (chunk != NULL && PyBytes_Check(chunk) &&
        (size_t)PyBytes_GET_SIZE(chunk) == length) {
        memcpy(out, PyBytes_AS_STRING(chunk), length);
        short_read = 0;
    }
    if (chunk == NULL)
        PyErr_Clear();
    Py_XDECREF(chunk);
    PyGILState_Release(st);
    if (short_read)
        png_error(png, "short read from file object");
}

// BAD: api-without-gil,allow-threads-leak a libpng error inside png_read_image longjmps to the setjmp handler while the GIL is released; the handler raises, decrefs and returns NULL without restoring the thread state
static PyObject *
bad_png_decode(PyObject *self, PyObject *args)
{
    Py_buffer view;
    struct png_decoder dec;
    png_structp png;
    png_infop info;
    PyThreadState *ts;
    png_bytep *volatile rows = NULL;
    PyObject *volatile result = NULL;
    png_uint_32 h, y;
    size_t rowbytes;
    (void)self;

    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    memset(&dec, 0, sizeof dec);
    dec.data = view.buf;
    dec.len = (size_t)view.len;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &dec, decoder_error_fn, NULL);
    info = png_create_info_struct(png);
    png_set_read_fn(png, &dec, memory_read_fn);

    if (setjmp(dec.jmp)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        Py_XDECREF(result);
        PyBuffer_Release(&view);
        PyErr_Format(CodecError, "invalid PNG: %s", dec.errmsg);
        return NULL;
    }
    png_read_info(png, info);
    h = png_get_image_height(png, info);
    rowbytes = png_get_rowbytes(png, info);
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(rowbytes * h));
    rows = malloc(sizeof(png_bytep) * (h ? h : 1));
    if (result == NULL || rows == NULL) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        Py_XDECREF(result);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    for (y = 0; y < h; y++)
        rows[y] = (png_bytep)PyBytes_AS_STRING(result) + (size_t)y * rowbytes;

    ts = PyEval_SaveThread();
    png_read_image(png, rows);
    png_read_end(png, NULL);
    PyEval_RestoreThread(ts);

    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    PyBuffer_Release(&view);
    return result;
}

// OK: the thread state lives in a volatile local that is non-NULL only while the GIL is released; the setjmp handler restores it before any Python call
static PyObject *
ok_png_decode(PyObject *self, PyObject *fileobj)
{
    struct png_decoder dec;
    png_structp png;
    png_infop info;
    PyThreadState *volatile ts = NULL;
    png_bytep *volatile rows = NULL;
    PyObject *volatile result = NULL;
    png_uint_32 h, y;
    size_t rowbytes;
    (void)self;

    memset(&dec, 0, sizeof dec);
    dec.file = fileobj;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &dec, decoder_error_fn, NULL);
    info = png_create_info_struct(png);
    png_set_read_fn(png, &dec, ok_png_read_cb);

    if (setjmp(dec.jmp)) {
        if (ts != NULL) {
            PyEval_RestoreThread(ts);
            ts = NULL;
        }
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        Py_XDECREF(result);
        PyErr_Format(CodecError, "invalid PNG: %s", dec.errmsg);
        return NULL;
    }
    png_read_info(png, info);
    h = png_get_image_height(png, info);
    rowbytes = png_get_rowbytes(png, info);
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(rowbytes * h));
    rows = malloc(sizeof(png_bytep) * (h ? h : 1));
    if (result == NULL || rows == NULL) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        Py_XDECREF(result);
        return PyErr_NoMemory();
    }
    for (y = 0; y < h; y++)
        rows[y] = (png_bytep)PyBytes_AS_STRING(result) + (size_t)y * rowbytes;

    ts = PyEval_SaveThread();
    png_read_image(png, rows);
    png_read_end(png, NULL);
    PyEval_RestoreThread(ts);
    ts = NULL;

    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    return result;
}

/* ===== sorting helpers (qsort comparators) ===== */

struct keyed_item {
    PyObject *key;
    PyObject *value;
};

struct scored_item {
    double score;
    PyObject *obj;     /* borrowed from the owning list */
};

// BAD: api-without-gil qsort comparator calls PyObject_RichCompareBool; rank_by_key() runs qsort inside Py_BEGIN_ALLOW_THREADS
static int
bad_cmp_by_pykey(const void *a, const void *b)
{
    const struct keyed_item *x = a, *y = b;
    int lt = PyObject_RichCompareBool(x->key, y->key, Py_LT);
    if (lt < 0) {
        PyErr_Clear();
        return 0;
    }
    if (lt)
        return -1;
    return PyObject_RichCompareBool(y->key, x->key, Py_LT) > 0 ? 1 : 0;
}

// OK: same comparator shape, but its only caller sort_pairs_stable() runs qsort with the GIL held
static int
ok_cmp_by_pykey_gil_held(const void *a, const void *b)
{
    const struct keyed_item *x = a, *y = b;
    int lt = PyObject_RichCompareBool(x->key, y->key, Py_LT);
    if (lt < 0) {
        PyErr_Clear();
        return 0;
    }
    if (lt)
        return -1;
    return PyObject_RichCompareBool(y->key, x->key, Py_LT) > 0 ? 1 : 0;
}

// OK: comparator only reads the C double; qsort in rank_by_score() runs with the GIL released and just moves PyObject* values without dereferencing them
static int
ok_cmp_entries_by_score(const void *a, const void *b)
{
    const struct scored_item *x = a, *y = b;
    if (x->score < y->score)
        return 1;
    if (x->score > y->score)
        return -1;
    return 0;
}

/* Not scored: fills a keyed_item array from a list of (key, value) tuples. */
static struct keyed_item *
collect_pairs(PyObject *list, Py_ssize_t *n_out)
{
    Py_ssize_t i, n = PyList_GET_SIZE(list);
    struct keyed_item *arr = PyMem_Malloc(sizeof(*arr) * (size_t)(n ? n : 1));
    if (arr == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(list, i);
        arr[i].key = PyTuple_GET_ITEM(t, 0);
        arr[i].value = PyTuple_GET_ITEM(t, 1);
    }
    *n_out = n;
    return arr;
}

/* Not scored: builds a new list of values from the sorted array (GIL held). */
static PyObject *
values_to_list(struct keyed_item *arr, Py_ssize_t n)
{
    PyObject *out = PyList_New(n);
    Py_ssize_t i;
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        Py_INCREF(arr[i].value);
        PyList_SET_ITEM(out, i, arr[i].value);
    }
    return out;
}

/* Not scored: releases the GIL around qsort with the Python comparator. */
static PyObject *
rank_by_key(PyObject *self, PyObject *list)
{
    Py_ssize_t n;
    struct keyed_item *arr;
    PyObject *out;
    (void)self;
    if (!PyList_CheckExact(list))
        return PyErr_Format(PyExc_TypeError, "list required");
    arr = collect_pairs(list, &n);
    if (arr == NULL)
        return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    qsort(arr, (size_t)n, sizeof(*arr), bad_cmp_by_pykey);
    Py_END_ALLOW_THREADS
    out = values_to_list(arr, n);
    PyMem_Free(arr);
    return out;
}

/* Not scored: qsort with the GIL held. */
static PyObject *
sort_pairs_stable(PyObject *self, PyObject *list)
{
    Py_ssize_t n;
    struct keyed_item *arr;
    PyObject *out;
    (void)self;
    if (!PyList_CheckExact(list))
        return PyErr_Format(PyExc_TypeError, "list required");
    arr = collect_pairs(list, &n);
    if (arr == NULL)
        return PyErr_NoMemory();
    qsort(arr, (size_t)n, sizeof(*arr), ok_cmp_by_pykey_gil_held);
    out = values_to_list(arr, n);
    PyMem_Free(arr);
    return out;
}

/* Not scored: scores extracted with the GIL, sorted without it. */
static PyObject *
rank_by_score(PyObject *self, PyObject *args)
{
    PyObject *objs, *scores, *snapshot, *out;
    Py_ssize_t i, n;
    struct scored_item *arr;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &objs, &scores))
        return NULL;
    snapshot = PySequence_Tuple(objs);
    if (snapshot == NULL)
        return NULL;
    n = PyTuple_GET_SIZE(snapshot);
    arr = PyMem_Malloc(sizeof(*arr) * (size_t)(n ? n : 1));
    if (arr == NULL) {
        Py_DECREF(snapshot);
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++) {
        PyObject *s = PySequence_GetItem(scores, i);
        arr[i].score = s ? PyFloat_AsDouble(s) : 0.0;
        Py_XDECREF(s);
        arr[i].obj = PyTuple_GET_ITEM(snapshot, i);
    }
    if (PyErr_Occurred()) {
        PyMem_Free(arr);
        Py_DECREF(snapshot);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    qsort(arr, (size_t)n, sizeof(*arr), ok_cmp_entries_by_score);
    Py_END_ALLOW_THREADS
    out = PyList_New(n);
    for (i = 0; out != NULL && i < n; i++) {
        Py_INCREF(arr[i].obj);
        PyList_SET_ITEM(out, i, arr[i].obj);
    }
    PyMem_Free(arr);
    Py_DECREF(snapshot);
    return out;
}

static PyMethodDef Inflater_methods[] = {
    {"feed", (PyCFunction)inflater_feed, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject InflaterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_imgcodec.Inflater",
    .tp_basicsize = sizeof(InflaterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = Inflater_methods,
    .tp_init = (initproc)inflater_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"compress_fast", bad_compress_bytes, METH_VARARGS, NULL},
    {"compress", ok_compress_bytes, METH_VARARGS, NULL},
    {"uncompress_legacy", bad_uncompress_error, METH_VARARGS, NULL},
    {"uncompress", ok_uncompress_error, METH_VARARGS, NULL},
    {"decode_png_bytes", bad_png_decode, METH_VARARGS, NULL},
    {"decode_png_file", ok_png_decode, METH_O, NULL},
    {"rank_by_key", rank_by_key, METH_O, NULL},
    {"sort_pairs", sort_pairs_stable, METH_O, NULL},
    {"rank_by_score", rank_by_score, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef imgcodec_module = {
    PyModuleDef_HEAD_INIT, "_imgcodec", NULL, -1, module_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__imgcodec(void)
{
    PyObject *m;
    if (PyType_Ready(&InflaterType) < 0)
        return NULL;
    m = PyModule_Create(&imgcodec_module);
    if (m == NULL)
        return NULL;
    CodecError = PyErr_NewException("_imgcodec.CodecError", PyExc_ValueError, NULL);
    PyModule_AddObject(m, "CodecError", CodecError);
    Py_INCREF(&InflaterType);
    PyModule_AddObject(m, "Inflater", (PyObject *)&InflaterType);
    return m;
}
