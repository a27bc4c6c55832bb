/*
 * pytrace bridge: a native tracing library calls back into Python for
 * span start/finish.  Spans nest, and the bridge keeps one GIL state per
 * open span.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#define MAX_DEPTH 32

typedef struct {
    PyGILState_STATE gil[MAX_DEPTH];
    int depth;
} span_stack;

static _Thread_local span_stack t_spans;

typedef struct {
    PyObject *exporter;         /* Python object with .start(name) / .finish(name) */
    PyGILState_STATE cb_state;  /* state for the user callback */
    PyGILState_STATE log_state; /* state for the logging hook */
    int log_fd;
} tracer;

// BAD: release-order  ensures cb_state then log_state but releases cb_state first (not LIFO)
void bad_tracer_emit(tracer *t, const char *name)
{
    t->cb_state = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(t->exporter, "start", "s", name);
    Py_XDECREF(r);
    t->log_state = PyGILState_Ensure();
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(t->exporter);
    PyGILState_Release(t->cb_state);
    PyGILState_Release(t->log_state);
}

// OK: nested Ensure states stored in struct fields are released innermost-first
void ok_tracer_emit(tracer *t, const char *name)
{
    t->cb_state = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(t->exporter, "start", "s", name);
    Py_XDECREF(r);
    t->log_state = PyGILState_Ensure();
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(t->exporter);
    PyGILState_Release(t->log_state);
    PyGILState_Release(t->cb_state);
}

/* span_enter pushes an Ensure state (the GIL stays held for the span),
   span_exit pops the top one. */
void span_enter(tracer *t, const char *name)
{
    if (t_spans.depth >= MAX_DEPTH)
        return;
    t_spans.gil[t_spans.depth++] = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(t->exporter, "start", "s", name);
    if (r == NULL)
        PyErr_WriteUnraisable(t->exporter);
    Py_XDECREF(r);
}

void
span_exit(tracer *t, const char *name)
{
    if (t_spans.depth == 0)
        return;
    PyObject *r = PyObject_CallMethod(t->exporter, "finish", "s", name);
    if (r == NULL)
        PyErr_WriteUnraisable(t->exporter);
    Py_XDECREF(r);
    PyGILState_Release(t_spans.gil[--t_spans.depth]);
}

// BAD: release-order,api-without-gil  abort path releases all open span states from the bottom of the stack up (FIFO)
void bad_spans_abort_all(tracer *t)
{
    int n = t_spans.depth;
    for (int i = 0; i < n; i++) {
        PyObject *r = PyObject_CallMethod(t->exporter, "abort", NULL);
        Py_XDECREF(r);
        PyErr_Clear();
        PyGILState_Release(t_spans.gil[i]);
    }
    t_spans.depth = 0;
}

// OK: abort path unwinds the span stack from the top, matching the order of the Ensure calls
void ok_spans_abort_all(tracer *t)
{
    while (t_spans.depth > 0) {
        PyObject *r = PyObject_CallMethod(t->exporter, "abort", NULL);
        Py_XDECREF(r);
        PyErr_Clear();
        PyGILState_Release(t_spans.gil[--t_spans.depth]);
    }
}

