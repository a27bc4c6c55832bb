/* _pastream: minimal PortAudio binding with Python-level stream callbacks. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* ---- portaudio.h (subset) ---- */
typedef int PaError;
typedef int PaDeviceIndex;
typedef unsigned long PaSampleFormat;
typedef unsigned long PaStreamCallbackFlags;
typedef double PaTime;
typedef void PaStream;
#define paFloat32 ((PaSampleFormat)0x00000001)
#define paInt16   ((PaSampleFormat)0x00000008)
#define paNoError 0
#define paNoFlag  ((PaStreamCallbackFlags)0)
#define paFramesPerBufferUnspecified (0)
typedef struct PaStreamCallbackTimeInfo {
    PaTime inputBufferAdcTime;
    PaTime currentTime;
    PaTime outputBufferDacTime;
} PaStreamCallbackTimeInfo;
typedef enum PaStreamCallbackResult { paContinue = 0, paComplete = 1, paAbort = 2 } PaStreamCallbackResult;
typedef int PaStreamCallback(const void *input, void *output,
                             unsigned long frameCount,
                             const PaStreamCallbackTimeInfo *timeInfo,
                             PaStreamCallbackFlags statusFlags, void *userData);
typedef void PaStreamFinishedCallback(void *userData);
typedef struct PaStreamParameters {
    PaDeviceIndex device;
    int channelCount;
    PaSampleFormat sampleFormat;
    PaTime suggestedLatency;
    void *hostApiSpecificStreamInfo;
} PaStreamParameters;
PaError Pa_Initialize(void);
PaError Pa_OpenStream(PaStream **stream, const PaStreamParameters *inputParameters,
                      const PaStreamParameters *outputParameters, double sampleRate,
                      unsigned long framesPerBuffer, PaStreamCallbackFlags streamFlags,
                      PaStreamCallback *streamCallback, void *userData);
PaError Pa_OpenDefaultStream(PaStream **stream, int numInputChannels, int numOutputChannels,
                             PaSampleFormat sampleFormat, double sampleRate,
                             unsigned long framesPerBuffer, PaStreamCallback *streamCallback,
                             void *userData);
PaError Pa_SetStreamFinishedCallback(PaStream *stream, PaStreamFinishedCallback *streamFinishedCallback);
PaError Pa_StartStream(PaStream *stream);
PaError Pa_CloseStream(PaStream *stream);
const char *Pa_GetErrorText(PaError errorCode);
PaDeviceIndex Pa_GetDefaultInputDevice(void);
PaDeviceIndex Pa_GetDefaultOutputDevice(void);
/* ---- end portaudio.h ---- */

typedef struct {
    PyObject_HEAD
    PaStream *stream;
    PyObject *callback;       /* Python callable(bytes, frames, time) -> bytes */
    PyObject *on_finished;    /* optional */
    int channels;
    double rate;
    /* lock-free ring buffer filled from the audio thread */
    float *ring;
    size_t ring_size;
    volatile size_t ring_head;
    volatile unsigned long overflows;
} StreamObject;

static PyObject *PaErrorObject;

static int
bad_pa_record_callback(const void *input, void *output, unsigned long frameCount,
                       const PaStreamCallbackTimeInfo *timeInfo,
                       PaStreamCallbackFlags statusFlags, void *userData)
{
    StreamObject *self = (StreamObject *)userData;
    PyObject *data, *res;
    (void)output; (void)statusFlags;

    data = PyBytes_FromStringAndSize((const char *)input,
                                     (Py_ssize_t)(frameCount * self->channels * sizeof(float)));
    if (data == NULL)
        return paAbort;
    res = PyObject_CallFunction(self->callback, "Okd", data, frameCount,
                                timeInfo->inputBufferAdcTime);
    Py_DECREF(data);
    if (res == NULL) {
        PyErr_WriteUnraisable(self->callback);
        return paAbort;
    }
    Py_DECREF(res);
    return paContinue;
}

static int
ok_pa_play_callback(const void *input, void *output, unsigned long frameCount,
                    const PaStreamCallbackTimeInfo *timeInfo,
                    PaStreamCallbackFlags statusFlags, void *userData)
{
    StreamObject *self = (StreamObject *)userData;
    PyGILState_STATE gstate;
    PyObject *res;
    int rv = paContinue;
    size_t want = frameCount * self->channels * sizeof(float);
    (void)input; (void)statusFlags;

    gstate = PyGILState_Ensure();
    res = PyObject_CallFunction(self->callback, "kd", frameCount, timeInfo->currentTime);
    if (res == NULL) {
        PyErr_WriteUnraisable(self->callback);
        memset(output, 0, want);
        rv = paAbort;
    }
    else {
        char *buf;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(res, &buf, &len) < 0) {
            PyErr_Clear();
            memset(output, 0, want);
            rv = paAbort;
        }
        else {
            size_t n = (size_t)len < want ? (size_t)len : want;
            memcpy(output, buf, n);
            if (n < want) {
                memset((char *)output + n, 0, want - n);
                rv = paComplete;
            }
        }
        Py_DECREF(res);
    }
    PyGILState_Release(gstate);
    return rv;
}

/* Capture into a ring buffer only; Python reads it later via Stream.read(). */
static int
ok_pa_ring_callback(const void *input, void *output, unsigned long frameCount,
                    const PaStreamCallbackTimeInfo *timeInfo,
                    PaStreamCallbackFlags statusFlags, void *userData)
{
    StreamObject *self = (StreamObject *)userData;
    const float *in = (const float *)input;
    size_t n = frameCount * (size_t)self->channels;
    size_t head = self->ring_head;
    size_t i;
    (void)output; (void)timeInfo;

    if (statusFlags)
        self->overflows++;
    if (self->callback == NULL || in == NULL)
        return paContinue;
    for (i = 0; i < n; i++) {
        self->ring[head] = in[i];
        head = (head + 1) % self->ring_size;
    }
    self->ring_head = head;
    return paContinue;
}

