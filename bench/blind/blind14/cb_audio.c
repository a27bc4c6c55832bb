/* sonarlab: audio capture / USB probe bridge for Python */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include "ft.h"

/* --- PortAudio (declared locally) --- */
typedef void PaStream;
typedef unsigned long PaStreamCallbackFlags;
typedef struct PaStreamCallbackTimeInfo PaStreamCallbackTimeInfo;
typedef int PaStreamCallback(const void *in, void *out, unsigned long frames,
                             const PaStreamCallbackTimeInfo *ti,
                             PaStreamCallbackFlags flags, void *user);
int Pa_OpenDefaultStream(PaStream **s, int inch, int outch, unsigned long fmt,
                         double rate, unsigned long fpb, PaStreamCallback *cb, void *user);
int Pa_StartStream(PaStream *s);
#define paFloat32 0x00000001UL
#define paContinue 0

/* --- SDL audio (declared locally) --- */
typedef struct SDL_AudioSpec {
    int freq; unsigned short format; unsigned char channels; unsigned char silence;
    unsigned short samples; unsigned short padding; unsigned int size;
    void (*callback)(void *userdata, unsigned char *stream, int len);
    void *userdata;
} SDL_AudioSpec;
int SDL_OpenAudio(SDL_AudioSpec *desired, SDL_AudioSpec *obtained);
void SDL_PauseAudio(int pause_on);

/* --- libusb (declared locally) --- */
struct libusb_transfer {
    void *dev_handle; unsigned char flags; unsigned char endpoint; unsigned char type;
    unsigned int timeout; int status; int length; int actual_length;
    void (*callback)(struct libusb_transfer *t);
    void *user_data; unsigned char *buffer;
};
int libusb_submit_transfer(struct libusb_transfer *t);

typedef struct {
    PyObject *sink;          /* callable or list */
    float ring[4096];
    volatile unsigned head;
} Capture;

static Capture g_cap;
static volatile sig_atomic_t g_reload_requested;
static PyObject *g_on_reload;

int bad_pa_callback(const void *in, void *out, unsigned long frames,
                    const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user)
{
    Capture *cap = (Capture *)user;
    PyObject *chunk = PyBytes_FromStringAndSize((const char *)in, frames * sizeof(float));
    if (chunk != NULL) {
        PyList_Append(cap->sink, chunk);
        Py_DECREF(chunk);
    }
    return paContinue;
}

int ok_pa_callback_ring(const void *in, void *out, unsigned long frames,
                        const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user)
{
    Capture *cap = (Capture *)user;
    const float *src = (const float *)in;
    for (unsigned long i = 0; i < frames; i++) {
        cap->ring[(cap->head + i) & 4095u] = src[i];
    }
    cap->head = (cap->head + (unsigned)frames) & 4095u;
    return paContinue;
}

void bad_sdl_fill(void *userdata, unsigned char *stream, int len)
{
    PyObject *gen = (PyObject *)userdata;
    PyObject *block = PyObject_CallFunction(gen, "i", len);
    if (block && PyBytes_Check(block) && PyBytes_GET_SIZE(block) >= len)
        memcpy(stream, PyBytes_AS_STRING(block), (size_t)len);
    else
        memset(stream, 0, (size_t)len);
    Py_XDECREF(block);
}

void *bad_worker_main(void *arg)
{
    PyObject *job = (PyObject *)arg;
    /* job was INCREF'd by the spawning method; drop it when done */
    Py_DECREF(job);
    return NULL;
}

void *ok_worker_main(void *arg)
{
    PyObject *job = (PyObject *)arg;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(job);
    if (r == NULL)
        PyErr_WriteUnraisable(job);
    Py_XDECREF(r);
    Py_DECREF(job);
    PyGILState_Release(st);
    return NULL;
}

void bad_usb_transfer_cb(struct libusb_transfer *t)
{
    PyObject *cb = (PyObject *)t->user_data;
    PyObject *res = PyObject_CallFunction(cb, "iy#", t->status,
                                          (const char *)t->buffer, (Py_ssize_t)t->actual_length);
    Py_XDECREF(res);
}

void ok_usb_transfer_done(struct libusb_transfer *t)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *cb = (PyObject *)t->user_data;
    PyObject *res = PyObject_CallFunction(cb, "iy#", t->status,
                                          (const char *)t->buffer, (Py_ssize_t)t->actual_length);
    if (res == NULL)
        PyErr_Print();
    Py_XDECREF(res);
    PyGILState_Release(st);
}

void bad_sigusr1_handler(int signo)
{
    PyObject *r = PyObject_CallNoArgs(g_on_reload);
    Py_XDECREF(r);
}

/* Runs in the main thread with the GIL held (scheduled by Py_AddPendingCall). */
int ok_pending_reload(void *unused)
{
    g_reload_requested = 0;
    if (g_on_reload == NULL)
        return 0;
    PyObject *r = PyObject_CallNoArgs(g_on_reload);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

void ok_sighup_handler(int signo)
{
    if (!g_reload_requested) {
        g_reload_requested = 1;
        Py_AddPendingCall(ok_pending_reload, NULL);
    }
}

static PyObject *helper_start(PyObject *self, PyObject *args)
{
    PyObject *sink, *gen, *job, *usbcb;
    static struct libusb_transfer xfer;
    static unsigned char buf[512];
    if (!PyArg_ParseTuple(args, "OOOO", &sink, &gen, &job, &usbcb))
        return NULL;
    Py_INCREF(sink); g_cap.sink = sink;
    PaStream *s1, *s2;
    Pa_OpenDefaultStream(&s1, 1, 0, paFloat32, 48000.0, 256, bad_pa_callback, &g_cap);
    Pa_OpenDefaultStream(&s2, 1, 0, paFloat32, 48000.0, 256, ok_pa_callback_ring, &g_cap);
    Pa_StartStream(s1); Pa_StartStream(s2);
    SDL_AudioSpec spec = {0};
    spec.freq = 44100; spec.channels = 2; spec.samples = 1024;
    spec.callback = bad_sdl_fill; Py_INCREF(gen); spec.userdata = gen;
    SDL_OpenAudio(&spec, NULL); SDL_PauseAudio(0);
    pthread_t t1, t2;
    Py_INCREF(job); pthread_create(&t1, NULL, bad_worker_main, job);
    Py_INCREF(job); pthread_create(&t2, NULL, ok_worker_main, job);
    Py_INCREF(usbcb);
    xfer.user_data = usbcb; xfer.buffer = buf; xfer.length = sizeof buf;
    xfer.callback = (PyObject_IsTrue(sink) ? bad_usb_transfer_cb : ok_usb_transfer_done);
    libusb_submit_transfer(&xfer);
    signal(SIGUSR1, bad_sigusr1_handler);
    signal(SIGHUP, ok_sighup_handler);
    Py_RETURN_NONE;
}

static PyMethodDef sonar_methods[] = {
    {"start", helper_start, METH_VARARGS, "start capture"},
    {NULL, NULL, 0, NULL}
};
static PyModuleDef_Slot sonar_slots[] = {
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL}
};
static struct PyModuleDef sonar_module = {
    PyModuleDef_HEAD_INIT, "sonarlab", NULL, 0, sonar_methods, sonar_slots
};
PyMODINIT_FUNC PyInit_sonarlab(void) { return PyModuleDef_Init(&sonar_module); }
