/*
 * audio_engine.c -- "pyfx" live-coding audio engine.  PortAudio and JACK
 * call our callbacks on their own real-time threads; user DSP and
 * visualisation hooks are written in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* ---- PortAudio (portaudio.h) ------------------------------------------ */
typedef int PaError;
typedef void PaStream;
typedef unsigned long PaSampleFormat;
typedef double PaTime;
typedef unsigned long PaStreamCallbackFlags;
typedef struct PaStreamCallbackTimeInfo {
    PaTime inputBufferAdcTime;
    PaTime currentTime;
    PaTime outputBufferDacTime;
} PaStreamCallbackTimeInfo;
typedef int PaStreamCallback(const void *input, void *output, unsigned long frameCount,
                             const PaStreamCallbackTimeInfo *timeInfo,
                             PaStreamCallbackFlags statusFlags, void *userData);
#define paNoError 0
#define paFloat32 ((PaSampleFormat)0x00000001)
enum PaStreamCallbackResult { paContinue = 0, paComplete = 1, paAbort = 2 };
PaError Pa_OpenDefaultStream(PaStream **stream, int numInputChannels, int numOutputChannels,
                             PaSampleFormat sampleFormat, double sampleRate,
                             unsigned long framesPerBuffer, PaStreamCallback *streamCallback,
                             void *userData);
PaError Pa_StartStream(PaStream *stream);
PaError Pa_StopStream(PaStream *stream);
PaError Pa_CloseStream(PaStream *stream);
void Pa_Sleep(long msec);

/* ---- JACK (jack/jack.h, jack/types.h) --------------------------------- */
typedef uint32_t jack_nframes_t;
typedef struct _jack_client jack_client_t;
typedef struct _jack_port jack_port_t;
typedef int (*JackProcessCallback)(jack_nframes_t nframes, void *arg);
typedef int (*JackXRunCallback)(void *arg);
int jack_set_process_callback(jack_client_t *client, JackProcessCallback process_callback, void *arg);
int jack_set_xrun_callback(jack_client_t *client, JackXRunCallback xrun_callback, void *arg);
void *jack_port_get_buffer(jack_port_t *port, jack_nframes_t);
int jack_activate(jack_client_t *client);
int jack_deactivate(jack_client_t *client);

/* ----------------------------------------------------------------------- */

#define BLOCK_FRAMES 256
#define RING_BLOCKS 64

struct ring {
    float data[RING_BLOCKS][BLOCK_FRAMES];
    unsigned long frames[RING_BLOCKS];
    atomic_uint head; /* written by the audio thread */
    atomic_uint tail; /* written by the drain thread */
};

struct engine {
    PaStream *stream;
    jack_client_t *jack;
    jack_port_t *in_port;
    jack_port_t *out_port;
    PyObject *py_process;  /* callable(bytes) -> bytes, owned */
    PyObject *py_on_xrun;  /* optional callable(int), owned */
    PyObject *py_on_block; /* consumer for captured blocks, owned */
    PyObject *last_block;  /* last result of py_process, owned */
    struct ring capture;
    atomic_int running;
    atomic_int xruns;
    pthread_t drain;
};

static struct engine g_engine;

/* Lock-free SPSC ring: audio thread pushes, drain thread pops.  Pure C. */
static int ring_push(struct ring *r, const float *src, unsigned long n)
{
    unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (head - tail >= RING_BLOCKS)
        return 0;
    if (n > BLOCK_FRAMES)
        n = BLOCK_FRAMES;
    memcpy(r->data[head % RING_BLOCKS], src, n * sizeof(float));
    r->frames[head % RING_BLOCKS] = n;
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return 1;
}

static int ring_pop(struct ring *r, float *dst, unsigned long *n)
{
    unsigned tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    unsigned head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (tail == head)
        return 0;
    *n = r->frames[tail % RING_BLOCKS];
    memcpy(dst, r->data[tail % RING_BLOCKS], *n * sizeof(float));
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return 1;
}

// BAD: thread-entry-without-gil,api-without-gil PortAudio stream callback (audio thread) calls into Python without PyGILState_Ensure
static int bad_pa_process_cb(const void *input, void *output, unsigned long frameCount,
                             const PaStreamCallbackTimeInfo *timeInfo,
                             PaStreamCallbackFlags statusFlags, void *userData)
{
    struct engine *eng = userData;
    float *out = output;
    size_t nbytes = frameCount * sizeof(float);
    char *buf;
    Py_ssize_t len;
    (void)timeInfo;
    (void)statusFlags;

    PyObject *res = PyObject_CallFunction(eng->py_process, "y#", (const char *)input, (Py_ssize_t)nbytes);
    if (res == NULL) {
        PyErr_Clear();
        memset(out, 0, nbytes);
        return paContinue;
    }
    if (PyBytes_AsStringAndSize(res, &buf, &len) == 0 && (size_t)len >= nbytes)
        memcpy(out, buf, nbytes);
    else
        memset(out, 0, nbytes);
    Py_DECREF(res);
    return paContinue;
}

