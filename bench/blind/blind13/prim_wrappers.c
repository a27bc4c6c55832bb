/* _rtbridge: realtime plugin bridge.  GIL management goes through a small
 * portability layer so the same plugin code builds against other hosts. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef int rt_gil_t;

static rt_gil_t
rt_gil_enter(void)
{
    return (rt_gil_t)PyGILState_Ensure();
}

static void
rt_gil_leave(rt_gil_t g)
{
    PyGILState_Release((PyGILState_STATE)g);
}

typedef rt_gil_t (*rt_enter_fn)(void);
typedef void (*rt_leave_fn)(rt_gil_t);

static rt_enter_fn rt_enter = rt_gil_enter;
static rt_leave_fn rt_leave = rt_gil_leave;

typedef enum { RT_EV_NOTE_ON, RT_EV_NOTE_OFF, RT_EV_CC, RT_EV_SYSEX } rt_event_kind;

typedef struct {
    rt_event_kind kind;
    int channel, a, b;
    const unsigned char *sysex;
    size_t sysex_len;
} rt_event;

typedef struct {
    PyObject *note_cb;
    PyObject *cc_cb;
    PyObject *sysex_cb;
    PyObject *last_error;
} rt_plugin;

/* Called by the host's realtime scheduler thread (no GIL). */
static int
bad_rt_dispatch(rt_plugin *pl, const rt_event *ev)
{
    rt_gil_t g = rt_enter();
    PyObject *r = NULL;

    switch (ev->kind) {
    case RT_EV_NOTE_ON:
    case RT_EV_NOTE_OFF:
        r = PyObject_CallFunction(pl->note_cb, "iiii", (int)ev->kind, ev->channel, ev->a, ev->b);
        break;
    case RT_EV_CC:
        r = PyObject_CallFunction(pl->cc_cb, "iii", ev->channel, ev->a, ev->b);
        break;
    case RT_EV_SYSEX:
        if (ev->sysex_len == 0)
            return 0;
        r = PyObject_CallFunction(pl->sysex_cb, "y#", ev->sysex, (Py_ssize_t)ev->sysex_len);
        break;
    }
    if (r == NULL) {
        PyErr_Print();
        rt_leave(g);
        return -1;
    }
    Py_DECREF(r);
    rt_leave(g);
    return 0;
}

static int
ok_rt_dispatch(rt_plugin *pl, const rt_event *ev)
{
    rt_gil_t g;
    PyObject *r = NULL;
    int rc = 0;

    if (ev->kind == RT_EV_SYSEX && ev->sysex_len == 0)
        return 0;
    g = rt_enter();
    switch (ev->kind) {
    case RT_EV_NOTE_ON:
    case RT_EV_NOTE_OFF:
        r = PyObject_CallFunction(pl->note_cb, "iiii", (int)ev->kind, ev->channel, ev->a, ev->b);
        break;
    case RT_EV_CC:
        r = PyObject_CallFunction(pl->cc_cb, "iii", ev->channel, ev->a, ev->b);
        break;
    case RT_EV_SYSEX:
        r = PyObject_CallFunction(pl->sysex_cb, "y#", ev->sysex, (Py_ssize_t)ev->sysex_len);
        break;
    default:
        rt_leave(g);
        return -1;
    }
    if (r == NULL) {
        PyErr_Print();
        rc = -1;
    }
    Py_XDECREF(r);
    rt_leave(g);
    return rc;
}

static void
bad_rt_record_error(rt_plugin *pl, const char *msg)
{
    rt_gil_t g = rt_enter();
    PyObject *s = PyUnicode_FromString(msg);
    rt_leave(g);
    Py_XSETREF(pl->last_error, s);
}

static void
ok_rt_record_error(rt_plugin *pl, const char *msg)
{
    rt_gil_t g = rt_enter();
    Py_XSETREF(pl->last_error, PyUnicode_FromString(msg));
    if (pl->last_error == NULL)
        PyErr_Clear();
    rt_leave(g);
}

static void
bad_rt_flush(rt_plugin *pl, const rt_event *evs, int n)
{
    rt_gil_t g = rt_enter();
    int i;
    for (i = 0; i < n; i++) {
        PyObject *r = PyObject_CallFunction(pl->cc_cb, "iii", evs[i].channel, evs[i].a, evs[i].b);
        if (r == NULL) {
            PyErr_Clear();
            rt_leave(g);
            continue;
        }
        Py_DECREF(r);
    }
    rt_leave(g);
}

static void
ok_rt_flush(rt_plugin *pl, const rt_event *evs, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        rt_gil_t g = rt_enter();
        PyObject *r = PyObject_CallFunction(pl->cc_cb, "iii", evs[i].channel, evs[i].a, evs[i].b);
        if (r == NULL) {
            PyErr_Clear();
            rt_leave(g);
            continue;
        }
        Py_DECREF(r);
        rt_leave(g);
    }
}

/* ---- host plugin ABI ---- */
typedef struct rt_host_vtbl {
    int (*dispatch)(void *plugin, const rt_event *ev);
    void (*error)(void *plugin, const char *msg);
    void (*flush)(void *plugin, const rt_event *evs, int n);
} rt_host_vtbl;
extern int rt_host_attach(const char *name, const rt_host_vtbl *vt, void *plugin);

static int disp_bad(void *p, const rt_event *e) { return bad_rt_dispatch((rt_plugin *)p, e); }
static int disp_ok(void *p, const rt_event *e) { return ok_rt_dispatch((rt_plugin *)p, e); }
static void err_bad(void *p, const char *m) { bad_rt_record_error((rt_plugin *)p, m); }
static void err_ok(void *p, const char *m) { ok_rt_record_error((rt_plugin *)p, m); }
static void flush_bad(void *p, const rt_event *e, int n) { bad_rt_flush((rt_plugin *)p, e, n); }
static void flush_ok(void *p, const rt_event *e, int n) { ok_rt_flush((rt_plugin *)p, e, n); }

static const rt_host_vtbl vt_fast = { disp_bad, err_bad, flush_bad };
static const rt_host_vtbl vt_safe = { disp_ok, err_ok, flush_ok };

static PyObject *
rtbridge_attach(PyObject *mod, PyObject *args)
{
    static rt_plugin plugin;
    const char *name;
    int safe = 1;
    (void)mod;
    if (!PyArg_ParseTuple(args, "sOOO|p", &name, &plugin.note_cb, &plugin.cc_cb,
                          &plugin.sysex_cb, &safe))
        return NULL;
    Py_INCREF(plugin.note_cb);
    Py_INCREF(plugin.cc_cb);
    Py_INCREF(plugin.sysex_cb);
    if (rt_host_attach(name, safe ? &vt_safe : &vt_fast, &plugin) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "attach failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef rt_methods[] = {
    {"attach", rtbridge_attach, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
static struct PyModuleDef rt_module = { PyModuleDef_HEAD_INIT, "_rtbridge", NULL, -1, rt_methods };

PyMODINIT_FUNC
PyInit__rtbridge(void)
{
    return PyModule_Create(&rt_module);
}
