/*
 * _usbdev.c -- libusb-1.0 binding for a USB data-acquisition board
 * (similar in spirit to python-libusb1's C helpers and to vendor SDK
 * wrappers).
 *
 * In "threaded" mode the module starts its own event thread that loops in
 * libusb_handle_events_timeout_completed(); libusb invokes asynchronous
 * transfer callbacks and hotplug callbacks on that thread, which never
 * holds the GIL.  In "polling" mode Python code pumps events itself.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>

/* ---- libusb.h (subset) ----------------------------------------------- */
typedef struct libusb_context libusb_context;
typedef struct libusb_device libusb_device;
typedef struct libusb_device_handle libusb_device_handle;
struct libusb_transfer;
typedef void (*libusb_transfer_cb_fn)(struct libusb_transfer *transfer);
enum libusb_transfer_status {
    LIBUSB_TRANSFER_COMPLETED, LIBUSB_TRANSFER_ERROR, LIBUSB_TRANSFER_TIMED_OUT,
    LIBUSB_TRANSFER_CANCELLED, LIBUSB_TRANSFER_STALL, LIBUSB_TRANSFER_NO_DEVICE,
    LIBUSB_TRANSFER_OVERFLOW
};
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
#define LIBUSB_TRANSFER_TYPE_INTERRUPT 3
typedef enum {
    LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED = 0x01,
    LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT = 0x02
} libusb_hotplug_event;
typedef int libusb_hotplug_callback_handle;
typedef int (*libusb_hotplug_callback_fn)(libusb_context *ctx, libusb_device *device,
                                          libusb_hotplug_event event, void *user_data);
#define LIBUSB_HOTPLUG_MATCH_ANY -1
struct libusb_transfer *libusb_alloc_transfer(int iso_packets);
int libusb_submit_transfer(struct libusb_transfer *transfer);
int libusb_cancel_transfer(struct libusb_transfer *transfer);
void libusb_free_transfer(struct libusb_transfer *transfer);
int libusb_handle_events_timeout_completed(libusb_context *ctx, struct timeval *tv,
                                           int *completed);
int libusb_bulk_transfer(libusb_device_handle *dev_handle, unsigned char endpoint,
                         unsigned char *data, int length, int *actual_length,
                         unsigned int timeout);
int libusb_hotplug_register_callback(libusb_context *ctx, int events, int flags,
                                     int vendor_id, int product_id, int dev_class,
                                     libusb_hotplug_callback_fn cb_fn, void *user_data,
                                     libusb_hotplug_callback_handle *callback_handle);
const char *libusb_error_name(int errcode);
uint8_t libusb_get_bus_number(libusb_device *dev);
uint8_t libusb_get_device_address(libusb_device *dev);

static inline void
libusb_fill_bulk_transfer(struct libusb_transfer *transfer,
                          libusb_device_handle *dev_handle, unsigned char endpoint,
                          unsigned char *buffer, int length,
                          libusb_transfer_cb_fn callback, void *user_data,
                          unsigned int timeout)
{
    transfer->dev_handle = dev_handle;
    transfer->endpoint = endpoint;
    transfer->type = LIBUSB_TRANSFER_TYPE_BULK;
    transfer->timeout = timeout;
    transfer->buffer = buffer;
    transfer->length = length;
    transfer->user_data = user_data;
    transfer->callback = callback;
}

/* ---------------------------------------------------------------------- */

static PyObject *UsbError;

struct daq_stream {
    struct libusb_transfer *xfer;
    unsigned char buf[16384];
    PyObject *on_data;         /* callable(bytes) */
    PyObject *on_error;        /* callable(int) or NULL */
    volatile int stopping;
};

/* Plain C session state, shared with the libusb event thread. */
struct usb_session {
    libusb_context *ctx;
    libusb_device_handle *handle;
    pthread_t event_thread;
    volatile int run_events;
    struct daq_stream bulk;
    struct daq_stream irq;
    PyObject *on_hotplug;
};

typedef struct {
    PyObject_HEAD
    struct usb_session *sess;
} DeviceObject;

