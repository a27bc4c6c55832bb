/* MQTT client wrapper on libmosquitto.  loop() saves the thread state in
 * c->ts while the GIL is released; acquire_state() takes the GIL with it and
 * returns it, or returns NULL (GIL NOT taken) when no loop is running. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "fakelibs.h"

typedef struct {
    PyObject_HEAD
    struct mosquitto *mosq;
    PyThreadState *ts;
    PyObject *on_message;
    PyObject *on_connect;
    PyObject *on_disconnect;
    PyObject *on_log;
} ClientObject;

static PyThreadState *
acquire_state(ClientObject *c)
{
    PyThreadState *st = c->ts;

    if (st == NULL)
        return NULL;
    PyEval_AcquireThread(st);
    return st;
}

static void
release_state(PyThreadState *st)
{
    PyEval_ReleaseThread(st);
}

/* BAD: the returned state is only checked for the release; the Python call
 * runs even when acquire_state() returned NULL. */
static void
bad_on_message(struct mosquitto *mosq, void *userdata,
               const struct mosquitto_message *msg)
{
    ClientObject *c = (ClientObject *)userdata;
    PyThreadState *st;
    PyObject *res;

    st = acquire_state(c);
    res = PyObject_CallFunction(c->on_message, "sy#i", msg->topic,
                                (const char *)msg->payload,
                                (Py_ssize_t)msg->payloadlen, msg->qos);
    if (res == NULL)
        PyErr_WriteUnraisable(c->on_message);
    else
        Py_DECREF(res);
    if (st != NULL)
        release_state(st);
}

/* OK: returns early when the GIL could not be taken. */
static void
ok_on_message(struct mosquitto *mosq, void *userdata,
              const struct mosquitto_message *msg)
{
    ClientObject *c = (ClientObject *)userdata;
    PyThreadState *st;
    PyObject *res;

    if ((st = acquire_state(c)) == NULL)
        return;
    res = PyObject_CallFunction(c->on_message, "sy#i", msg->topic,
                                (const char *)msg->payload,
                                (Py_ssize_t)msg->payloadlen, msg->qos);
    if (res == NULL)
        PyErr_WriteUnraisable(c->on_message);
    else
        Py_DECREF(res);
    release_state(st);
}

/* OK: all Python work inside the `st != NULL` branch. */
static void
ok_on_connect(struct mosquitto *mosq, void *userdata, int rc)
{
    ClientObject *c = (ClientObject *)userdata;
    PyThreadState *st = acquire_state(c);

    if (st != NULL) {
        if (c->on_connect != NULL) {
            PyObject *res = PyObject_CallFunction(c->on_connect, "i", rc);
            if (res == NULL)
                PyErr_WriteUnraisable(c->on_connect);
            Py_XDECREF(res);
        }
        release_state(st);
    }
}

/* BAD: on the not-acquired path it drops the Python callback with
 * Py_CLEAR although the GIL is not held. */
static void
bad_on_disconnect(struct mosquitto *mosq, void *userdata, int rc)
{
    ClientObject *c = (ClientObject *)userdata;
    PyThreadState *st = acquire_state(c);
    PyObject *res;

    if (st == NULL) {
        /* nobody can be told any more: forget the handler */
        Py_CLEAR(c->on_disconnect);
        return;
    }
    if (c->on_disconnect != NULL) {
        res = PyObject_CallFunction(c->on_disconnect, "i", rc);
        if (res == NULL)
            PyErr_WriteUnraisable(c->on_disconnect);
        Py_XDECREF(res);
    }
    release_state(st);
}

/* OK: on the not-acquired path it only writes to stderr (no Python API). */
static void
ok_on_log(struct mosquitto *mosq, void *userdata, int level, const char *str)
{
    ClientObject *c = (ClientObject *)userdata;
    PyThreadState *st = acquire_state(c);
    PyObject *res;

    if (st == NULL) {
        fprintf(stderr, "mosquitto[%d]: %s\n", level, str);
        return;
    }
    if (c->on_log != NULL) {
        res = PyObject_CallFunction(c->on_log, "is", level, str);
        if (res == NULL)
            PyErr_WriteUnraisable(c->on_log);
        Py_XDECREF(res);
    }
    release_state(st);
}

static PyObject *
client_install(ClientObject *c, PyObject *Py_UNUSED(ignored))
{
    mosquitto_message_callback_set(c->mosq, ok_on_message);
    mosquitto_connect_callback_set(c->mosq, ok_on_connect);
    mosquitto_disconnect_callback_set(c->mosq, bad_on_disconnect);
    mosquitto_log_callback_set(c->mosq, ok_on_log);
    Py_RETURN_NONE;
}

static PyObject *
client_install_legacy(ClientObject *c, PyObject *Py_UNUSED(ignored))
{
    mosquitto_message_callback_set(c->mosq, bad_on_message);
    Py_RETURN_NONE;
}

/* OK: saves the state for the callbacks, drives the network loop released,
 * restores and clears it on the single exit path. */
static PyObject *
ok_client_loop(ClientObject *c, PyObject *args)
{
    int timeout = -1, rc;

    if (!PyArg_ParseTuple(args, "|i:loop", &timeout))
        return NULL;
    if (c->ts != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "loop already running");
        return NULL;
    }

    c->ts = PyEval_SaveThread();
    rc = mosquitto_loop(c->mosq, timeout, 1);
    PyEval_RestoreThread(c->ts);
    c->ts = NULL;

    if (PyErr_Occurred())
        return NULL;
    if (rc != MOSQ_ERR_SUCCESS) {
        PyErr_SetString(PyExc_OSError, mosquitto_strerror(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Client_methods[] = {
    {"install", (PyCFunction)client_install, METH_NOARGS, NULL},
    {"install_legacy", (PyCFunction)client_install_legacy, METH_NOARGS, NULL},
    {"loop", (PyCFunction)ok_client_loop, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
