// Callbacks of a library's own thread (a message loop) that take the GIL through a helper which re-acquires with
// the thread state the loop saved, and returns it, or NULL without taking the GIL when no loop saved one.
// Python may be used only on the path where the helper returned a state.
#include <Python.h>

typedef struct mosquitto mosquitto_t;
void mosquitto_message_callback_set(mosquitto_t *m, void (*cb)(mosquitto_t *, void *, const char *));
void mosquitto_log_callback_set(mosquitto_t *m, void (*cb)(mosquitto_t *, void *, const char *));
void mosquitto_connect_callback_set(mosquitto_t *m, void (*cb)(mosquitto_t *, void *, int));
int mosquitto_loop_forever(mosquitto_t *m, int timeout, int max_packets);

typedef struct { PyObject_HEAD mosquitto_t *m; PyThreadState *ts; PyObject *on_message; PyObject *on_connect; } Client;

static PyThreadState *acquire_state(Client *c)
{
    PyThreadState *st = c->ts;
    if (st == NULL)
        return NULL;
    PyEval_AcquireThread(st);
    return st;
}

static void release_state(PyThreadState *st)
{
    PyEval_ReleaseThread(st);
}

static void bad_on_message(mosquitto_t *m, void *userdata, const char *topic)
{
    Client *c = userdata;
    PyThreadState *st = acquire_state(c);
    PyObject *r = PyObject_CallFunction(c->on_message, "s", topic);   // expect-error{{needs the GIL, but 'bad_on_message' runs on a thread without it}} [thread-entry-without-gil]
    Py_XDECREF(r);
    if (st != NULL)
        release_state(st);
}

static void ok_on_log(mosquitto_t *m, void *userdata, const char *topic)
{
    Client *c = userdata;
    PyThreadState *st;
    if ((st = acquire_state(c)) == NULL)
        return;
    PyObject *r = PyObject_CallFunction(c->on_message, "s", topic);
    Py_XDECREF(r);
    release_state(st);
}

static void ok_on_connect(mosquitto_t *m, void *userdata, int rc)
{
    Client *c = userdata;
    PyThreadState *st = acquire_state(c);
    if (st != NULL) {
        PyObject *r = PyObject_CallFunction(c->on_connect, "i", rc);
        Py_XDECREF(r);
        release_state(st);
    }
}

static int setup_callbacks(Client *c)
{
    mosquitto_message_callback_set(c->m, bad_on_message);
    mosquitto_log_callback_set(c->m, ok_on_log);
    mosquitto_connect_callback_set(c->m, ok_on_connect);
    return 0;
}

// The loop runs the callbacks on this thread, with the GIL released.
static PyObject *loop_forever(PyObject *op, PyObject *unused)
{
    Client *c = (Client *)op;
    int rc;
    c->ts = PyEval_SaveThread();
    rc = mosquitto_loop_forever(c->m, -1, 1);
    PyEval_RestoreThread(c->ts);
    c->ts = NULL;
    return PyLong_FromLong(rc);
}
