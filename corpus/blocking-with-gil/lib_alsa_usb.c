// ALSA and libusb calls that wait for a device (rules/libs/alsa.yml, libusb.yml) made while holding the GIL, and
// the same calls with the GIL released. The prototypes are declared here: the library headers are not needed.
#include <Python.h>

typedef struct _snd_pcm snd_pcm_t;
typedef long snd_pcm_sframes_t;
typedef unsigned long snd_pcm_uframes_t;
snd_pcm_sframes_t snd_pcm_writei(snd_pcm_t *pcm, const void *buffer, snd_pcm_uframes_t size);
snd_pcm_sframes_t snd_pcm_readi(snd_pcm_t *pcm, void *buffer, snd_pcm_uframes_t size);
int snd_pcm_drain(snd_pcm_t *pcm);
snd_pcm_sframes_t snd_pcm_avail_update(snd_pcm_t *pcm);

typedef struct libusb_context libusb_context;
typedef struct libusb_device_handle libusb_device_handle;
struct libusb_transfer;
int libusb_bulk_transfer(libusb_device_handle *h, unsigned char endpoint, unsigned char *data, int length,
                         int *transferred, unsigned int timeout);
int libusb_control_transfer(libusb_device_handle *h, unsigned char type, unsigned char request, unsigned short value,
                            unsigned short index, unsigned char *data, unsigned short length, unsigned int timeout);
int libusb_handle_events(libusb_context *ctx);
int libusb_submit_transfer(struct libusb_transfer *transfer);

typedef struct { PyObject_HEAD snd_pcm_t *pcm; libusb_context *usb; libusb_device_handle *dev; } Device;

static PyObject *bad_play(PyObject *self, PyObject *arg)
{
    Device *d = (Device *)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    snd_pcm_sframes_t n = snd_pcm_writei(d->pcm, view.buf, (snd_pcm_uframes_t)(view.len / 4));   // expect-warning{{snd_pcm_writei() may block while this thread holds the GIL}} [blocking-with-gil]
    PyBuffer_Release(&view);
    return PyLong_FromLong(n);
}

static PyObject *bad_finish(PyObject *self, PyObject *unused)
{
    Device *d = (Device *)self;
    return PyLong_FromLong(snd_pcm_drain(d->pcm));    // expect-warning{{snd_pcm_drain() may block}} [blocking-with-gil]
}

static PyObject *bad_bulk_read(PyObject *self, PyObject *arg)
{
    Device *d = (Device *)self;
    long endpoint = PyLong_AsLong(arg);
    if (endpoint == -1 && PyErr_Occurred())
        return NULL;
    unsigned char buf[512];
    int got = 0;
    int rc = libusb_bulk_transfer(d->dev, (unsigned char)endpoint, buf, sizeof buf, &got, 1000);   // expect-warning{{libusb_bulk_transfer() may block}} [blocking-with-gil]
    if (rc != 0)
        return PyErr_Format(PyExc_OSError, "transfer failed: %d", rc);
    return PyBytes_FromStringAndSize((const char *)buf, got);
}

/* Handling USB events from a Python method, with the GIL held. */
static PyObject *bad_poll_usb(PyObject *self, PyObject *unused)
{
    Device *d = (Device *)self;
    return PyLong_FromLong(libusb_handle_events(d->usb));   // expect-warning{{libusb_handle_events() may block}} [blocking-with-gil]
}

static PyObject *ok_record(PyObject *self, PyObject *arg)
{
    Device *d = (Device *)self;
    Py_ssize_t frames = PyLong_AsSsize_t(arg);
    if (frames < 0)
        return NULL;
    PyObject *buf = PyBytes_FromStringAndSize(NULL, frames * 4);
    if (buf == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(buf);
    snd_pcm_sframes_t n;
    Py_BEGIN_ALLOW_THREADS
    n = snd_pcm_readi(d->pcm, p, (snd_pcm_uframes_t)frames);
    Py_END_ALLOW_THREADS
    if (n < 0) {
        Py_DECREF(buf);
        return PyErr_Format(PyExc_OSError, "capture failed: %ld", n);
    }
    return buf;
}

static PyObject *ok_control(PyObject *self, PyObject *unused)
{
    Device *d = (Device *)self;
    unsigned char status[2];
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = libusb_control_transfer(d->dev, 0x80, 0x00, 0, 0, status, sizeof status, 500);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(rc);
}

/* Neither waits: how much room the device has, and queueing an asynchronous transfer. */
static PyObject *ok_avail_and_submit(PyObject *self, PyObject *arg)
{
    Device *d = (Device *)self;
    struct libusb_transfer *t = PyLong_AsVoidPtr(arg);
    if (t == NULL && PyErr_Occurred())
        return NULL;
    long room = snd_pcm_avail_update(d->pcm);
    int rc = libusb_submit_transfer(t);
    return Py_BuildValue("(li)", room, rc);
}

static PyMethodDef Device_methods[] = {
    {"play", bad_play, METH_O, NULL},
    {"finish", bad_finish, METH_NOARGS, NULL},
    {"bulk_read", bad_bulk_read, METH_O, NULL},
    {"poll_usb", bad_poll_usb, METH_NOARGS, NULL},
    {"record", ok_record, METH_O, NULL},
    {"control", ok_control, METH_NOARGS, NULL},
    {"avail_and_submit", ok_avail_and_submit, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
