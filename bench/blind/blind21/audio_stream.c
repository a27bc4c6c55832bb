/*
 * _audiostream.c -- PortAudio / JACK glue for a small Python audio package
 * (modelled on pyaudio's _portaudiomodule.c and the JACK client bridge of
 * a synth toolkit).  Stream callbacks run on the audio back-end's own
 * realtime thread, never on a Python thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---- portaudio.h (subset) ---------------------------------------------- */
typedef int PaError;
typedef unsigned long PaSampleFormat;
typedef double PaTime;
typedef void PaStream;
typedef unsigned long PaStreamCallbackFlags;
typedef struct PaStreamCallbackTimeInfo {
    PaTime inputBufferAdcTime;
    PaTime currentTime;
    PaTime outputBufferDacTime;
} PaStreamCallbackTimeInfo;
typedef int PaStreamCallback(const void *input, void *output,
                             unsigned long frameCount,
                             const PaStreamCallbackTimeInfo *timeInfo,
                             PaStreamCallbackFlags statusFlags,
                             void *userData);
typedef void PaStreamFinishedCallback(void *userData);
typedef enum PaStreamCallbackResult {
    paContinue = 0,
    paComplete = 1,
    paAbort = 2
} PaStreamCallbackResult;
#define paNoError 0
#define paFloat32 ((PaSampleFormat)0x00000001)

PaError Pa_OpenDefaultStream(PaStream **stream, int numInputChannels,
                             int numOutputChannels, PaSampleFormat sampleFormat,
                             double sampleRate, unsigned long framesPerBuffer,
                             PaStreamCallback *streamCallback, void *userData);
PaError Pa_SetStreamFinishedCallback(PaStream *stream,
                                     PaStreamFinishedCallback *streamFinishedCallback);
PaError Pa_StartStream(PaStream *stream);
PaError Pa_StopStream(PaStream *stream);
PaError Pa_CloseStream(PaStream *stream);
const char *Pa_GetErrorText(PaError errorCode);

/* ---- jack/jack.h (subset) ---------------------------------------------- */
typedef uint32_t jack_nframes_t;
typedef struct _jack_client jack_client_t;
typedef struct _jack_port jack_port_t;
typedef float jack_default_audio_sample_t;
typedef int (*JackProcessCallback)(jack_nframes_t nframes, void *arg);
typedef void (*JackShutdownCallback)(void *arg);
int jack_set_process_callback(jack_client_t *client,
                              JackProcessCallback process_callback, void *arg);
void jack_on_shutdown(jack_client_t *client, JackShutdownCallback function,
                      void *arg);
void *jack_port_get_buffer(jack_port_t *port, jack_nframes_t nframes);
int jack_activate(jack_client_t *client);

/* ------------------------------------------------------------------------ */

static PyObject *AudioError;

/* C-side context handed to PortAudio as userData. */
struct stream_ctx {
    PaStream *stream;
    int channels;
    double sample_rate;
    PyObject *py_callback;   /* strong ref */
    volatile int finished;
};

typedef struct {
    PyObject_HEAD
    struct stream_ctx *ctx;
} StreamObject;

// BAD: thread-entry-without-gil PortAudio playback callback runs on PortAudio's audio host thread and calls the Python generator without PyGILState_Ensure
static int bad_pa_stream_callback(const void *input, void *output,
                                  unsigned long frameCount,
                                  const PaStreamCallbackTimeInfo *timeInfo,
                                  PaStreamCallbackFlags statusFlags,
                                  void *userData)
{
    struct stream_ctx *ctx = (struct stream_ctx *)userData;
    size_t nbytes = frameCount * (size_t)ctx->channels * sizeof(float);
    PyObject *block;
    (void)input;
    (void)statusFlags;

    block = PyObject_CallFunction(ctx->py_callback, "kd", frameCount,
                                  timeInfo->outputBufferDacTime);
    if (block == NULL) {
        PyErr_Clear();
        memset(output, 0, nbytes);
        return paAbort;
    }
    if (PyBytes_Check(block) && (size_t)PyBytes_GET_SIZE(block) >= nbytes)
        memcpy(output, PyBytes_AS_STRING(block), nbytes);
    else
        memset(output, 0, nbytes);
    Py_DECREF(block);
    return paContinue;
}