// OK: PortAudio capture callback only copies into a lock-free ring buffer; no Python on the audio thread
static int ok_pa_capture_cb(const void *input, void *output, unsigned long frameCount,
                            const PaStreamCallbackTimeInfo *timeInfo,
                            PaStreamCallbackFlags statusFlags, void *userData)
{
    struct engine *eng = userData;
    (void)output;
    (void)timeInfo;
    (void)statusFlags;
    if (input != NULL && !ring_push(&eng->capture, input, frameCount))
        atomic_fetch_add(&eng->xruns, 1);
    return atomic_load(&eng->running) ? paContinue : paComplete;
}

// OK: drain thread takes the GIL per captured block and sleeps with the GIL released
static void *ok_drain_thread_main(void *arg)
{
    struct engine *eng = arg;
    float block[BLOCK_FRAMES];
    unsigned long n = 0;
    const struct timespec idle = {0, 2 * 1000 * 1000};

    while (atomic_load(&eng->running)) {
        if (!ring_pop(&eng->capture, block, &n)) {
            nanosleep(&idle, NULL);
            continue;
        }
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallFunction(eng->py_on_block, "y#", (const char *)block,
                                            (Py_ssize_t)(n * sizeof(float)));
        if (r == NULL)
            PyErr_Print();
        else
            Py_DECREF(r);
        PyGILState_Release(st);
    }
    return NULL;
}

// BAD: api-without-gil JACK process callback releases the GIL and then keeps using the result object (bytes access, Py_XSETREF)
static int bad_jack_process_cb(jack_nframes_t nframes, void *arg)
{
    struct engine *eng = arg;
    float *in = jack_port_get_buffer(eng->in_port, nframes);
    float *out = jack_port_get_buffer(eng->out_port, nframes);
    size_t nbytes = nframes * sizeof(float);

    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *res = PyObject_CallFunction(eng->py_process, "y#", (const char *)in, (Py_ssize_t)nbytes);
    if (res == NULL)
        PyErr_Clear();
    PyGILState_Release(st);

    if (res != NULL && PyBytes_Check(res) && (size_t)PyBytes_GET_SIZE(res) >= nbytes)
        memcpy(out, PyBytes_AS_STRING(res), nbytes);
    else
        memset(out, 0, nbytes);
    Py_XSETREF(eng->last_block, res);
    return 0;
}

// OK: Python is entered only when a processor is installed; Ensure and Release are guarded by the same saved flag
static int ok_jack_process_optional(jack_nframes_t nframes, void *arg)
{
    struct engine *eng = arg;
    float *in = jack_port_get_buffer(eng->in_port, nframes);
    float *out = jack_port_get_buffer(eng->out_port, nframes);
    size_t nbytes = nframes * sizeof(float);
    const int use_py = eng->py_process != NULL;
    PyGILState_STATE st;

    if (use_py)
        st = PyGILState_Ensure();

    memcpy(out, in, nbytes); /* dry signal */

    if (use_py) {
        PyObject *res = PyObject_CallFunction(eng->py_process, "y#", (const char *)in, (Py_ssize_t)nbytes);
        if (res == NULL) {
            PyErr_Clear();
        } else {
            if (PyBytes_Check(res) && (size_t)PyBytes_GET_SIZE(res) >= nbytes)
                memcpy(out, PyBytes_AS_STRING(res), nbytes);
            Py_XSETREF(eng->last_block, res);
        }
    }

    if (use_py)
        PyGILState_Release(st);
    return 0;
}

// BAD: api-without-gil,thread-entry-without-gil JACK xrun callback clears the cached block (Py_CLEAR) outside its Ensure/Release region
static int bad_jack_xrun_cb(void *arg)
{
    struct engine *eng = arg;
    int n = atomic_fetch_add(&eng->xruns, 1) + 1;

    if (eng->py_on_xrun != NULL) {
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallFunction(eng->py_on_xrun, "i", n);
        if (r == NULL)
            PyErr_Print();
        else
            Py_DECREF(r);
        PyGILState_Release(st);
    }
    Py_CLEAR(eng->last_block); /* stale after an xrun */
    return 0;
}

