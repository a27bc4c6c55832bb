// Third includer: thread entries that take the GIL through the header's helpers.
#include "gil_helpers.h"
#include <pthread.h>

static void *worker(void *arg)
{
    gil_t g;
    gil_take(&g);
    PyObject *r = PyObject_CallNoArgs((PyObject *)arg);
    Py_XDECREF(r);
    gil_drop(&g);
    return NULL;
}

static void *worker_via_call(void *arg)
{
    gil_t g;
    gil_call(&g, (PyObject *)arg);
    return NULL;
}

static void *bad_worker(void *arg)
{
    gil_t g;
    gil_take(&g);
    gil_drop(&g);
    Py_XDECREF((PyObject *)arg);     // expect-error{{needs the GIL}} [api-without-gil]
    return NULL;
}

void start(PyObject *cb)
{
    pthread_t t;
    pthread_create(&t, NULL, worker, cb);
    pthread_create(&t, NULL, worker_via_call, cb);
    pthread_create(&t, NULL, bad_worker, cb);
}
