/* plugin_bridge.c - libpybridge: lets a host application (a real-time
 * visualisation tool) drive Python plugins from its own threads.
 *
 * The host initializes Python itself, releases the GIL, and calls the bridge_*
 * entry points below.  Some are called from host threads that do not hold the
 * GIL (they take it with PyGILState_Ensure); the ones documented "GIL held"
 * are called from inside Python (the plugins call back into the host, which
 * calls back into the bridge).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ host API */

typedef struct host host;

struct host_event {
    int type;
    int arg;
    double t;
};

#define HOST_EAGAIN (-11)

int host_submit(host *h, const void *frame, size_t len);   /* HOST_EAGAIN: device queue full */
int host_flush_wait(host *h, int timeout_ms);
int host_draw(host *h, const double *verts, size_t n);
int host_flush(host *h);
int host_load_asset(host *h, const char *name, void **out);
void host_release_asset(host *h, void *asset);
int host_poll_events(host *h, struct host_event *ev, int max, int timeout_ms);

/* ------------------------------------------------------------------ bridge */

#define BRIDGE_MAX_LAYERS 8

struct bridge {
    host *h;
    PyObject *plugins;          /* list of plugin objects */
    PyObject *layers;           /* list of layer objects with begin()/end() */
    PyObject *handlers;         /* dict: event type -> callable */
    PyObject *logger;           /* logging.Logger or NULL */
    PyThreadState *render_ts;   /* saved while the render thread waits on the device */
    PyThreadState *io_ts;       /* saved while asset I/O runs */
};

static PyThreadState *bridge_suspend(void)
{
    return PyEval_SaveThread();
}

static void bridge_resume(PyThreadState *ts)
{
    PyEval_RestoreThread(ts);
}

static void bridge_suspend_render(struct bridge *b)
{
    b->render_ts = PyEval_SaveThread();
}

static void bridge_resume_render(struct bridge *b)
{
    PyThreadState *ts = b->render_ts;
    b->render_ts = NULL;
    PyEval_RestoreThread(ts);
}

static void bridge_suspend_io(struct bridge *b)
{
    b->io_ts = PyEval_SaveThread();
}

static void bridge_resume_io(struct bridge *b)
{
    PyThreadState *ts = b->io_ts;
    b->io_ts = NULL;
    PyEval_RestoreThread(ts);
}

/* Takes the GIL for a host thread; fails (without taking it) once Python is gone. */
static int bridge_enter(PyGILState_STATE *st)
{
    if (!Py_IsInitialized())
        return -1;
    *st = PyGILState_Ensure();
    return 0;
}

static void bridge_leave(PyGILState_STATE *st)
{
    PyGILState_Release(*st);
}

