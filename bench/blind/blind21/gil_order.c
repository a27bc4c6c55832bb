/*
 * script_host.c -- scripting bridge of a game engine (events dispatched to
 * Python plugins from engine threads) plus two I/O objects of the engine's
 * Python module: a V4L2 webcam capture and an append-only save-game
 * journal.  Exercises ordering of nested GIL states and save/restore
 * pairing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---- minimal V4L2 buffer (linux/videodev2.h layout not needed here) --- */
struct v4l2_buffer_lite {
    uint32_t index;
    uint32_t type;
    uint32_t bytesused;
    uint32_t flags;
    uint32_t field;
    unsigned char reserved[68];
};
#define VIDIOC_DQBUF 0xC0585611UL
#define V4L2_BUF_TYPE_VIDEO_CAPTURE 1

struct host_event {
    int type;
    const char *name;
    double timestamp;
};

struct plugin {
    PyObject *module;      /* plugin module */
    PyObject *handlers;    /* dict: event name -> callable */
};

/* Not scored: calls plugin.<hook>(); caller must hold the GIL. */
static void
call_plugin_hook(struct plugin *p, const char *hook)
{
    PyObject *r = PyObject_CallMethod(p->module, hook, NULL);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
}

/* Not scored: profiler/log bridge; caller must hold the GIL. */
static void
log_event(struct plugin *p, const struct host_event *ev)
{
    PyObject *r = PyObject_CallMethod(p->module, "log", "sd", ev->name, ev->timestamp);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
}

// BAD: release-order engine-thread dispatch takes an outer and an inner (profiler) GIL state, then releases the outer one first
static void
bad_nested_ensure_wrong_order(struct plugin *p, const struct host_event *ev)
{
    PyGILState_STATE outer, inner;
    PyObject *handler, *r;

    outer = PyGILState_Ensure();
    handler = PyDict_GetItemString(p->handlers, ev->name);
    inner = PyGILState_Ensure();          /* profiler scope */
    log_event(p, ev);
    if (handler != NULL) {
        r = PyObject_CallFunction(handler, "d", ev->timestamp);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
    }
    PyGILState_Release(outer);
    PyGILState_Release(inner);
}

// OK: same nested dispatch, states released in LIFO order
static void
ok_nested_ensure_lifo(struct plugin *p, const struct host_event *ev)
{
    PyGILState_STATE outer, inner;
    PyObject *handler, *r;

    outer = PyGILState_Ensure();
    handler = PyDict_GetItemString(p->handlers, ev->name);
    inner = PyGILState_Ensure();
    log_event(p, ev);
    if (handler != NULL) {
        r = PyObject_CallFunction(handler, "d", ev->timestamp);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
    }
    PyGILState_Release(inner);
    PyGILState_Release(outer);
}

/* Not scored: engine-facing wrappers around the GIL state API. */
static PyGILState_STATE
host_gil_enter(void)
{
    return PyGILState_Ensure();
}

static void
host_gil_leave(PyGILState_STATE st)
{
    PyGILState_Release(st);
}

// BAD: release-order states from the host_gil_enter() wrapper are handed back to host_gil_leave() in acquisition (FIFO) order
static void
bad_dispatch_through_helpers(struct plugin *p, const struct host_event *ev)
{
    PyGILState_STATE frame_scope = host_gil_enter();
    call_plugin_hook(p, "on_frame_begin");
    PyGILState_STATE event_scope = host_gil_enter();
    log_event(p, ev);
    call_plugin_hook(p, "on_event");
    host_gil_leave(frame_scope);
    host_gil_leave(event_scope);
}

// OK: wrapper-based enter/leave pairs are properly nested
static void
ok_dispatch_through_helpers(struct plugin *p, const struct host_event *ev)
{
    PyGILState_STATE frame_scope = host_gil_enter();
    call_plugin_hook(p, "on_frame_begin");
    PyGILState_STATE event_scope = host_gil_enter();
    log_event(p, ev);
    call_plugin_hook(p, "on_event");
    host_gil_leave(event_scope);
    host_gil_leave(frame_scope);
}

#define GIL_STACK_MAX 4
struct gil_stack {
    PyGILState_STATE st[GIL_STACK_MAX];
    int depth;
};

/* Not scored */
static void
gil_stack_push(struct gil_stack *s)
{
    s->st[s->depth++] = PyGILState_Ensure();
}

