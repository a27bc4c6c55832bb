// Event loops and waits of libuv and GLib, and the stop calls of audio, MIDI and camera libraries that wait for
// the library's own thread (rules/libs/libuv.yml, glib.yml, jack.yml, rtmidi.yml, portmidi.yml, libuvc.yml),
// made while holding the GIL. A loop callback or library thread that needs the GIL never lets them return.
// The prototypes are declared here.
#include <Python.h>

typedef struct uv_loop_s uv_loop_t;
typedef enum { UV_RUN_DEFAULT = 0, UV_RUN_ONCE, UV_RUN_NOWAIT } uv_run_mode;
int uv_run(uv_loop_t *loop, uv_run_mode mode);
uint64_t uv_now(const uv_loop_t *loop);

typedef struct _GMainLoop GMainLoop;
typedef struct _GAsyncQueue GAsyncQueue;
typedef int (*GSourceFunc)(void *user_data);
void g_main_loop_run(GMainLoop *loop);
void *g_async_queue_pop(GAsyncQueue *queue);
void *g_async_queue_try_pop(GAsyncQueue *queue);
unsigned g_idle_add(GSourceFunc function, void *data);

typedef struct _jack_client jack_client_t;
int jack_deactivate(jack_client_t *client);
int jack_client_close(jack_client_t *client);
unsigned jack_get_sample_rate(jack_client_t *client);
typedef void *RtMidiInPtr;
void rtmidi_close_port(RtMidiInPtr device);
int Pt_Stop(void);
typedef struct uvc_device_handle uvc_device_handle_t;
void uvc_stop_streaming(uvc_device_handle_t *devh);

typedef struct {
    PyObject_HEAD
    uv_loop_t *loop;
    GMainLoop *main_loop;
    GAsyncQueue *results;
    jack_client_t *jack;
    RtMidiInPtr midi_in;
    uvc_device_handle_t *camera;
} Engine;

static PyObject *bad_run_loops(PyObject *self, PyObject *unused)
{
    Engine *e = (Engine *)self;
    uv_run(e->loop, UV_RUN_DEFAULT);                // expect-warning{{uv_run() may block while this thread holds the GIL}} [blocking-with-gil]
    g_main_loop_run(e->main_loop);                  // expect-warning{{g_main_loop_run() may block}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyObject *bad_next_result(PyObject *self, PyObject *unused)
{
    Engine *e = (Engine *)self;
    PyObject *r = g_async_queue_pop(e->results);    // expect-warning{{g_async_queue_pop() may block}} [blocking-with-gil]
    return r;
}

static PyObject *bad_shutdown(PyObject *self, PyObject *unused)
{
    Engine *e = (Engine *)self;
    jack_deactivate(e->jack);                       // expect-warning{{jack_deactivate() may block}} [blocking-with-gil]
    rtmidi_close_port(e->midi_in);                  // expect-warning{{rtmidi_close_port() may block}} [blocking-with-gil]
    Pt_Stop();                                      // expect-warning{{Pt_Stop() may block}} [blocking-with-gil]
    uvc_stop_streaming(e->camera);                  // expect-warning{{uvc_stop_streaming() may block}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static int on_idle(void *data) { (void)data; return 0; }

static PyObject *ok_run_loops(PyObject *self, PyObject *unused)
{
    Engine *e = (Engine *)self;
    Py_BEGIN_ALLOW_THREADS
    uv_run(e->loop, UV_RUN_DEFAULT);
    g_main_loop_run(e->main_loop);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *ok_shutdown(PyObject *self, PyObject *unused)
{
    Engine *e = (Engine *)self;
    Py_BEGIN_ALLOW_THREADS
    jack_deactivate(e->jack);
    jack_client_close(e->jack);
    rtmidi_close_port(e->midi_in);
    Pt_Stop();
    uvc_stop_streaming(e->camera);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* None of these waits. */
static PyObject *ok_quick_calls(PyObject *self, PyObject *unused)
{
    Engine *e = (Engine *)self;
    void *r = g_async_queue_try_pop(e->results);
    unsigned id = g_idle_add(on_idle, NULL);
    return Py_BuildValue("(KIOI)", (unsigned long long)uv_now(e->loop), jack_get_sample_rate(e->jack),
                         r ? Py_True : Py_False, id);
}

static PyMethodDef Engine_methods[] = {
    {"run_loops", bad_run_loops, METH_NOARGS, NULL},
    {"next_result", bad_next_result, METH_NOARGS, NULL},
    {"shutdown", bad_shutdown, METH_NOARGS, NULL},
    {"run_loops_released", ok_run_loops, METH_NOARGS, NULL},
    {"shutdown_released", ok_shutdown, METH_NOARGS, NULL},
    {"quick_calls", ok_quick_calls, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