/* Not scored: the module-owned libusb event thread; pure C. */
static void *
usb_event_thread_main(void *arg)
{
    struct usb_session *sess = (struct usb_session *)arg;
    libusb_context *ctx = sess->ctx;
    while (sess->run_events) {
        struct timeval tv = {0, 100000};
        libusb_handle_events_timeout_completed(ctx, &tv, NULL);
    }
    return NULL;
}

// BAD: thread-entry-without-gil bulk-IN completion callback runs on the module's libusb event thread and calls the Python on_data handler without the GIL
static void
bad_bulk_in_complete(struct libusb_transfer *xfer)
{
    struct daq_stream *s = (struct daq_stream *)xfer->user_data;
    PyObject *data, *r;

    if (xfer->status != LIBUSB_TRANSFER_COMPLETED || s->stopping)
        return;
    data = PyBytes_FromStringAndSize((const char *)xfer->buffer, xfer->actual_length);
    r = data ? PyObject_CallOneArg(s->on_data, data) : NULL;
    Py_XDECREF(data);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    libusb_submit_transfer(xfer);
}

// OK: interrupt-IN completion callback (libusb event thread) holds the GIL via PyGILState_Ensure for every Python call and releases it on both the error and data paths
static void
ok_irq_in_complete(struct libusb_transfer *xfer)
{
    struct daq_stream *s = (struct daq_stream *)xfer->user_data;
    PyGILState_STATE st;
    PyObject *r = NULL;
    int status = (int)xfer->status;

    if (s->stopping)
        return;
    st = PyGILState_Ensure();
    if (status != LIBUSB_TRANSFER_COMPLETED) {
        if (s->on_error != NULL)
            r = PyObject_CallFunction(s->on_error, "i", status);
        if (r == NULL && PyErr_Occurred())
            PyErr_Print();
        Py_XDECREF(r);
        PyGILState_Release(st);
        return;
    }
    r = PyObject_CallFunction(s->on_data, "y#", (const char *)xfer->buffer,
                              (Py_ssize_t)xfer->actual_length);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
    libusb_submit_transfer(xfer);
}

// OK: hotplug callback (invoked by libusb on the event-handling thread) takes the GIL before building the event tuple and releases it before returning
static int
ok_hotplug_cb(libusb_context *ctx, libusb_device *device,
              libusb_hotplug_event event, void *user_data)
{
    struct usb_session *sess = (struct usb_session *)user_data;
    uint8_t bus = libusb_get_bus_number(device);
    uint8_t addr = libusb_get_device_address(device);
    PyGILState_STATE st;
    PyObject *r;
    (void)ctx;

    st = PyGILState_Ensure();
    r = PyObject_CallFunction(sess->on_hotplug, "(iii)", (int)event, (int)bus, (int)addr);
    if (r == NULL)
        PyErr_WriteUnraisable(sess->on_hotplug);
    Py_XDECREF(r);
    PyGILState_Release(st);
    return 0;
}