// OK: PortAudio capture callback (audio host thread) takes the GIL with PyGILState_Ensure and releases it on every return path
static int ok_pa_record_callback(const void *input, void *output,
                                 unsigned long frameCount,
                                 const PaStreamCallbackTimeInfo *timeInfo,
                                 PaStreamCallbackFlags statusFlags,
                                 void *userData)
{
    struct stream_ctx *ctx = (struct stream_ctx *)userData;
    size_t nbytes = frameCount * (size_t)ctx->channels * sizeof(float);
    PyGILState_STATE gstate;
    PyObject *chunk, *res;
    int rc = paContinue;
    (void)output;
    (void)timeInfo;
    (void)statusFlags;

    if (input == NULL)
        return paContinue;          /* nothing captured, no Python touched */

    gstate = PyGILState_Ensure();
    chunk = PyBytes_FromStringAndSize((const char *)input, (Py_ssize_t)nbytes);
    if (chunk == NULL) {
        PyErr_Print();
        PyGILState_Release(gstate);
        return paAbort;
    }
    res = PyObject_CallOneArg(ctx->py_callback, chunk);
    Py_DECREF(chunk);
    if (res == NULL) {
        PyErr_Print();
        rc = paAbort;
    }
    else {
        if (res == Py_False)
            rc = paComplete;
        Py_DECREF(res);
    }
    PyGILState_Release(gstate);
    return rc;
}

// BAD: thread-entry-without-gil,api-without-gil PortAudio stream-finished callback (called on the audio thread after paComplete/paAbort) drops the Python callback reference without the GIL
static void bad_pa_finished_callback(void *userData)
{
    struct stream_ctx *ctx = (struct stream_ctx *)userData;
    ctx->finished = 1;
    Py_CLEAR(ctx->py_callback);
}

