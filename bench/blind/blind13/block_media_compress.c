/* _mediapack: audio I/O and stream compression helpers. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---- portaudio.h ---- */
typedef void PaStream;
typedef int PaError;
PaError Pa_WriteStream(PaStream *stream, const void *buffer, unsigned long frames);
PaError Pa_ReadStream(PaStream *stream, void *buffer, unsigned long frames);
const char *Pa_GetErrorText(PaError errorCode);
/* ---- alsa ---- */
typedef struct _snd_pcm snd_pcm_t;
typedef unsigned long snd_pcm_uframes_t;
typedef long snd_pcm_sframes_t;
snd_pcm_sframes_t snd_pcm_writei(snd_pcm_t *pcm, const void *buffer, snd_pcm_uframes_t size);
int snd_pcm_recover(snd_pcm_t *pcm, int err, int silent);
const char *snd_strerror(int errnum);
/* ---- SDL ---- */
typedef uint32_t Uint32;
typedef union SDL_Event { Uint32 type; uint8_t padding[56]; } SDL_Event;
void SDL_Delay(Uint32 ms);
int SDL_WaitEvent(SDL_Event *event);
int SDL_PollEvent(SDL_Event *event);
/* ---- libusb ---- */
typedef struct libusb_device_handle libusb_device_handle;
int libusb_bulk_transfer(libusb_device_handle *dev_handle, unsigned char endpoint,
                         unsigned char *data, int length, int *actual_length, unsigned int timeout);
const char *libusb_error_name(int errcode);
/* ---- zlib.h ---- */
typedef struct z_stream_s {
    const unsigned char *next_in; unsigned int avail_in; unsigned long total_in;
    unsigned char *next_out; unsigned int avail_out; unsigned long total_out;
    const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
    int data_type; unsigned long adler; unsigned long reserved;
} z_stream;
#define Z_OK 0
#define Z_STREAM_END 1
#define Z_FINISH 4
int deflate(z_stream *strm, int flush);
int inflate(z_stream *strm, int flush);
/* ---- bzlib.h ---- */
typedef struct {
    char *next_in; unsigned int avail_in; unsigned int total_in_lo32, total_in_hi32;
    char *next_out; unsigned int avail_out; unsigned int total_out_lo32, total_out_hi32;
    void *state; void *(*bzalloc)(void *, int, int); void (*bzfree)(void *, void *); void *opaque;
} bz_stream;
#define BZ_FINISH 2
#define BZ_STREAM_END 4
int BZ2_bzCompress(bz_stream *strm, int action);
/* ---- lzma.h ---- */
typedef struct {
    const uint8_t *next_in; size_t avail_in; uint64_t total_in;
    uint8_t *next_out; size_t avail_out; uint64_t total_out;
    const void *allocator; void *internal; void *reserved[8];
} lzma_stream;
typedef enum { LZMA_OK = 0, LZMA_STREAM_END = 1 } lzma_ret;
typedef enum { LZMA_RUN = 0, LZMA_FINISH = 3 } lzma_action;
lzma_ret lzma_code(lzma_stream *strm, lzma_action action);
/* ---- zstd.h ---- */
typedef struct ZSTD_DCtx_s ZSTD_DCtx;
typedef struct ZSTD_inBuffer_s { const void *src; size_t size; size_t pos; } ZSTD_inBuffer;
typedef struct ZSTD_outBuffer_s { void *dst; size_t size; size_t pos; } ZSTD_outBuffer;
size_t ZSTD_decompressStream(ZSTD_DCtx *zds, ZSTD_outBuffer *output, ZSTD_inBuffer *input);
unsigned ZSTD_isError(size_t code);
const char *ZSTD_getErrorName(size_t code);
/* ---- end ---- */

typedef struct {
    PyObject_HEAD
    PaStream *pa;
    snd_pcm_t *pcm;
    libusb_device_handle *usb;
    int frame_bytes;
} Device;

typedef struct {
    PyObject_HEAD
    z_stream zs;
    bz_stream bz;
    lzma_stream lz;
    ZSTD_DCtx *dctx;
} Codec;

