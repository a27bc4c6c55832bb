/* _hwio: SDL audio output and libusb async transfers for a small device toolkit. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---- SDL.h (subset) ---- */
typedef uint8_t Uint8;
typedef uint16_t Uint16;
typedef uint32_t Uint32;
typedef Uint16 SDL_AudioFormat;
typedef Uint32 SDL_AudioDeviceID;
typedef void (*SDL_AudioCallback)(void *userdata, Uint8 *stream, int len);
typedef struct SDL_AudioSpec {
    int freq;
    SDL_AudioFormat format;
    Uint8 channels;
    Uint8 silence;
    Uint16 samples;
    Uint16 padding;
    Uint32 size;
    SDL_AudioCallback callback;
    void *userdata;
} SDL_AudioSpec;
#define AUDIO_S16SYS 0x8010
#define SDL_INIT_AUDIO 0x00000010u
int SDL_InitSubSystem(Uint32 flags);
SDL_AudioDeviceID SDL_OpenAudioDevice(const char *device, int iscapture,
                                      const SDL_AudioSpec *desired,
                                      SDL_AudioSpec *obtained, int allowed_changes);
void SDL_PauseAudioDevice(SDL_AudioDeviceID dev, int pause_on);
const char *SDL_GetError(void);
/* ---- libusb.h (subset) ---- */
typedef struct libusb_context libusb_context;
typedef struct libusb_device libusb_device;
typedef struct libusb_device_handle libusb_device_handle;
typedef int libusb_hotplug_callback_handle;
typedef enum { LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED = 1, LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT = 2 } libusb_hotplug_event;
typedef enum { LIBUSB_HOTPLUG_NO_FLAGS = 0, LIBUSB_HOTPLUG_ENUMERATE = 1 } libusb_hotplug_flag;
#define LIBUSB_HOTPLUG_MATCH_ANY -1
enum libusb_transfer_status {
    LIBUSB_TRANSFER_COMPLETED, LIBUSB_TRANSFER_ERROR, LIBUSB_TRANSFER_TIMED_OUT,
    LIBUSB_TRANSFER_CANCELLED, LIBUSB_TRANSFER_STALL, LIBUSB_TRANSFER_NO_DEVICE,
    LIBUSB_TRANSFER_OVERFLOW
};
struct libusb_transfer;
typedef void (*libusb_transfer_cb_fn)(struct libusb_transfer *transfer);
struct libusb_transfer {
    libusb_device_handle *dev_handle;
    uint8_t flags;
    unsigned char endpoint;
    unsigned char type;
    unsigned int timeout;
    enum libusb_transfer_status status;
    int length;
    int actual_length;
    libusb_transfer_cb_fn callback;
    void *user_data;
    unsigned char *buffer;
    int num_iso_packets;
};
#define LIBUSB_TRANSFER_TYPE_BULK 2
typedef int (*libusb_hotplug_callback_fn)(libusb_context *ctx, libusb_device *device,
                                          libusb_hotplug_event event, void *user_data);
struct libusb_transfer *libusb_alloc_transfer(int iso_packets);
void libusb_free_transfer(struct libusb_transfer *transfer);
int libusb_submit_transfer(struct libusb_transfer *transfer);
int libusb_hotplug_register_callback(libusb_context *ctx, int events, int flags,
                                     int vendor_id, int product_id, int dev_class,
                                     libusb_hotplug_callback_fn cb_fn, void *user_data,
                                     libusb_hotplug_callback_handle *callback_handle);
const char *libusb_error_name(int errcode);
/* ---- end ---- */

typedef struct {
    PyObject_HEAD
    SDL_AudioDeviceID dev;
    PyObject *generator;     /* callable(nbytes) -> bytes */
    Uint8 silence;
} AudioOut;

typedef struct {
    PyObject_HEAD
    libusb_context *ctx;
    libusb_device_handle *handle;
    PyObject *on_data;
    PyObject *on_hotplug;
    libusb_hotplug_callback_handle hp;
} UsbDevice;

