// Callbacks that MIDI, audio-server and camera libraries call on their own threads (rules/libs/portmidi.yml,
// rtmidi.yml, jack.yml, libuvc.yml): PortTime's timer, RtMidi's input thread, JACK's process and notification
// threads, libuvc's frame thread. Each starts without the GIL. The prototypes are declared here.
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

typedef void PtCallback(int32_t timestamp, void *userData);
int Pt_Start(int resolution, PtCallback *callback, void *userData);

typedef void *RtMidiInPtr;
typedef void (*RtMidiCCallback)(double timeStamp, const unsigned char *message, size_t messageSize, void *userData);
void rtmidi_in_set_callback(RtMidiInPtr device, RtMidiCCallback callback, void *userData);

typedef struct _jack_client jack_client_t;
typedef uint32_t jack_nframes_t;
typedef int (*JackProcessCallback)(jack_nframes_t nframes, void *arg);
typedef int (*JackXRunCallback)(void *arg);
typedef void (*JackShutdownCallback)(void *arg);
int jack_set_process_callback(jack_client_t *client, JackProcessCallback process_callback, void *arg);
int jack_set_xrun_callback(jack_client_t *client, JackXRunCallback xrun_callback, void *arg);
void jack_on_shutdown(jack_client_t *client, JackShutdownCallback function, void *arg);

typedef struct uvc_device_handle uvc_device_handle_t;
typedef struct uvc_stream_ctrl uvc_stream_ctrl_t;
typedef struct uvc_frame { void *data; size_t data_bytes; uint32_t width, height; } uvc_frame_t;
typedef void uvc_frame_callback_t(uvc_frame_t *frame, void *user_ptr);
int uvc_start_streaming(uvc_device_handle_t *devh, uvc_stream_ctrl_t *ctrl, uvc_frame_callback_t *cb,
                        void *user_ptr, uint8_t flags);

static PyObject *on_tick, *on_note, *on_xrun, *on_frame;
static volatile int frames_dropped;

static void bad_tick(int32_t timestamp, void *user)
{
    PyObject *r = PyObject_CallFunction(on_tick, "i", (int)timestamp);   // expect-error{{registered with Pt_Start() at lib_media_callbacks.c:98, which calls it on PortTime's timer thread}} [thread-entry-without-gil]
    Py_XDECREF(r);
}

static void ok_note(double stamp, const unsigned char *msg, size_t size, void *user)
{
    if (size < 3)
        return;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(on_note, "diii", stamp, msg[0], msg[1], msg[2]);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
}

static void bad_note(double stamp, const unsigned char *msg, size_t size, void *user)
{
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)msg, (Py_ssize_t)size);   // expect-error{{registered with rtmidi_in_set_callback() at lib_media_callbacks.c:100, which calls it on RtMidi's input thread}} [thread-entry-without-gil]
    Py_XDECREF(bytes);
}

/* The real-time process callback does no Python: it counts, and a Python thread reads the count. */
static int ok_process(jack_nframes_t nframes, void *arg)
{
    (void)arg;
    if (nframes == 0)
        frames_dropped++;
    return 0;
}

static int bad_xrun(void *arg)
{
    PyObject *r = PyObject_CallNoArgs(on_xrun);    // expect-error{{registered with jack_set_xrun_callback() at lib_media_callbacks.c:102, which calls it on JACK's notification thread}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

static void bad_shutdown(void *arg)
{
    Py_DECREF((PyObject *)arg);                     // expect-error{{registered with jack_on_shutdown() at lib_media_callbacks.c:103, which calls it on a thread of JACK's when the server stops}} [thread-entry-without-gil]
}

static void bad_frame(uvc_frame_t *frame, void *user)
{
    PyObject *b = PyBytes_FromStringAndSize(frame->data, (Py_ssize_t)frame->data_bytes);   // expect-error{{registered with uvc_start_streaming() at lib_media_callbacks.c:104, which calls it on libuvc's frame callback thread}} [thread-entry-without-gil]
    PyObject *r = PyObject_CallOneArg(on_frame, b);
    Py_XDECREF(r);
    Py_XDECREF(b);
}

static void ok_frame(uvc_frame_t *frame, void *user)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(on_frame, "II", frame->width, frame->height);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

int start_media(RtMidiInPtr in, RtMidiInPtr in2, jack_client_t *jack, PyObject *owner, uvc_device_handle_t *cam,
                uvc_stream_ctrl_t *ctrl, uvc_device_handle_t *cam2)
{
    Pt_Start(1, bad_tick, NULL);
    rtmidi_in_set_callback(in, ok_note, NULL);
    rtmidi_in_set_callback(in2, bad_note, NULL);
    jack_set_process_callback(jack, ok_process, NULL);
    jack_set_xrun_callback(jack, bad_xrun, NULL);
    jack_on_shutdown(jack, bad_shutdown, owner);
    uvc_start_streaming(cam, ctrl, bad_frame, NULL, 0);
    return uvc_start_streaming(cam2, ctrl, ok_frame, NULL, 0);
}