// BAD: release-order unwinds the array of saved states from index 0 upward (oldest first) instead of LIFO
static void
bad_release_state_stack(struct plugin *p)
{
    struct gil_stack gs;
    int i;
    gs.depth = 0;
    gil_stack_push(&gs);                 /* host dispatch scope */
    call_plugin_hook(p, "on_enter");
    gil_stack_push(&gs);                 /* nested scope for the frame hook */
    call_plugin_hook(p, "on_frame");
    for (i = 0; i < gs.depth; i++)
        PyGILState_Release(gs.st[i]);
    gs.depth = 0;
}

// OK: the same state array unwound from the top down
static void
ok_release_state_stack(struct plugin *p)
{
    struct gil_stack gs;
    gs.depth = 0;
    gil_stack_push(&gs);
    call_plugin_hook(p, "on_enter");
    gil_stack_push(&gs);
    call_plugin_hook(p, "on_frame");
    while (gs.depth > 0)
        PyGILState_Release(gs.st[--gs.depth]);
}

struct async_job {
    struct plugin *owner;
    void *buf;
    int state;
    int result;
};
#define JOB_DONE 3

// BAD: release-without-ensure job completion (engine worker thread) only Ensures when notify_python is set, but always calls PyGILState_Release
static void
bad_release_without_ensure(struct async_job *job, int notify_python)
{
    PyGILState_STATE st = PyGILState_UNLOCKED;
    if (notify_python) {
        st = PyGILState_Ensure();
        call_plugin_hook(job->owner, "on_job_done");
    }
    free(job->buf);
    job->buf = NULL;
    job->state = JOB_DONE;
    PyGILState_Release(st);
}

/* ---- webcam capture -------------------------------------------------- */

struct capture_dev {
    int fd;
    unsigned char *maps[8];
    PyThreadState *saved_ts;     /* valid only while inside capture_wait */
};

typedef struct {
    PyObject_HEAD
    struct capture_dev *dev;
} CaptureObject;