static void
bad_sdl_fill_audio(void *userdata, Uint8 *stream, int len)
{
    AudioOut *self = (AudioOut *)userdata;
    PyObject *chunk = PyObject_CallFunction(self->generator, "i", len);

    if (chunk == NULL || !PyBytes_Check(chunk)) {
        PyErr_Clear();
        memset(stream, self->silence, (size_t)len);
    }
    else {
        Py_ssize_t n = PyBytes_GET_SIZE(chunk);
        if (n > len)
            n = len;
        memcpy(stream, PyBytes_AS_STRING(chunk), (size_t)n);
        memset(stream + n, self->silence, (size_t)(len - n));
    }
    Py_XDECREF(chunk);
}

static void
ok_sdl_fill_audio(void *userdata, Uint8 *stream, int len)
{
    AudioOut *self = (AudioOut *)userdata;
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *chunk = PyObject_CallFunction(self->generator, "i", len);

    if (chunk == NULL) {
        PyErr_Print();
        memset(stream, self->silence, (size_t)len);
        PyGILState_Release(gs);
        return;
    }
    if (PyBytes_Check(chunk)) {
        Py_ssize_t n = PyBytes_GET_SIZE(chunk);
        if (n > len)
            n = len;
        memcpy(stream, PyBytes_AS_STRING(chunk), (size_t)n);
        if (n < len)
            memset(stream + n, self->silence, (size_t)(len - n));
    }
    Py_DECREF(chunk);
    PyGILState_Release(gs);
}

static PyObject *
AudioOut_start(AudioOut *self, PyObject *args)
{
    SDL_AudioSpec want, have;
    int freq = 44100, checked = 1;

    if (!PyArg_ParseTuple(args, "|ip", &freq, &checked))
        return NULL;
    memset(&want, 0, sizeof(want));
    want.freq = freq;
    want.format = AUDIO_S16SYS;
    want.channels = 2;
    want.samples = 1024;
    want.callback = checked ? ok_sdl_fill_audio : bad_sdl_fill_audio;
    want.userdata = self;
    self->dev = SDL_OpenAudioDevice(NULL, 0, &want, &have, 0);
    if (self->dev == 0) {
        PyErr_SetString(PyExc_OSError, SDL_GetError());
        return NULL;
    }
    self->silence = have.silence;
    SDL_PauseAudioDevice(self->dev, 0);
    Py_RETURN_NONE;
}

static void
bad_usb_transfer_done(struct libusb_transfer *xfr)
{
    UsbDevice *self = (UsbDevice *)xfr->user_data;
    PyObject *payload, *r;

    if (xfr->status != LIBUSB_TRANSFER_COMPLETED) {
        libusb_free_transfer(xfr);
        return;
    }
    payload = PyBytes_FromStringAndSize((const char *)xfr->buffer, xfr->actual_length);
    if (payload != NULL) {
        r = PyObject_CallOneArg(self->on_data, payload);
        Py_XDECREF(r);
        Py_DECREF(payload);
    }
    libusb_submit_transfer(xfr);
}

static void
ok_usb_transfer_done(struct libusb_transfer *xfr)
{
    UsbDevice *self = (UsbDevice *)xfr->user_data;
    PyGILState_STATE state;
    PyObject *payload;
    int resubmit = 1;

    switch (xfr->status) {
    case LIBUSB_TRANSFER_COMPLETED:
        break;
    case LIBUSB_TRANSFER_TIMED_OUT:
        libusb_submit_transfer(xfr);
        return;
    default:
        libusb_free_transfer(xfr);
        return;
    }

    state = PyGILState_Ensure();
    payload = PyBytes_FromStringAndSize((const char *)xfr->buffer, xfr->actual_length);
    if (payload == NULL)
        goto error;
    {
        PyObject *r = PyObject_CallOneArg(self->on_data, payload);
        Py_DECREF(payload);
        if (r == NULL)
            goto error;
        if (r == Py_False)
            resubmit = 0;
        Py_DECREF(r);
    }
    PyGILState_Release(state);
    goto done;
error:
    PyErr_WriteUnraisable(self->on_data);
    PyGILState_Release(state);
done:
    if (resubmit)
        libusb_submit_transfer(xfr);
    else
        libusb_free_transfer(xfr);
}

