/*
 * Codec plugin host.  Plugins are plain C and never include Python.h; the
 * host hands them a table of operations, filled in at module init, that
 * wrap the GIL calls.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

typedef struct host_ops {
    void *(*release_gil)(void);          /* PyEval_SaveThread */
    void (*reacquire_gil)(void *token);  /* PyEval_RestoreThread */
    int (*ensure_gil)(void);             /* PyGILState_Ensure */
    void (*drop_gil)(int state);         /* PyGILState_Release */
} host_ops;

static void *host_release_gil(void) { return PyEval_SaveThread(); }
static void host_reacquire_gil(void *token) { PyEval_RestoreThread((PyThreadState *)token); }
static int host_ensure_gil(void) { return (int)PyGILState_Ensure(); }
static void host_drop_gil(int state) { PyGILState_Release((PyGILState_STATE)state); }

static host_ops ops;

void
host_ops_init(void)
{
    ops.release_gil = host_release_gil;
    ops.reacquire_gil = host_reacquire_gil;
    ops.ensure_gil = host_ensure_gil;
    ops.drop_gil = host_drop_gil;
}

/* plugin ABI */
typedef struct codec_plugin {
    const char *name;
    int (*decode)(const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen);
    void (*set_event_sink)(void (*sink)(void *ctx, int kind, const char *msg), void *ctx);
} codec_plugin;

typedef struct {
    PyObject_HEAD
    codec_plugin *plugin;
    PyObject *on_event;
    PyObject *log;       /* list of str */
} Codec;

// BAD: api-without-gil  raises and builds the error message via the Python API after ops.release_gil() and before ops.reacquire_gil()
static PyObject *
bad_codec_decode(Codec *self, PyObject *args)
{
    Py_buffer in;
    if (!PyArg_ParseTuple(args, "y*", &in))
        return NULL;
    size_t outlen = (size_t)in.len * 4 + 64;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)outlen);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    void *tok = ops.release_gil();
    int rc = self->plugin->decode(in.buf, (size_t)in.len,
                                  (uint8_t *)PyBytes_AS_STRING(out), &outlen);
    if (rc != 0) {
        PyErr_Format(PyExc_ValueError, "%s: decode error %d", self->plugin->name, rc);
        ops.reacquire_gil(tok);
        Py_DECREF(out);
        PyBuffer_Release(&in);
        return NULL;
    }
    ops.reacquire_gil(tok);
    PyBuffer_Release(&in);
    if (_PyBytes_Resize(&out, (Py_ssize_t)outlen) < 0)
        return NULL;
    return out;
}

// OK: decode runs between ops.release_gil() and ops.reacquire_gil(); the exception is raised only after reacquiring
static PyObject *
ok_codec_decode(Codec *self, PyObject *args)
{
    Py_buffer in;
    if (!PyArg_ParseTuple(args, "y*", &in))
        return NULL;
    size_t outlen = (size_t)in.len * 4 + 64;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)outlen);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    uint8_t *dst = (uint8_t *)PyBytes_AS_STRING(out);
    void *tok = ops.release_gil();
    int rc = self->plugin->decode(in.buf, (size_t)in.len, dst, &outlen);
    ops.reacquire_gil(tok);
    PyBuffer_Release(&in);
    if (rc != 0) {
        Py_DECREF(out);
        PyErr_Format(PyExc_ValueError, "%s: decode error %d", self->plugin->name, rc);
        return NULL;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)outlen) < 0)
        return NULL;
    return out;
}

// BAD: allow-threads-leak,api-without-gil  returns PyErr_SetFromErrno on a read error while the token from ops.release_gil() is outstanding
static PyObject *
bad_codec_load_file(Codec *self, PyObject *args)
{
    int fd;
    char buf[1 << 16];
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    void *tok = ops.release_gil();
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    ops.reacquire_gil(tok);
    (void)self;
    return PyBytes_FromStringAndSize(buf, n);
}

// BAD: ensure-leak  plugin event sink ensures the GIL but the early return for kind==0 skips ops.drop_gil
static void bad_codec_event_sink(void *ctx, int kind, const char *msg)
{
    Codec *self = (Codec *)ctx;
    int st = ops.ensure_gil();
    if (kind == 0) {
        /* heartbeat: nothing to report */
        return;
    }
    PyObject *r = PyObject_CallFunction(self->on_event, "is", kind, msg);
    if (r == NULL)
        PyErr_WriteUnraisable(self->on_event);
    Py_XDECREF(r);
    ops.drop_gil(st);
}

// OK: plugin log sink ensures the GIL through the ops table and drops it on every path, including the early one
static void ok_codec_log_sink(void *ctx, int kind, const char *msg)
{
    Codec *self = (Codec *)ctx;
    int st = ops.ensure_gil();
    if (self->log == NULL) {
        ops.drop_gil(st);
        return;
    }
    PyObject *line = PyUnicode_FromFormat("[%d] %s", kind, msg);
    if (line == NULL || PyList_Append(self->log, line) < 0)
        PyErr_WriteUnraisable(NULL);
    Py_XDECREF(line);
    ops.drop_gil(st);
}

static PyObject *
codec_attach(Codec *self, PyObject *arg)
{
    int verbose = PyObject_IsTrue(arg);
    if (verbose < 0)
        return NULL;
    if (verbose)
        self->plugin->set_event_sink(ok_codec_log_sink, self);
    else
        self->plugin->set_event_sink(bad_codec_event_sink, self);
    Py_RETURN_NONE;
}

static PyMethodDef codec_methods[] = {
    {"decode", (PyCFunction)ok_codec_decode, METH_VARARGS, NULL},
    {"decode_fast", (PyCFunction)bad_codec_decode, METH_VARARGS, NULL},
    {"load_file", (PyCFunction)bad_codec_load_file, METH_VARARGS, NULL},
    {"attach", (PyCFunction)codec_attach, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

PyTypeObject CodecType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "codechost.Codec",
    .tp_basicsize = sizeof(Codec),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = codec_methods,
};
