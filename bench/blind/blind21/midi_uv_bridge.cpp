// midi_uv_bridge.cpp -- C++17 extension bridging the RtMidi C API and a
// libuv loop into Python (in the spirit of python-rtmidi and pyuv).
//
// RtMidi delivers input messages on its back-end thread (the ALSA sequencer
// thread on Linux, a CoreMIDI thread on macOS).  libuv callbacks run on the
// thread that calls uv_run(); Loop.run_forever() calls uv_run with the GIL
// released, so timer callbacks must take the GIL themselves.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" {
// ---- rtmidi_c.h --------------------------------------------------------
struct RtMidiWrapper {
    void *ptr;
    void *data;
    bool ok;
    const char *msg;
};
typedef struct RtMidiWrapper *RtMidiPtr;
typedef struct RtMidiWrapper *RtMidiInPtr;
typedef void (*RtMidiCCallback)(double timeStamp, const unsigned char *message,
                                size_t messageSize, void *userData);
RtMidiInPtr rtmidi_in_create_default(void);
void rtmidi_open_port(RtMidiPtr device, unsigned int portNumber, const char *portName);
void rtmidi_close_port(RtMidiPtr device);
unsigned int rtmidi_get_port_count(RtMidiPtr device);
void rtmidi_in_set_callback(RtMidiInPtr device, RtMidiCCallback callback, void *userData);
void rtmidi_in_cancel_callback(RtMidiInPtr device);
void rtmidi_in_free(RtMidiInPtr device);

// ---- uv.h --------------------------------------------------------------
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_handle_s uv_handle_t;
typedef struct uv_timer_s uv_timer_t;
typedef enum { UV_RUN_DEFAULT = 0, UV_RUN_ONCE, UV_RUN_NOWAIT } uv_run_mode;
typedef enum {
    UV_UNKNOWN_HANDLE = 0, UV_ASYNC, UV_CHECK, UV_FS_EVENT, UV_FS_POLL,
    UV_HANDLE, UV_IDLE, UV_NAMED_PIPE, UV_POLL, UV_PREPARE, UV_PROCESS,
    UV_STREAM, UV_TCP, UV_TIMER, UV_TTY, UV_UDP, UV_SIGNAL, UV_FILE,
    UV_HANDLE_TYPE_MAX
} uv_handle_type;
typedef void (*uv_timer_cb)(uv_timer_t *handle);
size_t uv_handle_size(uv_handle_type type);
size_t uv_loop_size(void);
int uv_loop_init(uv_loop_t *loop);
int uv_timer_init(uv_loop_t *loop, uv_timer_t *handle);
int uv_timer_start(uv_timer_t *handle, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
int uv_timer_stop(uv_timer_t *handle);
int uv_run(uv_loop_t *loop, uv_run_mode mode);
void uv_stop(uv_loop_t *loop);
void *uv_handle_get_data(const uv_handle_t *handle);
void uv_handle_set_data(uv_handle_t *handle, void *data);
const char *uv_strerror(int err);
}

namespace {

// RAII holder for a PyGILState_Ensure()d state.
class GilState {
public:
    GilState() : st_(PyGILState_Ensure()) {}
    ~GilState() { PyGILState_Release(st_); }
    GilState(const GilState &) = delete;
    GilState &operator=(const GilState &) = delete;
private:
    PyGILState_STATE st_;
};

struct MidiPortCtx {
    RtMidiInPtr dev = nullptr;
    PyObject *handler = nullptr;   // strong ref
    std::atomic<unsigned long> dropped{0};
};

struct TimerCtx {
    uv_timer_t *handle = nullptr;
    uv_loop_t *loop = nullptr;
    PyObject *callback = nullptr;  // strong ref
};

struct LoopObject {
    PyObject_HEAD
    uv_loop_t *loop;
};

} // namespace

// BAD: thread-entry-without-gil RtMidi input callback runs on RtMidi's back-end input thread (ALSA sequencer thread) and builds/calls Python objects with no GIL
static void bad_midi_in_callback(double timeStamp, const unsigned char *message,
                                 size_t messageSize, void *userData)
{
    auto *ctx = static_cast<MidiPortCtx *>(userData);
    PyObject *msg = PyBytes_FromStringAndSize(reinterpret_cast<const char *>(message),
                                              static_cast<Py_ssize_t>(messageSize));
    if (msg == nullptr) {
        ctx->dropped++;
        PyErr_Clear();
        return;
    }
    PyObject *r = PyObject_CallFunction(ctx->handler, "Nd", msg, timeStamp);
    if (r == nullptr)
        PyErr_Print();
    Py_XDECREF(r);
}