/* Not scored: registers the callbacks and starts the event thread. */
static PyObject *
device_start_streaming(DeviceObject *self, PyObject *args)
{
    struct usb_session *sess = self->sess;
    PyObject *on_data, *on_irq, *on_hotplug;
    libusb_hotplug_callback_handle hh;
    if (!PyArg_ParseTuple(args, "OOO", &on_data, &on_irq, &on_hotplug))
        return NULL;
    Py_INCREF(on_data);
    Py_INCREF(on_irq);
    Py_INCREF(on_hotplug);
    sess->bulk.on_data = on_data;
    sess->irq.on_data = on_irq;
    sess->on_hotplug = on_hotplug;

    sess->bulk.xfer = libusb_alloc_transfer(0);
    libusb_fill_bulk_transfer(sess->bulk.xfer, sess->handle, 0x81, sess->bulk.buf,
                              (int)sizeof sess->bulk.buf, bad_bulk_in_complete,
                              &sess->bulk, 0);
    sess->irq.xfer = libusb_alloc_transfer(0);
    libusb_fill_bulk_transfer(sess->irq.xfer, sess->handle, 0x83, sess->irq.buf, 64,
                              ok_irq_in_complete, &sess->irq, 0);
    sess->irq.xfer->type = LIBUSB_TRANSFER_TYPE_INTERRUPT;
    libusb_hotplug_register_callback(sess->ctx,
                                     LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED |
                                     LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
                                     0, 0x1d50, LIBUSB_HOTPLUG_MATCH_ANY,
                                     LIBUSB_HOTPLUG_MATCH_ANY, ok_hotplug_cb, sess, &hh);
    libusb_submit_transfer(sess->bulk.xfer);
    libusb_submit_transfer(sess->irq.xfer);
    sess->run_events = 1;
    if (pthread_create(&sess->event_thread, NULL, usb_event_thread_main, sess) != 0) {
        PyErr_SetString(UsbError, "cannot start libusb event thread");
        return NULL;
    }
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil synchronous libusb_bulk_transfer (up to the 2 s timeout) is called with the GIL held
static PyObject *
bad_usb_bulk_read_with_gil(DeviceObject *self, PyObject *args)
{
    struct usb_session *sess = self->sess;
    int length = 512, got = 0, rc;
    unsigned int ep = 0x82;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "|iI", &length, &ep))
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, length);
    if (out == NULL)
        return NULL;
    rc = libusb_bulk_transfer(sess->handle, (unsigned char)ep,
                              (unsigned char *)PyBytes_AS_STRING(out), length, &got, 2000);
    if (rc < 0) {
        Py_DECREF(out);
        PyErr_SetString(UsbError, libusb_error_name(rc));
        return NULL;
    }
    if (_PyBytes_Resize(&out, got) < 0)
        return NULL;
    return out;
}

// OK: polling mode pumps libusb events with a zero timeval, which returns immediately, so the GIL stays held (completion callbacks re-enter PyGILState_Ensure safely)
static PyObject *
ok_usb_poll_events_zero_timeout(DeviceObject *self, PyObject *Py_UNUSED(ignored))
{
    struct usb_session *sess = self->sess;
    struct timeval zero = {0, 0};
    int rc = libusb_handle_events_timeout_completed(sess->ctx, &zero, NULL);
    if (rc < 0) {
        PyErr_SetString(UsbError, libusb_error_name(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil close() joins the libusb event thread with the GIL held; that thread may be inside ok_irq_in_complete waiting in PyGILState_Ensure
static PyObject *
bad_usb_close_join(DeviceObject *self, PyObject *Py_UNUSED(ignored))
{
    struct usb_session *sess = self->sess;

    sess->bulk.stopping = 1;
    sess->irq.stopping = 1;
    libusb_cancel_transfer(sess->bulk.xfer);
    libusb_cancel_transfer(sess->irq.xfer);
    sess->run_events = 0;
    pthread_join(sess->event_thread, NULL);
    libusb_free_transfer(sess->bulk.xfer);
    libusb_free_transfer(sess->irq.xfer);
    Py_CLEAR(sess->bulk.on_data);
    Py_CLEAR(sess->irq.on_data);
    Py_RETURN_NONE;
}

static PyMethodDef Device_methods[] = {
    {"start_streaming", (PyCFunction)device_start_streaming, METH_VARARGS, NULL},
    {"bulk_read", (PyCFunction)bad_usb_bulk_read_with_gil, METH_VARARGS, NULL},
    {"poll", (PyCFunction)ok_usb_poll_events_zero_timeout, METH_NOARGS, NULL},
    {"close", (PyCFunction)bad_usb_close_join, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject DeviceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_usbdev.Device",
    .tp_basicsize = sizeof(DeviceObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = Device_methods,
};

static struct PyModuleDef usbdev_module = {
    PyModuleDef_HEAD_INIT, "_usbdev", NULL, -1, NULL, NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__usbdev(void)
{
    PyObject *m;
    if (PyType_Ready(&DeviceType) < 0)
        return NULL;
    m = PyModule_Create(&usbdev_module);
    if (m == NULL)
        return NULL;
    UsbError = PyErr_NewException("_usbdev.UsbError", PyExc_OSError, NULL);
    PyModule_AddObject(m, "UsbError", UsbError);
    Py_INCREF(&DeviceType);
    PyModule_AddObject(m, "Device", (PyObject *)&DeviceType);
    return m;
}