static PyObject *
bad_pa_write(Device *self, PyObject *args)
{
    Py_buffer buf;
    PaError err;

    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    err = Pa_WriteStream(self->pa, buf.buf, (unsigned long)(buf.len / self->frame_bytes));
    PyBuffer_Release(&buf);
    if (err < 0) {
        PyErr_SetString(PyExc_OSError, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ok_pa_read(Device *self, PyObject *arg)
{
    unsigned long frames = PyLong_AsUnsignedLong(arg);
    PyObject *out;
    PaError err;

    if (frames == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(frames * self->frame_bytes));
    if (out == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    err = Pa_ReadStream(self->pa, PyBytes_AS_STRING(out), frames);
    Py_END_ALLOW_THREADS
    if (err < 0) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_OSError, Pa_GetErrorText(err));
        return NULL;
    }
    return out;
}

static PyObject *
ok_pcm_write(Device *self, PyObject *args)
{
    Py_buffer buf;
    snd_pcm_sframes_t n;
    snd_pcm_uframes_t frames;

    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    frames = (snd_pcm_uframes_t)(buf.len / self->frame_bytes);
    Py_BEGIN_ALLOW_THREADS
    n = snd_pcm_writei(self->pcm, buf.buf, frames);
    if (n < 0)
        n = snd_pcm_recover(self->pcm, (int)n, 1);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    if (n < 0) {
        PyErr_SetString(PyExc_OSError, snd_strerror((int)n));
        return NULL;
    }
    return PyLong_FromLong(n);
}

static PyObject *
bad_usb_read(Device *self, PyObject *args)
{
    int ep, len, got = 0, rc;
    unsigned int timeout = 0;
    PyObject *out;

    if (!PyArg_ParseTuple(args, "ii|I", &ep, &len, &timeout))
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, len);
    if (out == NULL)
        return NULL;
    rc = libusb_bulk_transfer(self->usb, (unsigned char)ep,
                              (unsigned char *)PyBytes_AS_STRING(out), len, &got, timeout);
    if (rc < 0) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_OSError, libusb_error_name(rc));
        return NULL;
    }
    _PyBytes_Resize(&out, got);
    return out;
}

static PyObject *
ok_sdl_wait(PyObject *mod, PyObject *args)
{
    SDL_Event ev;
    int rc, delay_ms = 0;
    (void)mod;

    if (!PyArg_ParseTuple(args, "|i", &delay_ms))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    if (delay_ms > 0)
        SDL_Delay((Uint32)delay_ms);
    rc = SDL_WaitEvent(&ev);
    Py_END_ALLOW_THREADS
    if (!rc)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(ev.type);
}

static PyObject *
ok_sdl_poll(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    SDL_Event ev;
    PyObject *types = PyList_New(0);
    (void)mod;
    if (types == NULL)
        return NULL;
    while (SDL_PollEvent(&ev)) {
        PyObject *t = PyLong_FromUnsignedLong(ev.type);
        if (t == NULL || PyList_Append(types, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(types);
            return NULL;
        }
        Py_DECREF(t);
    }
    return types;
}

static PyObject *
bad_zlib_compress(Codec *self, PyObject *args)
{
    Py_buffer in;
    PyObject *out;
    Py_ssize_t cap;
    int err;

    if (!PyArg_ParseTuple(args, "y*", &in))
        return NULL;
    cap = in.len + in.len / 1000 + 64;
    out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    self->zs.next_in = in.buf;
    self->zs.avail_in = (unsigned int)in.len;
    self->zs.next_out = (unsigned char *)PyBytes_AS_STRING(out);
    self->zs.avail_out = (unsigned int)cap;
    err = deflate(&self->zs, Z_FINISH);
    PyBuffer_Release(&in);
    if (err != Z_STREAM_END) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_ValueError, self->zs.msg ? self->zs.msg : "deflate failed");
        return NULL;
    }
    _PyBytes_Resize(&out, cap - (Py_ssize_t)self->zs.avail_out);
    return out;
}

static PyObject *
ok_zlib_decompress(Codec *self, PyObject *args)
{
    Py_buffer in;
    Py_ssize_t cap;
    PyObject *out;
    int err;

    if (!PyArg_ParseTuple(args, "y*n", &in, &cap))
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    self->zs.next_in = in.buf;
    self->zs.avail_in = (unsigned int)in.len;
    self->zs.next_out = (unsigned char *)PyBytes_AS_STRING(out);
    self->zs.avail_out = (unsigned int)cap;
    Py_BEGIN_ALLOW_THREADS
    err = inflate(&self->zs, Z_FINISH);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    if (err != Z_STREAM_END && err != Z_OK) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_ValueError, "inflate failed");
        return NULL;
    }
    _PyBytes_Resize(&out, cap - (Py_ssize_t)self->zs.avail_out);
    return out;
}

static PyObject *
ok_bz2_compress(Codec *self, PyObject *args)
{
    Py_buffer in;
    PyObject *out;
    Py_ssize_t cap;
    int rc;

    if (!PyArg_ParseTuple(args, "y*", &in))
        return NULL;
    cap = in.len + in.len / 100 + 600;
    out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL)
        goto error;
    self->bz.next_in = in.buf;
    self->bz.avail_in = (unsigned int)in.len;
    self->bz.next_out = PyBytes_AS_STRING(out);
    self->bz.avail_out = (unsigned int)cap;
    Py_BEGIN_ALLOW_THREADS
    do {
        rc = BZ2_bzCompress(&self->bz, BZ_FINISH);
    } while (rc > 0 && rc != BZ_STREAM_END && self->bz.avail_out > 0);
    Py_END_ALLOW_THREADS
    if (rc != BZ_STREAM_END) {
        PyErr_Format(PyExc_OSError, "BZ2_bzCompress: %d", rc);
        goto error;
    }
    PyBuffer_Release(&in);
    _PyBytes_Resize(&out, cap - (Py_ssize_t)self->bz.avail_out);
    return out;