/* GIL held. */
static int layer_begin(struct bridge *b, Py_ssize_t i)
{
    PyObject *r = PyObject_CallMethod(PyList_GET_ITEM(b->layers, i), "begin", NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* GIL held. */
static void layer_end(struct bridge *b, Py_ssize_t i)
{
    PyObject *r = PyObject_CallMethod(PyList_GET_ITEM(b->layers, i), "end", NULL);
    if (r == NULL)
        PyErr_WriteUnraisable(PyList_GET_ITEM(b->layers, i));
    Py_XDECREF(r);
}

/* GIL held; borrowed reference or NULL without an exception. */
static PyObject *find_plugin(struct bridge *b, const char *name)
{
    Py_ssize_t i;
    for (i = 0; i < PyList_GET_SIZE(b->plugins); i++) {
        PyObject *p = PyList_GET_ITEM(b->plugins, i);
        PyObject *pname = PyObject_GetAttrString(p, "name");
        int match = 0;
        if (pname != NULL && PyUnicode_Check(pname)) {
            const char *s = PyUnicode_AsUTF8(pname);
            match = s != NULL && strcmp(s, name) == 0;
        }
        Py_XDECREF(pname);
        PyErr_Clear();
        if (match)
            return p;
    }
    return NULL;
}

/* GIL held. */
static int deliver_event(struct bridge *b, const struct host_event *ev)
{
    PyObject *key = PyLong_FromLong(ev->type), *handler, *r;
    if (key == NULL)
        return -1;
    handler = PyDict_GetItemWithError(b->handlers, key);
    Py_DECREF(key);
    if (handler == NULL)
        return PyErr_Occurred() ? -1 : 0;
    r = PyObject_CallFunction(handler, "id", ev->arg, ev->t);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* ------------------------------------------------------------------ layers */

/* Host thread, GIL not held. */
// BAD: release-order the layers are ended innermost first, but their GIL states are then released in acquisition (FIFO) order
int bridge_render_layers(struct bridge *b)
{
    PyGILState_STATE held[BRIDGE_MAX_LAYERS];
    Py_ssize_t i, n, entered = 0;
    int rc = 0;

    held[0] = PyGILState_Ensure();
    n = PyList_GET_SIZE(b->layers);
    PyGILState_Release(held[0]);
    if (n > BRIDGE_MAX_LAYERS)
        n = BRIDGE_MAX_LAYERS;

    /* each layer keeps its own state for the time it is "open" */
    for (i = 0; i < n; i++) {
        held[i] = PyGILState_Ensure();
        entered++;
        if (layer_begin(b, i) < 0) {
            PyErr_Print();
            rc = -1;
            break;
        }
    }
    for (i = entered - 1; i >= 0; i--)
        layer_end(b, i);
    for (i = 0; i < entered; i++)
        PyGILState_Release(held[i]);
    return rc;
}

/* Host thread, GIL not held. */
// OK: the per-layer states are pushed on a small stack and popped strictly LIFO, also on the early exit
int bridge_bake_layers(struct bridge *b)
{
    PyGILState_STATE stack[BRIDGE_MAX_LAYERS];
    int depth = 0, rc = 0;
    Py_ssize_t i, n;

    stack[depth++] = PyGILState_Ensure();
    n = PyList_GET_SIZE(b->layers);
    if (n > BRIDGE_MAX_LAYERS - 1)
        n = BRIDGE_MAX_LAYERS - 1;
    for (i = 0; i < n; i++) {
        stack[depth++] = PyGILState_Ensure();
        if (layer_begin(b, i) < 0) {
            PyErr_Print();
            PyGILState_Release(stack[--depth]);
            rc = -1;
            break;
        }
    }
    while (depth > 1) {
        --depth;
        layer_end(b, (Py_ssize_t)depth - 1);
        PyGILState_Release(stack[depth]);
    }
    PyGILState_Release(stack[--depth]);
    return rc;
}

/* ------------------------------------------------------------------ events */

/* Host thread, GIL not held. */
// BAD: release-order g.outer is released while g.inner, taken after it, is still held
int bridge_dispatch_event(struct bridge *b, const struct host_event *ev)
{
    struct {
        PyGILState_STATE outer;
        PyGILState_STATE inner;
    } g;
    PyObject *key, *handler, *r;
    int rc = -1;

    g.outer = PyGILState_Ensure();
    key = PyLong_FromLong(ev->type);
    handler = key ? PyDict_GetItemWithError(b->handlers, key) : NULL;
    Py_XDECREF(key);
    if (handler == NULL) {
        rc = PyErr_Occurred() ? -1 : 0;
        PyErr_Clear();
        PyGILState_Release(g.outer);
        return rc;
    }
    Py_INCREF(handler);
    /* the handler part used to live in dispatch_one(), which took its own state */
    g.inner = PyGILState_Ensure();
    r = PyObject_CallFunction(handler, "id", ev->arg, ev->t);
    if (r == NULL)
        PyErr_Print();
    else
        rc = 0;
    Py_XDECREF(r);
    Py_DECREF(handler);
    PyGILState_Release(g.outer);
    PyGILState_Release(g.inner);
    return rc;
}

/* Host thread, GIL not held. */
// OK: the two states live in fields of a local struct and are released inner first on every path, including the lookup failure
int bridge_dispatch_timer(struct bridge *b, int timer_id, double now)
{
    struct {
        PyGILState_STATE outer;
        PyGILState_STATE inner;
    } g;
    struct host_event ev = {0, timer_id, now};
    int rc;

    g.outer = PyGILState_Ensure();
    if (b->handlers == NULL || PyDict_GET_SIZE(b->handlers) == 0) {
        PyGILState_Release(g.outer);
        return 0;
    }
    g.inner = PyGILState_Ensure();
    rc = deliver_event(b, &ev);
    if (rc < 0) {
        PyErr_Print();
        PyGILState_Release(g.inner);
        PyGILState_Release(g.outer);
        return -1;
    }
    PyGILState_Release(g.inner);
    PyGILState_Release(g.outer);
    return 0;
}

/* GIL held (called from Python through the host). */
// BAD: release-order PyEval_RestoreThread(ts) runs while the PyGILState_Ensure state taken inside the released region is still held
int bridge_pump_events(struct bridge *b, int timeout_ms)
{
    struct host_event evs[32];
    PyGILState_STATE g;
    PyThreadState *ts;
    int i, n, rc = 0;

    ts = PyEval_SaveThread();
    n = host_poll_events(b->h, evs, 32, timeout_ms);
    if (n <= 0) {
        PyEval_RestoreThread(ts);
        return n;
    }
    g = PyGILState_Ensure();
    for (i = 0; i < n; i++) {
        if (deliver_event(b, &evs[i]) < 0) {
            rc = -1;
            break;
        }
    }
    PyEval_RestoreThread(ts);
    PyGILState_Release(g);
    return rc < 0 ? -1 : n;
}

/* GIL held (called from Python through the host). */
// OK: the PyGILState_Ensure taken inside the PyEval_SaveThread region is released before the outer thread state is restored
int bridge_drain_events(struct bridge *b)
{
    struct host_event evs[32];
    PyThreadState *ts;
    int i, n, total = 0;

    ts = PyEval_SaveThread();
    while ((n = host_poll_events(b->h, evs, 32, 0)) > 0) {
        PyGILState_STATE g = PyGILState_Ensure();
        for (i = 0; i < n; i++) {
            if (deliver_event(b, &evs[i]) < 0)
                PyErr_WriteUnraisable(b->handlers);
        }
        PyGILState_Release(g);
        total += n;
    }
    PyEval_RestoreThread(ts);
    return total;
}

/* ------------------------------------------------------------------ frames and assets */

/* GIL held (called from Python through the host). */
// BAD: nested-release the HOST_EAGAIN retry calls bridge_suspend() again while the GIL is already released by the first call
int bridge_present(struct bridge *b, PyObject *frame)
{
    Py_buffer view;
    PyThreadState *ts;
    int rc;

    if (PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE) < 0)
        return -1;
    ts = bridge_suspend();
    rc = host_submit(b->h, view.buf, (size_t)view.len);
    if (rc == HOST_EAGAIN) {
        ts = bridge_suspend();
        rc = host_flush_wait(b->h, 100);
        if (rc == 0)
            rc = host_submit(b->h, view.buf, (size_t)view.len);
    }
    bridge_resume(ts);
    PyBuffer_Release(&view);
    if (rc < 0) {
        PyErr_Format(PyExc_RuntimeError, "present failed (%d)", rc);
        return -1;
    }
    return 0;
}

/* GIL held (called from Python through the host). */
// OK: each bridge_suspend() is matched by a bridge_resume() before the next one; signals are checked with the GIL between the two attempts
int bridge_present_sync(struct bridge *b, PyObject *frame)
{
    Py_buffer view;
    PyThreadState *ts;
    int rc;

    if (PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE) < 0)
        return -1;
    ts = bridge_suspend();
    rc = host_submit(b->h, view.buf, (size_t)view.len);
    bridge_resume(ts);
    if (rc == HOST_EAGAIN) {
        if (PyErr_CheckSignals() < 0) {
            PyBuffer_Release(&view);
            return -1;
        }
        ts = bridge_suspend();
        rc = host_flush_wait(b->h, -1);
        if (rc == 0)
            rc = host_submit(b->h, view.buf, (size_t)view.len);
        bridge_resume(ts);
    }
    PyBuffer_Release(&view);
    if (rc < 0) {
        PyErr_Format(PyExc_RuntimeError, "present failed (%d)", rc);
        return -1;
    }
    return 0;
}

/* GIL held; names is a list or tuple of str. */
// BAD: restore-without-save,release-order the state is saved into b->io_ts, but the load-error path resumes through bridge_resume_render(), which restores b->render_ts
int bridge_load_assets(struct bridge *b, PyObject *names, void **handles, Py_ssize_t max)
{
    const char *cnames[64];
    Py_ssize_t i, n;

    n = PySequence_Fast_GET_SIZE(names);
    if (n > max || n > 64) {
        PyErr_SetString(PyExc_ValueError, "too many assets");
        return -1;
    }
    for (i = 0; i < n; i++) {
        cnames[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(names, i));
        if (cnames[i] == NULL)
            return -1;
    }
    bridge_suspend_io(b);
    for (i = 0; i < n; i++) {
        if (host_load_asset(b->h, cnames[i], &handles[i]) < 0) {
            bridge_resume_render(b);
            PyErr_Format(PyExc_OSError, "cannot load asset '%s'", cnames[i]);
            goto fail;
        }
    }
    bridge_resume_io(b);
    return 0;

fail:
    while (i-- > 0)
        host_release_asset(b->h, handles[i]);
    return -1;
}

/* GIL held (called from Python through the host). */
// OK: bridge_suspend_render() and bridge_resume_render() pair up through b->render_ts on every path, including both error exits
int bridge_render_frame(struct bridge *b, PyObject *scene)
{
    PyObject *verts;
    double buf[4096];
    Py_ssize_t i, n;
    int rc, ok = -1;

    verts = PyObject_CallMethod(scene, "outline", NULL);
    if (verts == NULL)
        return -1;
    n = PySequence_Length(verts);
    if (n < 0)
        goto done;
    if (n > 4096)
        n = 4096;
    for (i = 0; i < n; i++) {
        PyObject *v = PySequence_GetItem(verts, i);
        buf[i] = v ? PyFloat_AsDouble(v) : -1.0;
        Py_XDECREF(v);
        if (PyErr_Occurred())
            goto done;
    }
    bridge_suspend_render(b);
    rc = host_draw(b->h, buf, (size_t)n);
    if (rc < 0) {
        bridge_resume_render(b);
        PyErr_Format(PyExc_RuntimeError, "draw failed (%d)", rc);
        goto done;
    }
    rc = host_flush(b->h);
    bridge_resume_render(b);
    if (rc < 0) {
        PyErr_Format(PyExc_RuntimeError, "flush failed (%d)", rc);
        goto done;
    }
    ok = 0;
done:
    Py_DECREF(verts);
    return ok;
}

/* ------------------------------------------------------------------ host-thread entry points */

/* Host thread, GIL not held. */
// BAD: ensure-leak the `continue` for a plugin without on_broadcast skips PyGILState_Release, and the next iteration overwrites the held state
int bridge_broadcast(struct bridge *b, const char *topic, const void *payload, size_t len)
{
    PyGILState_STATE st;
    Py_ssize_t i, n;
    int delivered = 0;

    st = PyGILState_Ensure();
    n = PyList_GET_SIZE(b->plugins);
    PyGILState_Release(st);
    for (i = 0; i < n; i++) {
        PyObject *plugin, *hook, *r;
        st = PyGILState_Ensure();     /* one plugin at a time: let Python threads run in between */
        plugin = PyList_GetItem(b->plugins, i);
        if (plugin == NULL) {
            PyErr_Clear();
            PyGILState_Release(st);
            break;
        }
        hook = PyObject_GetAttrString(plugin, "on_broadcast");
        if (hook == NULL) {
            PyErr_Clear();
            continue;
        }
        r = PyObject_CallFunction(hook, "sy#", topic, (const char *)payload, (Py_ssize_t)len);
        if (r == NULL)
            PyErr_WriteUnraisable(hook);
        else
            delivered++;
        Py_XDECREF(r);
        Py_DECREF(hook);
        PyGILState_Release(st);
    }
    return delivered;
}

/* Host thread, GIL not held. */
// OK: every path through the loop body, including the `continue` and the `break`, releases the state it took
int bridge_notify_all(struct bridge *b, const char *what)
{
    PyGILState_STATE st;
    Py_ssize_t i, n;
    int notified = 0;

    st = PyGILState_Ensure();
    n = PyList_GET_SIZE(b->plugins);
    PyGILState_Release(st);
    for (i = 0; i < n; i++) {
        PyObject *plugin, *r;
        st = PyGILState_Ensure();
        plugin = PyList_GetItem(b->plugins, i);
        if (plugin == NULL) {
            PyErr_Clear();
            PyGILState_Release(st);
            break;
        }
        if (!PyObject_HasAttrString(plugin, "notify")) {
            PyGILState_Release(st);
            continue;
        }
        r = PyObject_CallMethod(plugin, "notify", "s", what);
        if (r == NULL)
            PyErr_WriteUnraisable(plugin);
        else
            notified++;
        Py_XDECREF(r);
        PyGILState_Release(st);
    }
    return notified;
}

/* Host thread, GIL not held. */
// BAD: ensure-leak bridge_enter() hands back a held state; the early return for an unknown plugin skips bridge_leave()
int bridge_query(struct bridge *b, const char *plugin_name, const char *key, char *out, size_t outlen)
{
    PyGILState_STATE st;
    PyObject *plugin, *value;
    int rc = -1;

    if (bridge_enter(&st) < 0)
        return -1;
    plugin = find_plugin(b, plugin_name);
    if (plugin == NULL)
        return -1;
    value = PyObject_CallMethod(plugin, "query", "s", key);
    if (value != NULL && PyUnicode_Check(value)) {
        const char *s = PyUnicode_AsUTF8(value);
        if (s != NULL) {
            snprintf(out, outlen, "%s", s);
            rc = 0;
        }
    }
    if (rc < 0)
        PyErr_Clear();
    Py_XDECREF(value);
    bridge_leave(&st);
    return rc;
}

/* Host thread, GIL not held. */
// OK: bridge_enter() acquires only when it returns 0; every path after a successful enter goes through bridge_leave() at `out`
int bridge_get_param(struct bridge *b, const char *plugin_name, const char *param, double *value)
{
    PyGILState_STATE st;
    PyObject *plugin, *v = NULL;
    int rc = -1;

    if (bridge_enter(&st) < 0)
        return -1;
    plugin = find_plugin(b, plugin_name);
    if (plugin == NULL)
        goto out;
    v = PyObject_CallMethod(plugin, "get_param", "s", param);
    if (v == NULL) {
        PyErr_Clear();
        goto out;
    }
    *value = PyFloat_AsDouble(v);
    if (*value == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        goto out;
    }
    rc = 0;
out:
    Py_XDECREF(v);
    bridge_leave(&st);
    return rc;
}

// OK: takes the GIL only when the calling thread does not already hold it, and releases under the same saved condition
void bridge_log(struct bridge *b, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int need_gil;
    PyGILState_STATE st = PyGILState_UNLOCKED;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    need_gil = !PyGILState_Check();
    if (need_gil)
        st = PyGILState_Ensure();
    if (b->logger != NULL) {
        PyObject *r = PyObject_CallMethod(b->logger, "log", "is", level, msg);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    } else {
        fprintf(stderr, "pybridge[%d]: %s\n", level, msg);
    }
    if (need_gil)
        PyGILState_Release(st);
}