static void
bad_pa_finished_callback(void *userData)
{
    StreamObject *self = (StreamObject *)userData;
    if (self->on_finished != NULL) {
        PyObject *r = PyObject_CallNoArgs(self->on_finished);
        Py_XDECREF(r);
    }
    Py_CLEAR(self->on_finished);
}

static void
ok_pa_finished_callback_gil(void *userData)
{
    StreamObject *self = (StreamObject *)userData;
    PyGILState_STATE st;

    if (self->on_finished == NULL)
        return;
    st = PyGILState_Ensure();
    {
        PyObject *r = PyObject_CallNoArgs(self->on_finished);
        if (r == NULL)
            PyErr_WriteUnraisable(self->on_finished);
        else
            Py_DECREF(r);
    }
    PyGILState_Release(st);
}

static int
bad_pa_duplex_late_decref(const void *input, void *output, unsigned long frameCount,
                          const PaStreamCallbackTimeInfo *timeInfo,
                          PaStreamCallbackFlags statusFlags, void *userData)
{
    StreamObject *self = (StreamObject *)userData;
    PyGILState_STATE g;
    PyObject *in_bytes, *out;
    size_t nbytes = frameCount * self->channels * sizeof(float);
    int rv = paContinue;
    (void)timeInfo; (void)statusFlags;

    g = PyGILState_Ensure();
    in_bytes = PyBytes_FromStringAndSize((const char *)input, (Py_ssize_t)nbytes);
    out = in_bytes ? PyObject_CallOneArg(self->callback, in_bytes) : NULL;
    if (out != NULL && PyBytes_Check(out) && (size_t)PyBytes_GET_SIZE(out) >= nbytes)
        memcpy(output, PyBytes_AS_STRING(out), nbytes);
    else {
        memset(output, 0, nbytes);
        rv = paAbort;
    }
    PyGILState_Release(g);

    Py_XDECREF(in_bytes);
    Py_XDECREF(out);
    return rv;
}

static PyObject *
Stream_open_input(StreamObject *self, PyObject *args)
{
    PaStreamParameters ip;
    PaError err;
    int ring = 0;

    if (!PyArg_ParseTuple(args, "|p", &ring))
        return NULL;
    ip.device = Pa_GetDefaultInputDevice();
    ip.channelCount = self->channels;
    ip.sampleFormat = paFloat32;
    ip.suggestedLatency = 0.05;
    ip.hostApiSpecificStreamInfo = NULL;
    err = Pa_OpenStream(&self->stream, &ip, NULL, self->rate,
                        paFramesPerBufferUnspecified, paNoFlag,
                        ring ? ok_pa_ring_callback : bad_pa_record_callback, self);
    if (err != paNoError) {
        PyErr_SetString(PaErrorObject, Pa_GetErrorText(err));
        return NULL;
    }
    Pa_SetStreamFinishedCallback(self->stream, bad_pa_finished_callback);
    err = Pa_StartStream(self->stream);
    if (err != paNoError) {
        PyErr_SetString(PaErrorObject, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_open_output(StreamObject *self, PyObject *Py_UNUSED(ignored))
{
    PaError err = Pa_OpenDefaultStream(&self->stream, 0, self->channels, paFloat32,
                                       self->rate, 256, ok_pa_play_callback, self);
    if (err == paNoError)
        err = Pa_SetStreamFinishedCallback(self->stream, ok_pa_finished_callback_gil);
    if (err == paNoError)
        err = Pa_StartStream(self->stream);
    if (err != paNoError) {
        PyErr_SetString(PaErrorObject, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Stream_open_duplex(StreamObject *self, PyObject *Py_UNUSED(ignored))
{
    PaError err = Pa_OpenDefaultStream(&self->stream, self->channels, self->channels,
                                       paFloat32, self->rate, 512,
                                       bad_pa_duplex_late_decref, self);
    if (err == paNoError)
        err = Pa_StartStream(self->stream);
    if (err != paNoError) {
        PyErr_SetString(PaErrorObject, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Stream_methods[] = {
    {"open_input", (PyCFunction)Stream_open_input, METH_VARARGS, NULL},
    {"open_output", (PyCFunction)Stream_open_output, METH_NOARGS, NULL},
    {"open_duplex", (PyCFunction)Stream_open_duplex, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_pastream.Stream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = Stream_methods,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef pastream_module = {
    PyModuleDef_HEAD_INIT, "_pastream", NULL, -1, NULL,
};

PyMODINIT_FUNC
PyInit__pastream(void)
{
    PyObject *m;
    if (Pa_Initialize() != paNoError) {
        PyErr_SetString(PyExc_RuntimeError, "Pa_Initialize failed");
        return NULL;
    }
    if (PyType_Ready(&StreamType) < 0)
        return NULL;
    m = PyModule_Create(&pastream_module);
    if (m == NULL)
        return NULL;
    PaErrorObject = PyErr_NewException("_pastream.PaError", NULL, NULL);
    Py_XINCREF(PaErrorObject);
    if (PyModule_AddObject(m, "PaError", PaErrorObject) < 0) {
        Py_XDECREF(PaErrorObject);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&StreamType);
    PyModule_AddObject(m, "Stream", (PyObject *)&StreamType);
    return m;
}