error:
    Py_XDECREF(out);
    PyBuffer_Release(&in);
    return NULL;
}

static PyObject *
ok_lzma_decompress(Codec *self, PyObject *args)
{
    Py_buffer in;
    Py_ssize_t cap;
    PyObject *out;
    lzma_ret ret;

    if (!PyArg_ParseTuple(args, "y*n", &in, &cap))
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    self->lz.next_in = in.buf;
    self->lz.avail_in = (size_t)in.len;
    self->lz.next_out = (uint8_t *)PyBytes_AS_STRING(out);
    self->lz.avail_out = (size_t)cap;
    Py_BEGIN_ALLOW_THREADS
    ret = lzma_code(&self->lz, LZMA_RUN);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    if (ret != LZMA_OK && ret != LZMA_STREAM_END) {
        Py_DECREF(out);
        PyErr_Format(PyExc_ValueError, "lzma_code: %d", (int)ret);
        return NULL;
    }
    _PyBytes_Resize(&out, cap - (Py_ssize_t)self->lz.avail_out);
    return out;
}

static PyObject *
bad_zstd_decompress(Codec *self, PyObject *args)
{
    Py_buffer in;
    Py_ssize_t cap;
    PyObject *out;
    ZSTD_inBuffer ib;
    ZSTD_outBuffer ob;
    size_t zr;

    if (!PyArg_ParseTuple(args, "y*n", &in, &cap))
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    ib.src = in.buf; ib.size = (size_t)in.len; ib.pos = 0;
    ob.dst = PyBytes_AS_STRING(out); ob.size = (size_t)cap; ob.pos = 0;
    while (ib.pos < ib.size) {
        zr = ZSTD_decompressStream(self->dctx, &ob, &ib);
        if (ZSTD_isError(zr)) {
            PyBuffer_Release(&in);
            Py_DECREF(out);
            PyErr_SetString(PyExc_ValueError, ZSTD_getErrorName(zr));
            return NULL;
        }
        if (ob.pos == ob.size)
            break;
    }
    PyBuffer_Release(&in);
    _PyBytes_Resize(&out, (Py_ssize_t)ob.pos);
    return out;
}

static PyMethodDef Device_methods[] = {
    {"pa_write", (PyCFunction)bad_pa_write, METH_VARARGS, NULL},
    {"pa_read", (PyCFunction)ok_pa_read, METH_O, NULL},
    {"pcm_write", (PyCFunction)ok_pcm_write, METH_VARARGS, NULL},
    {"usb_read", (PyCFunction)bad_usb_read, METH_VARARGS, NULL},
    {NULL}
};
static PyMethodDef Codec_methods[] = {
    {"zcompress", (PyCFunction)bad_zlib_compress, METH_VARARGS, NULL},
    {"zdecompress", (PyCFunction)ok_zlib_decompress, METH_VARARGS, NULL},
    {"bz2compress", (PyCFunction)ok_bz2_compress, METH_VARARGS, NULL},
    {"xzdecompress", (PyCFunction)ok_lzma_decompress, METH_VARARGS, NULL},
    {"zstd_decompress", (PyCFunction)bad_zstd_decompress, METH_VARARGS, NULL},
    {NULL}
};
static PyMethodDef module_methods[] = {
    {"wait_event", ok_sdl_wait, METH_VARARGS, NULL},
    {"poll_events", ok_sdl_poll, METH_NOARGS, NULL},
    {NULL}
};
static PyTypeObject DeviceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_mediapack.Device", .tp_basicsize = sizeof(Device),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Device_methods, .tp_new = PyType_GenericNew,
};
static PyTypeObject CodecType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_mediapack.Codec", .tp_basicsize = sizeof(Codec),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Codec_methods, .tp_new = PyType_GenericNew,
};
static struct PyModuleDef mediapack_module = {
    PyModuleDef_HEAD_INIT, "_mediapack", NULL, -1, module_methods,
};

PyMODINIT_FUNC
PyInit__mediapack(void)
{
    PyObject *m;
    if (PyType_Ready(&DeviceType) < 0 || PyType_Ready(&CodecType) < 0)
        return NULL;
    m = PyModule_Create(&mediapack_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&DeviceType);
    PyModule_AddObject(m, "Device", (PyObject *)&DeviceType);
    Py_INCREF(&CodecType);
    PyModule_AddObject(m, "Codec", (PyObject *)&CodecType);
    return m;
}
