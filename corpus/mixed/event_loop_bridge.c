// Bridging a C networking library's I/O thread to an asyncio loop: the library calls back on its own
// thread, the callback must take the GIL and hand results over with call_soon_threadsafe().
// gilcheck-rules: event_loop_bridge.yml
#include <Python.h>
#include <pthread.h>
#include <string.h>

typedef struct {
    PyObject *loop;
    PyObject *future;
    pthread_mutex_t lock;
    int pending;
} bridge_t;

static int deliver(bridge_t *b, PyObject *value)
{
    PyObject *setter = PyObject_GetAttrString(b->future, "set_result");
    if (setter == NULL)
        return -1;
    PyObject *r = PyObject_CallMethod(b->loop, "call_soon_threadsafe", "OO", setter, value);
    Py_DECREF(setter);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Called by the I/O library on its thread. */
void on_response_ok(const char *data, size_t len, void *user)
{
    bridge_t *b = user;
    pthread_mutex_lock(&b->lock);
    b->pending--;
    pthread_mutex_unlock(&b->lock);

    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *value = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    if (value == NULL || deliver(b, value) < 0)
        PyErr_Print();
    Py_XDECREF(value);
    PyGILState_Release(st);
}

/* Called by the I/O library on its thread; takes the GIL too late and forgets it on the error path. */
void on_response_bad(const char *data, size_t len, void *user)
{
    bridge_t *b = user;
    PyObject *value = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);    // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    PyGILState_STATE st = PyGILState_Ensure();
    if (value == NULL)
        return;         // expect-error{{is not released}} [ensure-leak]
    if (deliver(b, value) < 0)
        PyErr_Print();
    Py_DECREF(value);
    PyGILState_Release(st);
}

/* Called by the I/O library on its thread: holds the GIL while waiting for the bridge lock. */
void on_error_bad(int code, void *user)
{
    bridge_t *b = user;
    PyGILState_STATE st = PyGILState_Ensure();
    pthread_mutex_lock(&b->lock);       // expect-warning{{may block while this thread holds the GIL}} [blocking-with-gil]
    b->pending = 0;
    pthread_mutex_unlock(&b->lock);
    PyObject *exc = PyObject_CallFunction(PyExc_ConnectionError, "i", code);
    if (exc != NULL) {
        PyObject *r = PyObject_CallMethod(b->future, "set_exception", "O", exc);
        Py_XDECREF(r);
        Py_DECREF(exc);
    }
    PyGILState_Release(st);
}

PyObject *ok_cancel(bridge_t *b)
{
    int pending;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&b->lock);
    pending = b->pending;
    b->pending = 0;
    pthread_mutex_unlock(&b->lock);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(pending);
}