static int
bad_usb_hotplug(libusb_context *ctx, libusb_device *device,
                libusb_hotplug_event event, void *user_data)
{
    UsbDevice *self = (UsbDevice *)user_data;
    PyObject *r;
    (void)ctx; (void)device;

    r = PyObject_CallFunction(self->on_hotplug, "s",
                              event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED ? "arrived" : "left");
    if (r == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(r);
    return 0;
}

static PyObject *
UsbDevice_start(UsbDevice *self, PyObject *args)
{
    int ep, rc;
    unsigned char *buf;
    struct libusb_transfer *xfr;

    if (!PyArg_ParseTuple(args, "i", &ep))
        return NULL;
    buf = PyMem_RawMalloc(512);
    if (buf == NULL)
        return PyErr_NoMemory();
    xfr = libusb_alloc_transfer(0);
    if (xfr == NULL) {
        PyMem_RawFree(buf);
        return PyErr_NoMemory();
    }
    xfr->dev_handle = self->handle;
    xfr->endpoint = (unsigned char)ep;
    xfr->type = LIBUSB_TRANSFER_TYPE_BULK;
    xfr->timeout = 0;
    xfr->buffer = buf;
    xfr->length = 512;
    xfr->user_data = self;
    xfr->callback = (ep & 0x80) ? ok_usb_transfer_done : bad_usb_transfer_done;
    rc = libusb_submit_transfer(xfr);
    if (rc < 0) {
        libusb_free_transfer(xfr);
        PyMem_RawFree(buf);
        PyErr_SetString(PyExc_OSError, libusb_error_name(rc));
        return NULL;
    }
    rc = libusb_hotplug_register_callback(self->ctx,
            LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
            LIBUSB_HOTPLUG_NO_FLAGS, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
            LIBUSB_HOTPLUG_MATCH_ANY, bad_usb_hotplug, self, &self->hp);
    if (rc < 0) {
        PyErr_SetString(PyExc_OSError, libusb_error_name(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef AudioOut_methods[] = {
    {"start", (PyCFunction)AudioOut_start, METH_VARARGS, NULL},
    {NULL}
};
static PyMethodDef UsbDevice_methods[] = {
    {"start", (PyCFunction)UsbDevice_start, METH_VARARGS, NULL},
    {NULL}
};

static PyTypeObject AudioOutType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_hwio.AudioOut",
    .tp_basicsize = sizeof(AudioOut),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = AudioOut_methods,
    .tp_new = PyType_GenericNew,
};
static PyTypeObject UsbDeviceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_hwio.UsbDevice",
    .tp_basicsize = sizeof(UsbDevice),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = UsbDevice_methods,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef hwio_module = { PyModuleDef_HEAD_INIT, "_hwio", NULL, -1, NULL };

PyMODINIT_FUNC
PyInit__hwio(void)
{
    PyObject *m;
    if (SDL_InitSubSystem(SDL_INIT_AUDIO) < 0) {
        PyErr_SetString(PyExc_ImportError, SDL_GetError());
        return NULL;
    }
    if (PyType_Ready(&AudioOutType) < 0 || PyType_Ready(&UsbDeviceType) < 0)
        return NULL;
    m = PyModule_Create(&hwio_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&AudioOutType);
    PyModule_AddObject(m, "AudioOut", (PyObject *)&AudioOutType);
    Py_INCREF(&UsbDeviceType);
    PyModule_AddObject(m, "UsbDevice", (PyObject *)&UsbDeviceType);
    return m;
}
