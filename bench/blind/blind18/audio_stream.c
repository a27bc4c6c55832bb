/*
 * pyaudio-lite: a tiny PortAudio binding.  The stream callback runs on the
 * PortAudio real-time thread, never on a Python thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* --- PortAudio (portaudio.h) prototypes --- */
typedef void PaStream;
typedef int PaError;
typedef unsigned long PaSampleFormat;
typedef unsigned long PaStreamCallbackFlags;
typedef struct PaStreamCallbackTimeInfo {
    double inputBufferAdcTime;
    double currentTime;
    double outputBufferDacTime;
} PaStreamCallbackTimeInfo;
typedef int PaStreamCallback(const void *input, void *output,
                             unsigned long frameCount,
                             const PaStreamCallbackTimeInfo *timeInfo,
                             PaStreamCallbackFlags statusFlags,
                             void *userData);
PaError Pa_Initialize(void);
PaError Pa_OpenDefaultStream(PaStream **stream, int numInputChannels,
                             int numOutputChannels, PaSampleFormat sampleFormat,
                             double sampleRate, unsigned long framesPerBuffer,
                             PaStreamCallback *streamCallback, void *userData);
PaError Pa_StartStream(PaStream *stream);
PaError Pa_StopStream(PaStream *stream);
PaError Pa_CloseStream(PaStream *stream);
const char *Pa_GetErrorText(PaError errorCode);
#define paFloat32 ((PaSampleFormat)0x00000001)
#define paNoError 0
enum PaStreamCallbackResult { paContinue = 0, paComplete = 1, paAbort = 2 };

typedef struct {
    PyObject_HEAD
    PaStream *stream;
    PyObject *callback;     /* callable(frames: int, time: float) -> bytes */
    int channels;
    unsigned long frames_written;
} StreamObject;

// BAD: thread-entry-without-gil,api-without-gil  PortAudio stream callback calls the Python callable without taking the GIL
static int bad_pa_output_cb(const void *input, void *output,
                            unsigned long frameCount,
                            const PaStreamCallbackTimeInfo *timeInfo,
                            PaStreamCallbackFlags statusFlags, void *userData)
{
    StreamObject *self = (StreamObject *)userData;
    float *out = (float *)output;
    size_t want = frameCount * (size_t)self->channels * sizeof(float);
    (void)input; (void)statusFlags;

    PyObject *res = PyObject_CallFunction(self->callback, "kd", frameCount,
                                          timeInfo->outputBufferDacTime);
    if (res == NULL) {
        PyErr_WriteUnraisable(self->callback);
        memset(out, 0, want);
        return paAbort;
    }
    char *buf; Py_ssize_t len;
    if (PyBytes_AsStringAndSize(res, &buf, &len) < 0 || (size_t)len < want) {
        PyErr_Clear();
        memset(out, 0, want);
        Py_DECREF(res);
        return paComplete;
    }
    memcpy(out, buf, want);
    Py_DECREF(res);
    self->frames_written += frameCount;
    return paContinue;
}

// OK: callback on the PortAudio thread takes PyGILState_Ensure and releases it on every return path
static int ok_pa_output_cb(const void *input, void *output,
                           unsigned long frameCount,
                           const PaStreamCallbackTimeInfo *timeInfo,
                           PaStreamCallbackFlags statusFlags, void *userData)
{
    StreamObject *self = (StreamObject *)userData;
    float *out = (float *)output;
    size_t want = frameCount * (size_t)self->channels * sizeof(float);
    int ret = paContinue;
    (void)input; (void)statusFlags;

    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *res = PyObject_CallFunction(self->callback, "kd", frameCount,
                                          timeInfo->outputBufferDacTime);
    if (res == NULL) {
        PyErr_WriteUnraisable(self->callback);
        memset(out, 0, want);
        ret = paAbort;
        goto done;
    }
    char *buf; Py_ssize_t len;
    if (PyBytes_AsStringAndSize(res, &buf, &len) < 0 || (size_t)len < want) {
        PyErr_Clear();
        memset(out, 0, want);
        ret = paComplete;
    } else {
        memcpy(out, buf, want);
        self->frames_written += frameCount;
    }
    Py_DECREF(res);
done:
    PyGILState_Release(gs);
    return ret;
}

