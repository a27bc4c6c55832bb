/* _vsdk: bindings for a proprietary vendor SDK (libvsdk). The SDK documentation
 * does not say from which thread its callbacks run. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

/* ---- vsdk.h ---- */
typedef struct vsdk_session vsdk_session;
typedef struct vsdk_codec vsdk_codec;
typedef void (*vsdk_log_fn)(int level, const char *msg, void *ctx);
typedef int (*vsdk_frame_fn)(vsdk_codec *codec, const unsigned char *data, size_t len,
                             long long pts, void *ctx);
struct vsdk_plugin_ops {
    unsigned int abi_version;
    const char *name;
    int (*on_open)(void *ctx, const char *uri);
    void (*on_event)(void *ctx, int code, const char *detail);
    void (*on_close)(void *ctx);
    void *ctx;
};
typedef enum { VSDK_TRACE_ENTER = 1, VSDK_TRACE_LEAVE = 2 } vsdk_trace_kind;
typedef void (*vsdk_trace_hook)(vsdk_trace_kind kind, const char *fn, void *ctx);

int vsdk_set_log_handler(vsdk_session *s, vsdk_log_fn fn, void *ctx);
int vsdk_codec_set_frame_callback(vsdk_codec *codec, vsdk_frame_fn fn, void *ctx);
int vsdk_register_plugin(vsdk_session *s, const struct vsdk_plugin_ops *ops);
int vsdk_trace_add_hook(vsdk_trace_hook hook, void *ctx);
vsdk_session *vsdk_session_open(const char *config);
vsdk_codec *vsdk_codec_new(vsdk_session *s, const char *name);
const char *vsdk_strerror(int err);
#define VSDK_ABI_VERSION 3u
/* ---- end vsdk.h ---- */

typedef struct {
    PyObject_HEAD
    vsdk_session *sess;
    vsdk_codec *codec;
    PyObject *logger;
    PyObject *on_frame;
    PyObject *plugin;    /* Python object implementing open/event/close */
    PyObject *tracer;
    struct vsdk_plugin_ops ops;
} Session;

static void
ok_vsdk_log_sink(int level, const char *msg, void *ctx)
{
    Session *self = (Session *)ctx;
    PyObject *r;

    if (self->logger == NULL)
        return;
    r = PyObject_CallMethod(self->logger, "log", "is", level * 10, msg);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
}

static int
ok_vsdk_frame_ready(vsdk_codec *codec, const unsigned char *data, size_t len,
                    long long pts, void *ctx)
{
    Session *self = (Session *)ctx;
    PyObject *frame, *r;
    int keep;
    (void)codec;

    frame = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    if (frame == NULL)
        return -1;
    r = PyObject_CallFunction(self->on_frame, "NL", frame, pts);
    if (r == NULL)
        return -1;
    keep = PyObject_IsTrue(r);
    Py_DECREF(r);
    return keep < 0 ? -1 : keep;
}

static int
ok_plugin_on_open(void *ctx, const char *uri)
{
    Session *self = (Session *)ctx;
    PyObject *r = PyObject_CallMethod(self->plugin, "open", "s", uri);
    if (r == NULL) {
        PyErr_WriteUnraisable(self->plugin);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static void
ok_plugin_on_event(void *ctx, int code, const char *detail)
{
    Session *self = (Session *)ctx;
    PyObject *r;
    switch (code) {
    case 0:
        return;
    case 1:
        r = PyObject_CallMethod(self->plugin, "event", "is", code, detail ? detail : "");
        break;
    default:
        r = PyObject_CallMethod(self->plugin, "error", "i", code);
        break;
    }
    Py_XDECREF(r);
    if (PyErr_Occurred())
        PyErr_Clear();
}

static void
ok_plugin_on_close(void *ctx)
{
    Session *self = (Session *)ctx;
    PyObject *r = PyObject_CallMethod(self->plugin, "close", NULL);
    Py_XDECREF(r);
    Py_CLEAR(self->plugin);
}

static void
ok_vsdk_trace(vsdk_trace_kind kind, const char *fn, void *ctx)
{
    PyObject *tracer = (PyObject *)ctx;
    PyObject *r = PyObject_CallFunction(tracer, "(is)", (int)kind, fn);
    Py_XDECREF(r);
}

static PyObject *
Session_attach(Session *self, PyObject *args)
{
    PyObject *logger, *on_frame, *plugin;
    int rc;

    if (!PyArg_ParseTuple(args, "OOO", &logger, &on_frame, &plugin))
        return NULL;
    Py_XSETREF(self->logger, Py_NewRef(logger));
    Py_XSETREF(self->on_frame, Py_NewRef(on_frame));
    Py_XSETREF(self->plugin, Py_NewRef(plugin));

    rc = vsdk_set_log_handler(self->sess, ok_vsdk_log_sink, self);
    if (rc == 0)
        rc = vsdk_codec_set_frame_callback(self->codec, ok_vsdk_frame_ready, self);
    if (rc == 0) {
        self->ops.abi_version = VSDK_ABI_VERSION;
        self->ops.name = "python";
        self->ops.on_open = ok_plugin_on_open;
        self->ops.on_event = ok_plugin_on_event;
        self->ops.on_close = ok_plugin_on_close;
        self->ops.ctx = self;
        rc = vsdk_register_plugin(self->sess, &self->ops);
    }
    if (rc != 0) {
        PyErr_SetString(PyExc_RuntimeError, vsdk_strerror(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
vsdk_settrace(PyObject *mod, PyObject *tracer)
{
    static PyObject *current;
    int rc;
    (void)mod;
    Py_XSETREF(current, Py_NewRef(tracer));
    rc = vsdk_trace_add_hook(ok_vsdk_trace, current);
    if (rc != 0) {
        PyErr_SetString(PyExc_RuntimeError, vsdk_strerror(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Session_methods[] = {
    {"attach", (PyCFunction)Session_attach, METH_VARARGS, NULL},
    {NULL}
};
static PyTypeObject SessionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_vsdk.Session", .tp_basicsize = sizeof(Session),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Session_methods, .tp_new = PyType_GenericNew,
};
static PyMethodDef vsdk_methods[] = {
    {"settrace", vsdk_settrace, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};
static struct PyModuleDef vsdk_module = { PyModuleDef_HEAD_INIT, "_vsdk", NULL, -1, vsdk_methods };

PyMODINIT_FUNC
PyInit__vsdk(void)
{
    PyObject *m;
    if (PyType_Ready(&SessionType) < 0)
        return NULL;
    m = PyModule_Create(&vsdk_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&SessionType);
    PyModule_AddObject(m, "Session", (PyObject *)&SessionType);
    return m;
}