// BAD: restore-without-save the shared fail: label calls PyEval_RestoreThread(ts) also on the early "device closed" path, where the GIL was never released (ts is NULL)
static PyObject *
bad_capture_read_frame(CaptureObject *self, PyObject *Py_UNUSED(ignored))
{
    struct capture_dev *dev = self->dev;
    struct v4l2_buffer_lite buf;
    PyThreadState *ts = NULL;
    int err = 0;

    if (dev->fd < 0) {
        err = EBADF;
        goto fail;
    }
    ts = PyEval_SaveThread();
    memset(&buf, 0, sizeof buf);
    buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (ioctl(dev->fd, VIDIOC_DQBUF, &buf) < 0) {
        err = errno;
        goto fail;
    }
    PyEval_RestoreThread(ts);
    return PyBytes_FromStringAndSize((const char *)dev->maps[buf.index % 8],
                                     (Py_ssize_t)buf.bytesused);
fail:
    PyEval_RestoreThread(ts);
    errno = err;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* Not scored: C helper, blocks in ioctl; caller has released the GIL. */
static int
capture_wait(struct capture_dev *dev, struct v4l2_buffer_lite *buf)
{
    memset(buf, 0, sizeof *buf);
    buf->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    return ioctl(dev->fd, VIDIOC_DQBUF, buf);
}

// OK: thread state saved into the C struct field dev->saved_ts and restored from that same field on the single exit path
static PyObject *
ok_save_into_field(CaptureObject *self, PyObject *Py_UNUSED(ignored))
{
    struct capture_dev *dev = self->dev;
    struct v4l2_buffer_lite buf;
    int rc, err;

    if (dev->fd < 0) {
        errno = EBADF;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    dev->saved_ts = PyEval_SaveThread();
    rc = capture_wait(dev, &buf);
    err = errno;
    PyEval_RestoreThread(dev->saved_ts);
    dev->saved_ts = NULL;
    if (rc < 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyBytes_FromStringAndSize((const char *)dev->maps[buf.index % 8],
                                     (Py_ssize_t)buf.bytesused);
}

/* ---- save-game journal ----------------------------------------------- */

typedef struct {
    PyObject_HEAD
    int fd;
} JournalObject;

/* Not scored: releases the GIL around fsync; caller must hold the GIL. */
static int
flush_device(int fd)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fsync(fd);
    Py_END_ALLOW_THREADS
    return rc;
}

// BAD: nested-release calls flush_device(), which does its own Py_BEGIN_ALLOW_THREADS, from inside an already released region
static PyObject *
bad_nested_allow_threads_helper(JournalObject *self, PyObject *args)
{
    Py_buffer rec;
    int fd = self->fd, rc = 0;
    ssize_t n;
    if (!PyArg_ParseTuple(args, "y*", &rec))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    n = write(fd, rec.buf, (size_t)rec.len);
    if (n == (ssize_t)rec.len)
        rc = flush_device(fd);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&rec);
    if (n != (ssize_t)rec.len || rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

// OK: writes in a released region, closes it, and only then calls flush_device() (which releases the GIL itself) while holding the GIL
static PyObject *
ok_journal_sync(JournalObject *self, PyObject *args)
{
    Py_buffer rec;
    int fd = self->fd;
    ssize_t n;
    if (!PyArg_ParseTuple(args, "y*", &rec))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    n = write(fd, rec.buf, (size_t)rec.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&rec);
    if (n != (ssize_t)rec.len)
        return PyErr_SetFromErrno(PyExc_OSError);
    if (flush_device(fd) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

// OK: EINTR handling temporarily re-takes the GIL with Py_BLOCK_THREADS/Py_UNBLOCK_THREADS for PyErr_CheckSignals; the break only leaves the inner while loop, still inside the region
static PyObject *
ok_block_unblock_in_region(JournalObject *self, PyObject *arg)
{
    Py_ssize_t want = PyLong_AsSsize_t(arg);
    PyObject *out;
    char *p;
    Py_ssize_t got = 0;
    int fd = self->fd, failed = 0, saved_errno = 0;

    if (want < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "negative read size");
        return NULL;
    }
    out = PyBytes_FromStringAndSize(NULL, want);
    if (out == NULL)
        return NULL;
    p = PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    while (got < want) {
        ssize_t n = read(fd, p + got, (size_t)(want - got));
        if (n < 0 && errno == EINTR) {
            Py_BLOCK_THREADS
            if (PyErr_CheckSignals() < 0)
                failed = 1;
            Py_UNBLOCK_THREADS
            if (failed)
                break;
            continue;
        }
        if (n <= 0) {
            saved_errno = n < 0 ? errno : 0;
            break;
        }
        got += n;
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        Py_DECREF(out);
        return NULL;
    }
    if (saved_errno != 0) {
        Py_DECREF(out);
        errno = saved_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (got < want && _PyBytes_Resize(&out, got) < 0)
        return NULL;
    return out;
}

static PyMethodDef Capture_methods[] = {
    {"read_frame_fast", (PyCFunction)bad_capture_read_frame, METH_NOARGS, NULL},
    {"read_frame", (PyCFunction)ok_save_into_field, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMethodDef Journal_methods[] = {
    {"append_durable", (PyCFunction)bad_nested_allow_threads_helper, METH_VARARGS, NULL},
    {"append", (PyCFunction)ok_journal_sync, METH_VARARGS, NULL},
    {"read", (PyCFunction)ok_block_unblock_in_region, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject CaptureType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_engine.Capture",
    .tp_basicsize = sizeof(CaptureObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = Capture_methods,
};

static PyTypeObject JournalType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_engine.Journal",
    .tp_basicsize = sizeof(JournalObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = Journal_methods,
};

/* Engine-side entry points (called from engine threads, no GIL held). */
void
engine_dispatch_event(struct plugin *p, const struct host_event *ev, int variant)
{
    switch (variant) {
    case 0: bad_nested_ensure_wrong_order(p, ev); break;
    case 1: ok_nested_ensure_lifo(p, ev); break;
    case 2: bad_dispatch_through_helpers(p, ev); break;
    case 3: ok_dispatch_through_helpers(p, ev); break;
    case 4: bad_release_state_stack(p); break;
    default: ok_release_state_stack(p); break;
    }
}

void
engine_job_finished(struct async_job *job, int notify)
{
    bad_release_without_ensure(job, notify);
}

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT, "_engine", NULL, -1, NULL, NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__engine(void)
{
    PyObject *m;
    if (PyType_Ready(&CaptureType) < 0 || PyType_Ready(&JournalType) < 0)
        return NULL;
    m = PyModule_Create(&engine_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CaptureType);
    PyModule_AddObject(m, "Capture", (PyObject *)&CaptureType);
    Py_INCREF(&JournalType);
    PyModule_AddObject(m, "Journal", (PyObject *)&JournalType);
    return m;
}