// BAD: ensure-leak  input-level callback returns paAbort on a Python error without releasing the GIL state it ensured
static int bad_pa_meter_cb(const void *input, void *output,
                           unsigned long frameCount,
                           const PaStreamCallbackTimeInfo *timeInfo,
                           PaStreamCallbackFlags statusFlags, void *userData)
{
    StreamObject *self = (StreamObject *)userData;
    const float *in = (const float *)input;
    double peak = 0.0;
    (void)output; (void)timeInfo; (void)statusFlags;

    for (unsigned long i = 0; i < frameCount * (unsigned long)self->channels; i++) {
        double v = in[i] < 0 ? -in[i] : in[i];
        if (v > peak)
            peak = v;
    }
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *res = PyObject_CallFunction(self->callback, "d", peak);
    if (res == NULL) {
        PyErr_WriteUnraisable(self->callback);
        return paAbort;
    }
    int keep = PyObject_IsTrue(res);
    Py_DECREF(res);
    PyGILState_Release(gs);
    return keep > 0 ? paContinue : paComplete;
}

static PyObject *
stream_open(StreamObject *self, PyObject *args)
{
    int meter = 0;
    PaError err;
    if (!PyArg_ParseTuple(args, "|p", &meter))
        return NULL;
    err = Pa_OpenDefaultStream(&self->stream, meter ? self->channels : 0,
                               meter ? 0 : self->channels, paFloat32, 48000.0,
                               256, meter ? bad_pa_meter_cb : ok_pa_output_cb,
                               self);
    if (err != paNoError) {
        PyErr_SetString(PyExc_OSError, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
stream_open_raw(StreamObject *self, PyObject *Py_UNUSED(ignored))
{
    PaError err = Pa_OpenDefaultStream(&self->stream, 0, self->channels,
                                       paFloat32, 48000.0, 256,
                                       bad_pa_output_cb, self);
    if (err != paNoError) {
        PyErr_SetString(PyExc_OSError, Pa_GetErrorText(err));
        return NULL;
    }
    err = Pa_StartStream(self->stream);
    if (err != paNoError) {
        PyErr_SetString(PyExc_OSError, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil  Pa_StopStream waits for the callback thread to drain, and the callback needs the GIL held here
static PyObject *
bad_stream_stop(StreamObject *self, PyObject *Py_UNUSED(ignored))
{
    PaError err;
    if (self->stream == NULL)
        Py_RETURN_NONE;
    err = Pa_StopStream(self->stream);
    if (err == paNoError)
        err = Pa_CloseStream(self->stream);
    self->stream = NULL;
    if (err != paNoError) {
        PyErr_SetString(PyExc_OSError, Pa_GetErrorText(err));
        return NULL;
    }
    return PyLong_FromUnsignedLong(self->frames_written);
}

// OK: stops and closes the stream with the GIL released so the callback can finish its last buffer
static PyObject *
ok_stream_stop(StreamObject *self, PyObject *Py_UNUSED(ignored))
{
    PaError err;
    PaStream *s = self->stream;
    if (s == NULL)
        Py_RETURN_NONE;
    self->stream = NULL;
    Py_BEGIN_ALLOW_THREADS
    err = Pa_StopStream(s);
    if (err == paNoError)
        err = Pa_CloseStream(s);
    Py_END_ALLOW_THREADS
    if (err != paNoError) {
        PyErr_SetString(PyExc_OSError, Pa_GetErrorText(err));
        return NULL;
    }
    return PyLong_FromUnsignedLong(self->frames_written);
}

static PyMethodDef stream_methods[] = {
    {"open", (PyCFunction)stream_open, METH_VARARGS, NULL},
    {"open_raw", (PyCFunction)stream_open_raw, METH_NOARGS, NULL},
    {"stop", (PyCFunction)ok_stream_stop, METH_NOARGS, NULL},
    {"stop_now", (PyCFunction)bad_stream_stop, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyaudio_lite.Stream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = stream_methods,
};