/* Called with the GIL held from the module's open() method. */
int engine_open_capture(struct engine *eng)
{
    atomic_store(&eng->running, 1);
    if (Pa_OpenDefaultStream(&eng->stream, 1, 0, paFloat32, 48000.0, BLOCK_FRAMES,
                             ok_pa_capture_cb, eng) != paNoError)
        return -1;
    if (pthread_create(&eng->drain, NULL, ok_drain_thread_main, eng) != 0)
        return -1;
    return 0;
}

// BAD: blocking-with-gil Pa_Sleep for the whole playback duration while holding the GIL; the drain thread cannot deliver blocks
static PyObject *bad_audio_play_for(PyObject *self, PyObject *args)
{
    double seconds;
    (void)self;
    if (!PyArg_ParseTuple(args, "d", &seconds))
        return NULL;
    if (g_engine.stream == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "engine not opened");
        return NULL;
    }
    if (Pa_StartStream(g_engine.stream) != paNoError) {
        PyErr_SetString(PyExc_RuntimeError, "cannot start stream");
        return NULL;
    }
    Pa_Sleep((long)(seconds * 1000.0));
    Pa_StopStream(g_engine.stream);
    Py_RETURN_NONE;
}

// OK: sleeps in 50 ms slices with the GIL released, re-taking it each slice to check for signals
static PyObject *ok_audio_play_for(PyObject *self, PyObject *args)
{
    double seconds;
    (void)self;
    if (!PyArg_ParseTuple(args, "d", &seconds))
        return NULL;
    if (g_engine.stream == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "engine not opened");
        return NULL;
    }
    if (Pa_StartStream(g_engine.stream) != paNoError) {
        PyErr_SetString(PyExc_RuntimeError, "cannot start stream");
        return NULL;
    }

    long remaining = (long)(seconds * 1000.0);
    int interrupted = 0;
    while (remaining > 0) {
        long slice = remaining < 50 ? remaining : 50;
        Py_BEGIN_ALLOW_THREADS
        Pa_Sleep(slice);
        Py_END_ALLOW_THREADS
        remaining -= slice;
        if (PyErr_CheckSignals() < 0) {
            interrupted = 1;
            break;
        }
    }

    Py_BEGIN_ALLOW_THREADS
    Pa_StopStream(g_engine.stream);
    Py_END_ALLOW_THREADS
    if (interrupted)
        return NULL;
    Py_RETURN_NONE;
}

// OK: standalone JACK host releases the main thread state after setup so the process callback can take the GIL
int ok_audio_host_main(const char *script, jack_client_t *client, jack_port_t *in, jack_port_t *out)
{
    Py_Initialize();
    PyObject *mod = PyImport_ImportModule(script);
    if (mod == NULL) {
        PyErr_Print();
        Py_FinalizeEx();
        return 1;
    }
    g_engine.py_process = PyObject_GetAttrString(mod, "process");
    Py_DECREF(mod);
    if (g_engine.py_process == NULL) {
        PyErr_Print();
        Py_FinalizeEx();
        return 1;
    }

    g_engine.jack = client;
    g_engine.in_port = in;
    g_engine.out_port = out;
    jack_set_process_callback(client, ok_jack_process_optional, &g_engine);
    atomic_store(&g_engine.running, 1);

    PyThreadState *main_ts = PyEval_SaveThread();
    if (jack_activate(client) == 0) {
        const struct timespec tick = {0, 100 * 1000 * 1000};
        while (atomic_load(&g_engine.running)) /* cleared by the SIGINT handler */
            nanosleep(&tick, NULL);
        jack_deactivate(client);
    }
    PyEval_RestoreThread(main_ts);

    Py_CLEAR(g_engine.py_process);
    Py_CLEAR(g_engine.last_block);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

/* Callback tables used by the engine configuration code. */
PaStreamCallback *const pyfx_pa_callbacks[2] = {ok_pa_capture_cb, bad_pa_process_cb};
const JackProcessCallback pyfx_jack_process[2] = {ok_jack_process_optional, bad_jack_process_cb};
const JackXRunCallback pyfx_jack_xrun = bad_jack_xrun_cb;

static PyMethodDef pyfx_methods[] = {
    {"play_for", ok_audio_play_for, METH_VARARGS, NULL},
    {"play_for_legacy", bad_audio_play_for, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef pyfx_module = {PyModuleDef_HEAD_INIT, "pyfx", NULL, -1, pyfx_methods,
                                         NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_pyfx(void)
{
    return PyModule_Create(&pyfx_module);
}
