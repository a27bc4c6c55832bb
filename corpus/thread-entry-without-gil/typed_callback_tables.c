// Callbacks known by their type: a function stored into a variable, table or field of the type a library's
// thread-callback parameter has (PortAudio's PaStreamCallback, JACK's JackProcessCallback) is that library's
// callback, wherever the project later hands it over (configuration code picks from a table; an engine struct
// filled in one function is registered in another file). It starts without the GIL. The prototypes are declared
// here, as the libraries' headers declare them.
#include <Python.h>
#include <stdint.h>

typedef struct PaStreamCallbackTimeInfo PaStreamCallbackTimeInfo;
typedef unsigned long PaStreamCallbackFlags;
typedef void PaStream;
typedef int PaStreamCallback(const void *input, void *output, unsigned long frameCount,
                             const PaStreamCallbackTimeInfo *timeInfo, PaStreamCallbackFlags statusFlags, void *userData);
int Pa_OpenDefaultStream(PaStream **stream, int numInputChannels, int numOutputChannels, unsigned long sampleFormat,
                         double sampleRate, unsigned long framesPerBuffer, PaStreamCallback *streamCallback, void *userData);

typedef struct _jack_client jack_client_t;
typedef uint32_t jack_nframes_t;
typedef int (*JackProcessCallback)(jack_nframes_t nframes, void *arg);
typedef int (*JackXRunCallback)(void *arg);
int jack_set_process_callback(jack_client_t *client, JackProcessCallback process_callback, void *arg);
int jack_set_xrun_callback(jack_client_t *client, JackXRunCallback xrun_callback, void *arg);

// libuv runs timer callbacks inside uv_run() on the thread that calls it: uv_timer_start has no callback thread.
typedef struct uv_timer_s uv_timer_t;
typedef void (*uv_timer_cb)(uv_timer_t *handle);
int uv_timer_start(uv_timer_t *handle, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);

static PyObject *py_process, *py_xrun;

static int bad_effect_cb(const void *input, void *output, unsigned long frames, const PaStreamCallbackTimeInfo *t,
                         PaStreamCallbackFlags flags, void *user)
{
    PyObject *r = PyObject_CallFunction(py_process, "k", frames);   // expect-error{{stored as a PaStreamCallback at typed_callback_tables.c:57, the type of the callback Pa_OpenDefaultStream() takes, which runs it on PortAudio's audio thread}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

static int ok_effect_cb(const void *input, void *output, unsigned long frames, const PaStreamCallbackTimeInfo *t,
                        PaStreamCallbackFlags flags, void *user)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(py_process, "k", frames);
    Py_XDECREF(r);
    PyGILState_Release(st);
    return 0;
}

static int ok_passthrough_cb(const void *input, void *output, unsigned long frames, const PaStreamCallbackTimeInfo *t,
                             PaStreamCallbackFlags flags, void *user)
{
    (void)input; (void)output; (void)frames; (void)t; (void)flags; (void)user;
    return 0;
}

// The configuration code (elsewhere) opens the stream with one of these.
PaStreamCallback *const effect_callbacks[3] = {ok_passthrough_cb, ok_effect_cb, bad_effect_cb};

static int bad_xrun(void *arg)
{
    PyObject *r = PyObject_CallNoArgs(py_xrun);   // expect-error{{stored as a JackXRunCallback}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

const JackXRunCallback engine_xrun_handler = bad_xrun;

struct engine_ops {
    JackProcessCallback process;
    int (*prepare)(void *arg);   // called by the engine's owner, with the GIL (not a library type)
};

static int bad_process(jack_nframes_t n, void *arg)
{
    PyObject *r = PyObject_CallFunction(py_process, "I", (unsigned)n);   // expect-error{{stored as a JackProcessCallback at typed_callback_tables.c:90}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

static int ok_prepare(void *arg)
{
    PyObject *r = PyObject_CallNoArgs(py_process);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

// Fills the ops that another file registers with jack_set_process_callback(client, ops->process, ...).
void engine_ops_init(struct engine_ops *ops)
{
    ops->process = bad_process;
    ops->prepare = ok_prepare;
}

// Same shape as JackProcessCallback, but the project's own type: no library runs it.
typedef int (*block_hook)(jack_nframes_t nframes, void *arg);

static int ok_block_hook(jack_nframes_t n, void *arg)
{
    PyObject *r = PyObject_CallFunction(py_process, "I", (unsigned)n);
    Py_XDECREF(r);
    return 0;
}

block_hook const block_hooks[] = {ok_block_hook};

// A libuv timer callback runs where uv_run() runs: its type says nothing about the thread.
static void ok_tick(uv_timer_t *h)
{
    PyObject *r = PyObject_CallNoArgs(py_process);
    Py_XDECREF(r);
}

const uv_timer_cb tick_handlers[] = {ok_tick};