/* Not scored: opens a playback or capture stream, registering the callbacks. */
static int
stream_open(StreamObject *self, int capture, PyObject *callback,
            int channels, double rate)
{
    struct stream_ctx *ctx = PyMem_Calloc(1, sizeof(*ctx));
    PaError err;
    if (ctx == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    ctx->channels = channels;
    ctx->sample_rate = rate;
    Py_INCREF(callback);
    ctx->py_callback = callback;
    if (capture)
        err = Pa_OpenDefaultStream(&ctx->stream, channels, 0, paFloat32, rate,
                                   256, ok_pa_record_callback, ctx);
    else
        err = Pa_OpenDefaultStream(&ctx->stream, 0, channels, paFloat32, rate,
                                   256, bad_pa_stream_callback, ctx);
    if (err != paNoError) {
        Py_DECREF(callback);
        PyMem_Free(ctx);
        PyErr_SetString(AudioError, Pa_GetErrorText(err));
        return -1;
    }
    self->ctx = ctx;
    return 0;
}

/* Not scored: the finished hook is installed separately from stream_open. */
static PyObject *
stream_start(StreamObject *self, PyObject *Py_UNUSED(ignored))
{
    PaError err;
    Pa_SetStreamFinishedCallback(self->ctx->stream, bad_pa_finished_callback);
    err = Pa_StartStream(self->ctx->stream);
    if (err != paNoError) {
        PyErr_SetString(AudioError, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil Pa_StopStream waits for queued buffers to drain and for the running stream callback (which waits in PyGILState_Ensure) while this method holds the GIL
static PyObject *
bad_stream_stop(StreamObject *self, PyObject *Py_UNUSED(ignored))
{
    PaStream *stream = self->ctx->stream;
    PaError err = Pa_StopStream(stream);
    if (err != paNoError) {
        PyErr_SetString(AudioError, Pa_GetErrorText(err));
        return NULL;
    }
    Py_RETURN_NONE;
}

// OK: Pa_StopStream/Pa_CloseStream run inside Py_BEGIN_ALLOW_THREADS; error raised after the GIL is back
static PyObject *
ok_stream_close(StreamObject *self, PyObject *Py_UNUSED(ignored))
{
    PaStream *stream = self->ctx->stream;
    PaError err;

    Py_BEGIN_ALLOW_THREADS
    err = Pa_StopStream(stream);
    if (err == paNoError)
        err = Pa_CloseStream(stream);
    Py_END_ALLOW_THREADS

    if (err != paNoError) {
        PyErr_SetString(AudioError, Pa_GetErrorText(err));
        return NULL;
    }
    self->ctx->stream = NULL;
    Py_RETURN_NONE;
}

/* ---- JACK bridge --------------------------------------------------------- */

struct jack_bridge {
    jack_client_t *client;
    jack_port_t *out_port;
    PyObject *generator;    /* callable(nframes) -> bytes of float32 */
    PyObject *on_shutdown;  /* callable() or NULL */
};

// BAD: ensure-leak JACK process callback (JACK realtime process thread) returns early on a short Python block without PyGILState_Release
static int bad_jack_process(jack_nframes_t nframes, void *arg)
{
    struct jack_bridge *br = (struct jack_bridge *)arg;
    jack_default_audio_sample_t *out =
        (jack_default_audio_sample_t *)jack_port_get_buffer(br->out_port, nframes);
    size_t need = (size_t)nframes * sizeof(jack_default_audio_sample_t);
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *block = PyObject_CallFunction(br->generator, "I", (unsigned)nframes);

    if (block == NULL) {
        PyErr_Print();
        PyGILState_Release(st);
        memset(out, 0, need);
        return 0;
    }
    if (!PyBytes_Check(block) || (size_t)PyBytes_GET_SIZE(block) < need) {
        Py_DECREF(block);
        memset(out, 0, need);
        return 0;
    }
    memcpy(out, PyBytes_AS_STRING(block), need);
    Py_DECREF(block);
    PyGILState_Release(st);
    return 0;
}

// OK: jack_on_shutdown callback runs on a JACK thread; it clears C state first, then wraps the Python hook in Ensure/Release
static void ok_jack_shutdown(void *arg)
{
    struct jack_bridge *br = (struct jack_bridge *)arg;
    PyGILState_STATE st;

    br->client = NULL;
    br->out_port = NULL;

    st = PyGILState_Ensure();
    if (br->on_shutdown != NULL) {
        PyObject *r = PyObject_CallNoArgs(br->on_shutdown);
        if (r == NULL)
            PyErr_WriteUnraisable(br->on_shutdown);
        else
            Py_DECREF(r);
    }
    PyGILState_Release(st);
}

/* Not scored: registration of the JACK callbacks. */
static int
jack_bridge_activate(struct jack_bridge *br)
{
    if (jack_set_process_callback(br->client, bad_jack_process, br) != 0)
        return -1;
    jack_on_shutdown(br->client, ok_jack_shutdown, br);
    return jack_activate(br->client);
}

static PyObject *
stream_open_py(StreamObject *self, PyObject *args)
{
    PyObject *cb;
    int capture = 0, channels = 2;
    double rate = 48000.0;
    if (!PyArg_ParseTuple(args, "O|pid", &cb, &capture, &channels, &rate))
        return NULL;
    if (stream_open(self, capture, cb, channels, rate) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef Stream_methods[] = {
    {"open", (PyCFunction)stream_open_py, METH_VARARGS, NULL},
    {"start", (PyCFunction)stream_start, METH_NOARGS, NULL},
    {"stop", (PyCFunction)bad_stream_stop, METH_NOARGS, NULL},
    {"close", (PyCFunction)ok_stream_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_audiostream.Stream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = Stream_methods,
    .tp_new = PyType_GenericNew,
};

static struct jack_bridge g_bridge;

static PyObject *
jack_start(PyObject *mod, PyObject *args)
{
    PyObject *gen, *hook = NULL;
    (void)mod;
    if (!PyArg_ParseTuple(args, "O|O", &gen, &hook))
        return NULL;
    Py_INCREF(gen);
    Py_XINCREF(hook);
    g_bridge.generator = gen;
    g_bridge.on_shutdown = hook;
    if (jack_bridge_activate(&g_bridge) != 0) {
        PyErr_SetString(AudioError, "jack_activate failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"jack_start", jack_start, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef audiostream_module = {
    PyModuleDef_HEAD_INIT, "_audiostream", NULL, -1, module_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__audiostream(void)
{
    PyObject *m;
    if (PyType_Ready(&StreamType) < 0)
        return NULL;
    m = PyModule_Create(&audiostream_module);
    if (m == NULL)
        return NULL;
    AudioError = PyErr_NewException("_audiostream.AudioError", PyExc_OSError, NULL);
    Py_INCREF(&StreamType);
    PyModule_AddObject(m, "Stream", (PyObject *)&StreamType);
    PyModule_AddObject(m, "AudioError", AudioError);
    return m;
}