// BAD: release-order  restores the outer saved thread state while the inner PyGILState_Ensure is still held
static PyObject *
bad_export_batch(PyObject *mod, PyObject *args)
{
    tracer *t; PyObject *cap;
    if (!PyArg_ParseTuple(args, "O", &cap))
        return NULL;
    if ((t = PyCapsule_GetPointer(cap, "pytrace.tracer")) == NULL)
        return NULL;
    PyThreadState *ts = PyEval_SaveThread();
    fsync(t->log_fd);
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(t->exporter, "flush", NULL);
    Py_XDECREF(r);
    PyEval_RestoreThread(ts);
    PyGILState_Release(g);
    (void)mod;
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

// OK: inside a released region it takes PyGILState_Ensure and releases it again before restoring the outer state (LIFO)
static PyObject *
ok_export_batch(PyObject *mod, PyObject *args)
{
    tracer *t; PyObject *cap;
    int failed;
    if (!PyArg_ParseTuple(args, "O", &cap))
        return NULL;
    if ((t = PyCapsule_GetPointer(cap, "pytrace.tracer")) == NULL)
        return NULL;
    PyThreadState *ts = PyEval_SaveThread();
    fsync(t->log_fd);
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(t->exporter, "flush", NULL);
    failed = r == NULL;
    if (failed)
        PyErr_WriteUnraisable(t->exporter);
    Py_XDECREF(r);
    PyGILState_Release(g);
    PyEval_RestoreThread(ts);
    (void)mod;
    return PyBool_FromLong(!failed);
}

/* Flushes the log descriptor with the GIL released.  Must be called with the GIL held. */
static int
log_sync_nogil(int fd)
{
    int rc;
    PyThreadState *ts = PyEval_SaveThread();
    rc = fdatasync(fd);
    PyEval_RestoreThread(ts);
    return rc;
}

// BAD: nested-release  calls log_sync_nogil, which does PyEval_SaveThread, from inside a Py_BEGIN_ALLOW_THREADS block
static PyObject *
bad_rotate_log(PyObject *mod, PyObject *args)
{
    tracer *t; PyObject *cap; const char *path;
    int fd, rc;
    if (!PyArg_ParseTuple(args, "Os", &cap, &path))
        return NULL;
    if ((t = PyCapsule_GetPointer(cap, "pytrace.tracer")) == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = log_sync_nogil(t->log_fd);
    close(t->log_fd);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    Py_END_ALLOW_THREADS
    (void)mod;
    if (fd < 0 || rc < 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    t->log_fd = fd;
    Py_RETURN_NONE;
}

// OK: calls log_sync_nogil with the GIL held, which is what that helper expects
static PyObject *
ok_sync_log(PyObject *mod, PyObject *cap)
{
    tracer *t = PyCapsule_GetPointer(cap, "pytrace.tracer");
    if (t == NULL)
        return NULL;
    if (log_sync_nogil(t->log_fd) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    (void)mod;
    Py_RETURN_NONE;
}

// BAD: allow-threads-leak,api-without-gil  a failed write breaks out of the loop with the thread state saved, then raises without the GIL
static PyObject *
bad_write_spans(PyObject *mod, PyObject *args)
{
    tracer *t; PyObject *cap, *lines;
    if (!PyArg_ParseTuple(args, "OO!", &cap, &PyList_Type, &lines))
        return NULL;
    if ((t = PyCapsule_GetPointer(cap, "pytrace.tracer")) == NULL)
        return NULL;
    Py_ssize_t i, n = PyList_GET_SIZE(lines);
    for (i = 0; i < n; i++) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(lines, i), &len);
        if (s == NULL)
            return NULL;
        PyThreadState *ts = PyEval_SaveThread();
        if (write(t->log_fd, s, (size_t)len) != len)
            break;
        PyEval_RestoreThread(ts);
    }
    (void)mod;
    if (i < n)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

// OK: each iteration releases and re-acquires; the failure is recorded and the loop exits only after the restore
static PyObject *
ok_write_spans(PyObject *mod, PyObject *args)
{
    tracer *t; PyObject *cap, *lines;
    if (!PyArg_ParseTuple(args, "OO!", &cap, &PyList_Type, &lines))
        return NULL;
    if ((t = PyCapsule_GetPointer(cap, "pytrace.tracer")) == NULL)
        return NULL;
    Py_ssize_t i, n = PyList_GET_SIZE(lines);
    for (i = 0; i < n; i++) {
        Py_ssize_t len;
        ssize_t w;
        PyObject *item = Py_NewRef(PyList_GET_ITEM(lines, i));
        const char *s = PyUnicode_AsUTF8AndSize(item, &len);
        if (s == NULL) {
            Py_DECREF(item);
            return NULL;
        }
        PyThreadState *ts = PyEval_SaveThread();
        w = write(t->log_fd, s, (size_t)len);
        PyEval_RestoreThread(ts);
        Py_DECREF(item);
        if (w != len)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
    (void)mod;
    Py_RETURN_NONE;
}