// OK: RtMidi input callback (back-end thread) does the C-side filtering first, then uses Python only inside a GilState RAII scope
static void ok_midi_in_callback(double timeStamp, const unsigned char *message,
                                size_t messageSize, void *userData)
{
    auto *ctx = static_cast<MidiPortCtx *>(userData);
    if (messageSize == 0 || message[0] == 0xF8) {   // drop MIDI clock ticks
        ctx->dropped++;
        return;
    }
    GilState gil;
    PyObject *msg = PyBytes_FromStringAndSize(reinterpret_cast<const char *>(message),
                                              static_cast<Py_ssize_t>(messageSize));
    if (msg == nullptr) {
        PyErr_Print();
        return;                                     // ~GilState releases
    }
    PyObject *r = PyObject_CallFunction(ctx->handler, "Nd", msg, timeStamp);
    if (r == nullptr)
        PyErr_Print();
    Py_XDECREF(r);
}

// Not scored: MidiThru ports use the legacy callback, MidiInput the guarded one.
static MidiPortCtx *open_midi_port(unsigned port, PyObject *handler, bool thru)
{
    auto *ctx = new MidiPortCtx();
    ctx->dev = rtmidi_in_create_default();
    Py_INCREF(handler);
    ctx->handler = handler;
    rtmidi_open_port(ctx->dev, port, thru ? "pymidi-thru" : "pymidi-in");
    rtmidi_in_set_callback(ctx->dev, thru ? bad_midi_in_callback : ok_midi_in_callback, ctx);
    return ctx;
}

// BAD: api-without-gil,thread-entry-without-gil libuv timer callback fires inside uv_run(), which loop_run_forever() calls with the GIL released; it calls Python without PyGILState_Ensure
static void bad_uv_timer_cb(uv_timer_t *handle)
{
    auto *t = static_cast<TimerCtx *>(uv_handle_get_data(reinterpret_cast<uv_handle_t *>(handle)));
    PyObject *r = PyObject_CallNoArgs(t->callback);
    if (r == nullptr) {
        PyErr_Print();
        uv_stop(t->loop);
        return;
    }
    Py_DECREF(r);
}

// OK: libuv timer callback (run from uv_run with the GIL released) takes the GIL for the Python call and stops the loop on error
static void ok_uv_timer_cb(uv_timer_t *handle)
{
    auto *t = static_cast<TimerCtx *>(uv_handle_get_data(reinterpret_cast<uv_handle_t *>(handle)));
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(t->callback);
    if (r == nullptr) {
        PyErr_Print();
        uv_stop(t->loop);
    }
    else {
        Py_DECREF(r);
    }
    PyGILState_Release(st);
}

// Not scored: schedules a timer; call_soon uses the old callback, call_later the new one.
static PyObject *loop_add_timer(LoopObject *self, PyObject *args)
{
    PyObject *cb;
    unsigned long long ms;
    int legacy = 0;
    if (!PyArg_ParseTuple(args, "OK|p", &cb, &ms, &legacy))
        return nullptr;
    auto *t = new TimerCtx();
    t->loop = self->loop;
    t->handle = static_cast<uv_timer_t *>(PyMem_RawMalloc(uv_handle_size(UV_TIMER)));
    Py_INCREF(cb);
    t->callback = cb;
    uv_timer_init(self->loop, t->handle);
    uv_handle_set_data(reinterpret_cast<uv_handle_t *>(t->handle), t);
    int rc = uv_timer_start(t->handle, legacy ? bad_uv_timer_cb : ok_uv_timer_cb, ms, 0);
    if (rc < 0) {
        PyErr_SetString(PyExc_RuntimeError, uv_strerror(rc));
        return nullptr;
    }
    Py_RETURN_NONE;
}

