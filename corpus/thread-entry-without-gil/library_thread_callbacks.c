// Callbacks registered with libraries that call them on threads of their own (rules/libs/*.yml).
#include <Python.h>

typedef int PaStreamCallback(const void *in, void *out, unsigned long frames, const void *time_info,
                             unsigned long flags, void *user);
typedef void PaStream;
int Pa_OpenDefaultStream(PaStream **stream, int in_channels, int out_channels, unsigned long format,
                         double rate, unsigned long frames_per_buffer, PaStreamCallback *cb, void *user);

struct player { PyObject *on_buffer; PaStream *stream; };

static int bad_audio_cb(const void *in, void *out, unsigned long frames, const void *time_info,
                        unsigned long flags, void *user)
{
    struct player *p = user;
    PyObject *r = PyObject_CallNoArgs(p->on_buffer);  // expect-error{{registered with Pa_OpenDefaultStream() at library_thread_callbacks.c:38, which calls it on PortAudio's audio thread}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

static int ok_audio_cb(const void *in, void *out, unsigned long frames, const void *time_info,
                       unsigned long flags, void *user)
{
    struct player *p = user;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(p->on_buffer);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
    return 0;
}

static int open_streams(struct player *a, struct player *b)
{
    if (Pa_OpenDefaultStream(&a->stream, 0, 2, 1, 44100.0, 256, ok_audio_cb, a) != 0)
        return -1;
    return Pa_OpenDefaultStream(&b->stream, 0, 2, 1, 44100.0, 256, bad_audio_cb, b);
}

// A callback chosen by a conditional: either branch may be the one registered, so each is entered on the
// audio thread.
static int bad_mono_cb(const void *in, void *out, unsigned long frames, const void *time_info,
                       unsigned long flags, void *user)
{
    struct player *p = user;
    PyObject *r = PyObject_CallFunction(p->on_buffer, "k", frames);  // expect-error{{registered with Pa_OpenDefaultStream() at library_thread_callbacks.c:65, which calls it on PortAudio's audio thread}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

static int ok_stereo_cb(const void *in, void *out, unsigned long frames, const void *time_info,
                        unsigned long flags, void *user)
{
    struct player *p = user;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(p->on_buffer, "k", frames);
    Py_XDECREF(r);
    PyGILState_Release(st);
    return 0;
}

static int open_stream_for(struct player *p, int channels)
{
    return Pa_OpenDefaultStream(&p->stream, 0, channels, 1, 44100.0, 256,
                                channels == 1 ? bad_mono_cb : (PaStreamCallback *)ok_stereo_cb, p);
}
