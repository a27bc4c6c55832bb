/* _uplink: glue between the "uplink" C runtime and Python.  The runtime is
 * portable and reaches the interpreter only through the hook table below. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <string.h>

struct gil_hooks {
    void (*gil_get)(void);
    void (*gil_release)(void);
};

static _Thread_local PyGILState_STATE up_gstate;

static void
up_gil_get(void)
{
    up_gstate = PyGILState_Ensure();
}

static void
up_gil_release(void)
{
    PyGILState_Release(up_gstate);
}

static struct gil_hooks up = { up_gil_get, up_gil_release };

#define GIL_GET()     up.gil_get()
#define GIL_RELEASE() up.gil_release()

typedef struct {
    PyObject *on_message;
    PyObject *on_status;
    char topic[64];
    int stop;
} uplink_sub;

/* Thread entries started by uplink_subscribe() with pthread_create. */

static void *
ok_uplink_reader(void *arg)
{
    uplink_sub *sub = (uplink_sub *)arg;
    char msg[256];
    int n = 0;

    while (!sub->stop) {
        PyObject *r;
        snprintf(msg, sizeof(msg), "%s:%d", sub->topic, n++);
        GIL_GET();
        r = PyObject_CallFunction(sub->on_message, "s", msg);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
        GIL_RELEASE();
        if (n > 1000)
            break;
    }
    return NULL;
}

static void *
bad_uplink_status_early(void *arg)
{
    uplink_sub *sub = (uplink_sub *)arg;
    PyObject *r;

    GIL_GET();
    if (sub->on_status == Py_None)
        return NULL;
    r = PyObject_CallFunction(sub->on_status, "s", "connected");
    Py_XDECREF(r);
    GIL_RELEASE();
    return NULL;
}

static void *
ok_uplink_status(void *arg)
{
    uplink_sub *sub = (uplink_sub *)arg;
    PyObject *r;

    GIL_GET();
    if (sub->on_status == Py_None) {
        GIL_RELEASE();
        return NULL;
    }
    r = PyObject_CallFunction(sub->on_status, "s", "connected");
    if (r == NULL) {
        PyErr_WriteUnraisable(sub->on_status);
        GIL_RELEASE();
        return NULL;
    }
    Py_DECREF(r);
    GIL_RELEASE();
    return NULL;
}

static void *
bad_uplink_result_after_release(void *arg)
{
    uplink_sub *sub = (uplink_sub *)arg;
    PyObject *r;
    long code = 0;

    GIL_GET();
    r = PyObject_CallFunction(sub->on_message, "s", sub->topic);
    GIL_RELEASE();
    if (r != NULL) {
        code = PyLong_AsLong(r);
        Py_DECREF(r);
    }
    return (void *)(intptr_t)code;
}

static void *
bad_uplink_double_release(void *arg)
{
    uplink_sub *sub = (uplink_sub *)arg;
    PyObject *r;

    GIL_GET();
    r = PyObject_CallNoArgs(sub->on_status);
    if (r == NULL) {
        PyErr_Print();
        GIL_RELEASE();
    }
    Py_XDECREF(r);
    GIL_RELEASE();
    return NULL;
}

static void *
ok_uplink_goto_cleanup(void *arg)
{
    uplink_sub *sub = (uplink_sub *)arg;
    PyObject *args = NULL, *r = NULL;

    GIL_GET();
    args = Py_BuildValue("(si)", sub->topic, sub->stop);
    if (args == NULL)
        goto out;
    r = PyObject_Call(sub->on_message, args, NULL);
    if (r == NULL)
        goto out;
    if (!PyBool_Check(r))
        PyErr_SetString(PyExc_TypeError, "handler must return bool");
out:
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(sub->on_message);
    Py_XDECREF(args);
    Py_XDECREF(r);
    GIL_RELEASE();
    return NULL;
}

/* Python-facing method: already holds the GIL; the nested hook acquire is
 * a recursive PyGILState_Ensure and the release brings it back. */
static PyObject *
ok_uplink_ping(PyObject *mod, PyObject *cb)
{
    PyObject *r;
    (void)mod;
    GIL_GET();
    r = PyObject_CallNoArgs(cb);
    GIL_RELEASE();
    return r;
}

static PyObject *
uplink_subscribe(PyObject *mod, PyObject *args)
{
    static uplink_sub sub;
    PyObject *msg, *status;
    const char *topic;
    int mode = 0;
    pthread_t t;
    void *(*entry)(void *);
    (void)mod;

    if (!PyArg_ParseTuple(args, "sOO|i", &topic, &msg, &status, &mode))
        return NULL;
    sub.on_message = Py_NewRef(msg);
    sub.on_status = Py_NewRef(status);
    strncpy(sub.topic, topic, sizeof(sub.topic) - 1);
    switch (mode) {
    case 0: entry = ok_uplink_reader; break;
    case 1: entry = bad_uplink_status_early; break;
    case 2: entry = ok_uplink_status; break;
    case 3: entry = bad_uplink_result_after_release; break;
    case 4: entry = bad_uplink_double_release; break;
    default: entry = ok_uplink_goto_cleanup; break;
    }
    if (pthread_create(&t, NULL, entry, &sub) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_create failed");
        return NULL;
    }
    pthread_detach(t);
    Py_RETURN_NONE;
}

static PyMethodDef uplink_methods[] = {
    {"subscribe", uplink_subscribe, METH_VARARGS, NULL},
    {"ping", ok_uplink_ping, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};
static struct PyModuleDef uplink_module = {
    PyModuleDef_HEAD_INIT, "_uplink", NULL, -1, uplink_methods,
};

PyMODINIT_FUNC
PyInit__uplink(void)
{
    return PyModule_Create(&uplink_module);
}