// Not scored: blocking loop run, GIL released around uv_run.
static PyObject *loop_run_forever(LoopObject *self, PyObject *)
{
    uv_loop_t *loop = self->loop;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = uv_run(loop, UV_RUN_DEFAULT);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(rc);
}

// OK: uv_run(UV_RUN_NOWAIT) only polls for ready events and never blocks, so it is run with the GIL held (timer callbacks re-enter PyGILState_Ensure safely)
static PyObject *ok_loop_run_nowait(LoopObject *self, PyObject *)
{
    int alive = uv_run(self->loop, UV_RUN_NOWAIT);
    if (PyErr_Occurred())
        return nullptr;
    return PyBool_FromLong(alive != 0);
}

// BAD: thread-entry-without-gil std::thread lambda scanning MIDI ports calls the Python progress handler and DECREFs without ever taking the GIL
static PyObject *bad_spawn_midi_worker(PyObject *, PyObject *args)
{
    PyObject *handler;
    unsigned int port;
    if (!PyArg_ParseTuple(args, "OI", &handler, &port))
        return nullptr;
    Py_INCREF(handler);
    std::thread([handler, port]() {
        RtMidiInPtr dev = rtmidi_in_create_default();
        unsigned count = rtmidi_get_port_count(dev);
        PyObject *r = PyObject_CallFunction(handler, "II", port, count);
        Py_XDECREF(r);
        Py_DECREF(handler);
        rtmidi_in_free(dev);
    }).detach();
    Py_RETURN_NONE;
}

// OK: std::thread lambda does the RtMidi work without the GIL, then takes it with PyGILState_Ensure for the Python call and the final DECREF
static PyObject *ok_spawn_midi_worker(PyObject *, PyObject *args)
{
    PyObject *handler;
    unsigned int port;
    if (!PyArg_ParseTuple(args, "OI", &handler, &port))
        return nullptr;
    Py_INCREF(handler);
    std::thread([handler, port]() {
        RtMidiInPtr dev = rtmidi_in_create_default();
        unsigned count = rtmidi_get_port_count(dev);
        rtmidi_in_free(dev);
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallFunction(handler, "II", port, count);
        if (r == nullptr)
            PyErr_Print();
        Py_XDECREF(r);
        Py_DECREF(handler);
        PyGILState_Release(st);
    }).detach();
    Py_RETURN_NONE;
}

static PyObject *midi_open(PyObject *, PyObject *args)
{
    PyObject *handler;
    unsigned int port;
    int thru = 0;
    if (!PyArg_ParseTuple(args, "IO|p", &port, &handler, &thru))
        return nullptr;
    MidiPortCtx *ctx = open_midi_port(port, handler, thru != 0);
    return PyLong_FromVoidPtr(ctx);
}

static PyMethodDef Loop_methods[] = {
    {"add_timer", (PyCFunction)loop_add_timer, METH_VARARGS, nullptr},
    {"run_forever", (PyCFunction)loop_run_forever, METH_NOARGS, nullptr},
    {"run_nowait", (PyCFunction)ok_loop_run_nowait, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}
};

static PyMethodDef module_methods[] = {
    {"open_input", midi_open, METH_VARARGS, nullptr},
    {"scan_async", bad_spawn_midi_worker, METH_VARARGS, nullptr},
    {"scan_async2", ok_spawn_midi_worker, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}
};

static PyTypeObject LoopType = {
    PyVarObject_HEAD_INIT(nullptr, 0)
    "midi_uv_bridge.Loop",
    sizeof(LoopObject),
};

static struct PyModuleDef bridge_module = {
    PyModuleDef_HEAD_INIT, "midi_uv_bridge", nullptr, -1, module_methods,
    nullptr, nullptr, nullptr, nullptr
};

PyMODINIT_FUNC PyInit_midi_uv_bridge(void)
{
    LoopType.tp_flags = Py_TPFLAGS_DEFAULT;
    LoopType.tp_methods = Loop_methods;
    LoopType.tp_new = PyType_GenericNew;
    if (PyType_Ready(&LoopType) < 0)
        return nullptr;
    PyObject *m = PyModule_Create(&bridge_module);
    if (m == nullptr)
        return nullptr;
    Py_INCREF(&LoopType);
    PyModule_AddObject(m, "Loop", reinterpret_cast<PyObject *>(&LoopType));
    return m;
}
