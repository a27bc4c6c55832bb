// Callbacks that ALSA and libusb call outside the registering code (rules/libs/alsa.yml, libusb.yml): ALSA's
// asynchronous handlers run in its SIGIO signal handler, libusb's transfer and hotplug callbacks on the thread
// that handles USB events (here a thread of the extension's own, which loops without the GIL). The prototypes
// are declared here.
#include <Python.h>
#include <signal.h>

typedef struct _snd_pcm snd_pcm_t;
typedef struct _snd_async_handler snd_async_handler_t;
typedef void (*snd_async_callback_t)(snd_async_handler_t *handler);
int snd_async_add_pcm_handler(snd_async_handler_t **handler, snd_pcm_t *pcm, snd_async_callback_t callback,
                              void *private_data);
void *snd_async_handler_get_callback_private(snd_async_handler_t *handler);

typedef struct libusb_context libusb_context;
typedef struct libusb_device libusb_device;
typedef struct libusb_device_handle libusb_device_handle;
struct libusb_transfer;
typedef void (*libusb_transfer_cb_fn)(struct libusb_transfer *transfer);
struct libusb_transfer {
    libusb_device_handle *dev_handle;
    unsigned char endpoint;
    int status;
    int length;
    int actual_length;
    libusb_transfer_cb_fn callback;
    void *user_data;
    unsigned char *buffer;
};
void libusb_fill_bulk_transfer(struct libusb_transfer *transfer, libusb_device_handle *dev_handle,
                               unsigned char endpoint, unsigned char *buffer, int length,
                               libusb_transfer_cb_fn callback, void *user_data, unsigned int timeout);
int libusb_submit_transfer(struct libusb_transfer *transfer);
typedef int (*libusb_hotplug_callback_fn)(libusb_context *ctx, libusb_device *device, int event, void *user_data);
int libusb_hotplug_register_callback(libusb_context *ctx, int events, int flags, int vendor_id, int product_id,
                                     int dev_class, libusb_hotplug_callback_fn cb_fn, void *user_data,
                                     int *callback_handle);

static volatile sig_atomic_t period_elapsed;
static PyObject *on_period, *on_data, *on_plug;

static void bad_period_handler(snd_async_handler_t *handler)
{
    PyObject *r = PyObject_CallNoArgs(on_period);  // expect-error{{registered with snd_async_add_pcm_handler() at lib_device_callbacks.c:90, which calls it from alsa-lib's SIGIO signal handler}} [thread-entry-without-gil]
    Py_XDECREF(r);
}

/* Only what a signal handler may do: set a flag for the main loop. */
static void ok_period_handler(snd_async_handler_t *handler)
{
    (void)handler;
    period_elapsed = 1;
}

static void bad_on_bulk_done(struct libusb_transfer *t)
{
    PyObject *b = PyBytes_FromStringAndSize((const char *)t->buffer, t->actual_length);   // expect-error{{registered with libusb_fill_bulk_transfer() at lib_device_callbacks.c:93, which calls it on the thread that runs libusb_handle_events()}} [thread-entry-without-gil]
    PyObject *r = PyObject_CallOneArg(on_data, b);
    Py_XDECREF(r);
    Py_XDECREF(b);
}

static void ok_on_interrupt_done(struct libusb_transfer *t)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(on_data, "i", t->status);
    Py_XDECREF(r);
    PyGILState_Release(st);
    libusb_submit_transfer(t);
}

static int bad_on_hotplug(libusb_context *ctx, libusb_device *device, int event, void *user_data)
{
    PyObject *r = PyObject_CallFunction(on_plug, "i", event);   // expect-error{{registered with libusb_hotplug_register_callback() at lib_device_callbacks.c:99, which calls it on the thread that runs libusb_handle_events()}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

static void bad_on_status(struct libusb_transfer *t)
{
    if (t->status != 0)
        PyErr_SetString(PyExc_OSError, "status transfer failed");   // expect-error{{registered with libusb_submit_transfer() at lib_device_callbacks.c:98, which calls it on the thread that runs libusb_handle_events()}} [thread-entry-without-gil]
}

int start_devices(snd_pcm_t *pcm, snd_pcm_t *pcm2, libusb_context *usb, libusb_device_handle *dev,
                  struct libusb_transfer *bulk, struct libusb_transfer *irq, struct libusb_transfer *status,
                  unsigned char *buf)
{
    snd_async_handler_t *h1, *h2;
    if (snd_async_add_pcm_handler(&h1, pcm, bad_period_handler, NULL) < 0
        || snd_async_add_pcm_handler(&h2, pcm2, ok_period_handler, NULL) < 0)
        return -1;
    libusb_fill_bulk_transfer(bulk, dev, 0x81, buf, 512, bad_on_bulk_done, NULL, 0);
    irq->callback = ok_on_interrupt_done;
    libusb_submit_transfer(irq);
    libusb_submit_transfer(bulk);
    status->callback = bad_on_status;
    libusb_submit_transfer(status);
    return libusb_hotplug_register_callback(usb, 1, 0, -1, -1, -1, bad_on_hotplug, NULL, NULL);
}
