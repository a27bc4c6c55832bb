/*
 * libtelemetry's Python bridge.  The project wraps every GIL operation in
 * its own macros/functions (tm_gil.h inlined here).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* ---- tm_gil.h ---- */
#define TM_GIL_ACQUIRE()  PyGILState_STATE tm__gstate = PyGILState_Ensure()
#define TM_GIL_RELEASE()  PyGILState_Release(tm__gstate)
#define TM_NOGIL_BEGIN()  { PyThreadState *tm__ts = PyEval_SaveThread();
#define TM_NOGIL_END()    PyEval_RestoreThread(tm__ts); }

typedef struct {
    PyGILState_STATE st;
    int held;
} tm_gil_token;

static inline void tm_gil_enter(tm_gil_token *t)
{
    t->st = PyGILState_Ensure();
    t->held = 1;
}

static inline void tm_gil_leave(tm_gil_token *t)
{
    if (t->held) {
        t->held = 0;
        PyGILState_Release(t->st);
    }
}

static inline PyThreadState *tm_nogil_begin(void) { return PyEval_SaveThread(); }
static inline void tm_nogil_end(PyThreadState *ts) { PyEval_RestoreThread(ts); }
/* ---- end tm_gil.h ---- */

typedef struct {
    const char *name;
    double value;
    uint64_t ts_ns;
} tm_sample;

static PyObject *g_sink;      /* Python callable(name, value, ts) */

// BAD: ensure-leak  sample hook (called from collector threads) returns early on a NULL name after TM_GIL_ACQUIRE without TM_GIL_RELEASE
void bad_tm_emit_sample(const tm_sample *s)
{
    TM_GIL_ACQUIRE();
    if (g_sink == NULL || s->name == NULL)
        return;
    PyObject *r = PyObject_CallFunction(g_sink, "sdK", s->name, s->value,
                                        (unsigned long long)s->ts_ns);
    if (r == NULL)
        PyErr_WriteUnraisable(g_sink);
    Py_XDECREF(r);
    TM_GIL_RELEASE();
}

// OK: every exit of the sample hook goes through the out: label that does TM_GIL_RELEASE
void ok_tm_emit_batch(const tm_sample *s, size_t n)
{
    TM_GIL_ACQUIRE();
    PyObject *batch = NULL;
    if (g_sink == NULL)
        goto out;
    batch = PyList_New((Py_ssize_t)n);
    if (batch == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        PyObject *t = Py_BuildValue("(sdK)", s[i].name ? s[i].name : "?", s[i].value,
                                    (unsigned long long)s[i].ts_ns);
        if (t == NULL)
            goto out;
        PyList_SET_ITEM(batch, (Py_ssize_t)i, t);
    }
    PyObject *r = PyObject_CallOneArg(g_sink, batch);
    Py_XDECREF(r);
out:
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(g_sink);
    Py_XDECREF(batch);
    TM_GIL_RELEASE();
}

// BAD: api-without-gil  raises ValueError inside the TM_NOGIL_BEGIN/TM_NOGIL_END region
static PyObject *
bad_tm_flush_fd(PyObject *mod, PyObject *args)
{
    int fd;
    Py_buffer buf;
    ssize_t n = 0;
    if (!PyArg_ParseTuple(args, "iy*", &fd, &buf))
        return NULL;
    TM_NOGIL_BEGIN()
    if (buf.len == 0)
        PyErr_SetString(PyExc_ValueError, "empty telemetry frame");
    else
        n = write(fd, buf.buf, (size_t)buf.len);
    TM_NOGIL_END()
    PyBuffer_Release(&buf);
    (void)mod;
    if (PyErr_Occurred())
        return NULL;
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromSsize_t(n);
}

// BAD: release-without-ensure  releases the token's state by hand and then calls tm_gil_leave, which releases it again
void bad_tm_on_overflow(size_t dropped)
{
    tm_gil_token tok;
    tm_gil_enter(&tok);
    if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                         "telemetry buffer overflow, %zu samples dropped", dropped) < 0)
        PyErr_WriteUnraisable(NULL);
    PyGILState_Release(tok.st);
    tm_gil_leave(&tok);
}

// OK: tm_gil_leave is idempotent (held flag), so calling it on the error path and again at the end is safe
int ok_tm_register_sink(PyObject *sink_factory)
{
    tm_gil_token tok;
    int rc = -1;
    tm_gil_enter(&tok);
    PyObject *sink = PyObject_CallNoArgs(sink_factory);
    if (sink == NULL) {
        PyErr_Print();
        tm_gil_leave(&tok);
        goto done;
    }
    if (!PyCallable_Check(sink)) {
        Py_DECREF(sink);
        tm_gil_leave(&tok);
        goto done;
    }
    Py_XSETREF(g_sink, sink);
    rc = 0;
done:
    tm_gil_leave(&tok);
    return rc;
}

// BAD: allow-threads-leak  returns -1 on a short write between tm_nogil_begin and tm_nogil_end
static int bad_tm_spill_to_disk(int fd, const tm_sample *s, size_t n)
{
    PyThreadState *ts = tm_nogil_begin();
    for (size_t i = 0; i < n; i++) {
        char line[256];
        int len = snprintf(line, sizeof line, "%s %.17g %llu\n",
                           s[i].name, s[i].value, (unsigned long long)s[i].ts_ns);
        if (write(fd, line, (size_t)len) != len)
            return -1;
    }
    tm_nogil_end(ts);
    return 0;
}

// OK: spills with the GIL released and restores it on both the error and success paths
static int ok_tm_spill_to_disk(int fd, const tm_sample *s, size_t n)
{
    int rc = 0;
    PyThreadState *ts = tm_nogil_begin();
    for (size_t i = 0; i < n && rc == 0; i++) {
        char line[256];
        int len = snprintf(line, sizeof line, "%s %.17g %llu\n",
                           s[i].name, s[i].value, (unsigned long long)s[i].ts_ns);
        if (write(fd, line, (size_t)len) != len)
            rc = -1;
    }
    tm_nogil_end(ts);
    if (rc < 0)
        PyErr_SetFromErrno(PyExc_OSError);
    return rc;
}

PyObject *
tm_spill(PyObject *mod, PyObject *args)
{
    int fd, careful = 1;
    static const tm_sample probe[1] = {{"probe", 0.0, 0}};
    if (!PyArg_ParseTuple(args, "i|p", &fd, &careful))
        return NULL;
    if (careful ? ok_tm_spill_to_disk(fd, probe, 1) : bad_tm_spill_to_disk(fd, probe, 1))
        return careful ? NULL : PyErr_SetFromErrno(PyExc_OSError);
    (void)mod;
    Py_RETURN_NONE;
}

// BAD: deprecated-gil-api  legacy bridge init still calls PyEval_InitThreads and PyEval_AcquireLock/ReleaseLock
int bad_tm_legacy_init(void)
{
    if (!Py_IsInitialized())
        return -1;
    PyEval_InitThreads();
    PyEval_AcquireLock();
    g_sink = NULL;
    PyEval_ReleaseLock();
    return 0;
}

static PyMethodDef tm_methods[] = {
    {"flush_fd", bad_tm_flush_fd, METH_VARARGS, NULL},
    {"spill", tm_spill, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
static struct PyModuleDef tm_module = {PyModuleDef_HEAD_INIT, "_telemetry", NULL, -1, tm_methods};
PyMODINIT_FUNC PyInit__telemetry(void) { return PyModule_Create(&tm_module); }
