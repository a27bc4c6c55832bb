// Destructors of thread-specific keys (pthread_key_create, C11 tss_create) run when a thread exits: for a thread
// Python started, after its thread state is gone. A destructor that drops Python references must take the GIL
// first (pycups 2.0.0 fixed a SIGSEGV of exactly this shape).
#include <Python.h>
#include <pthread.h>
#include <threads.h>
#include <stdlib.h>

struct per_thread { PyObject *callback; PyObject *context; char *buffer; };

static pthread_key_t bad_key, ok_key, plain_key;
static tss_t bad_tss;

static void bad_destroy_tls(void *value)
{
    struct per_thread *t = value;
    Py_XDECREF(t->callback);        // expect-error{{registered with pthread_key_create() at tls_destructors.c:48, which calls it when a thread exits, after its Python thread state is gone}} [thread-entry-without-gil]
    Py_XDECREF(t->context);
    free(t);
}

static void ok_destroy_tls(void *value)
{
    struct per_thread *t = value;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_XDECREF(t->callback);
    Py_XDECREF(t->context);
    PyGILState_Release(st);
    free(t);
}

// Only plain memory: nothing of Python's is touched.
static void ok_free_buffer(void *value)
{
    struct per_thread *t = value;
    free(t->buffer);
    free(t);
}

static void bad_tss_dtor(void *value)
{
    PyObject *cached = value;
    Py_DECREF(cached);              // expect-error{{registered with tss_create() at tls_destructors.c:52}} [thread-entry-without-gil]
}

static int init_keys(void)
{
    if (pthread_key_create(&bad_key, bad_destroy_tls) != 0)
        return -1;
    if (pthread_key_create(&ok_key, ok_destroy_tls) != 0 || pthread_key_create(&plain_key, ok_free_buffer) != 0)
        return -1;
    return tss_create(&bad_tss, bad_tss_dtor) == thrd_success ? 0 : -1;
}

static PyObject *set_callback(PyObject *self, PyObject *cb)
{
    struct per_thread *t = pthread_getspecific(ok_key);
    if (t == NULL) {
        if (init_keys() < 0)
            return PyErr_NoMemory();
        t = calloc(1, sizeof *t);
        if (t == NULL)
            return PyErr_NoMemory();
        pthread_setspecific(ok_key, t);
    }
    Py_INCREF(cb);
    Py_XSETREF(t->callback, cb);
    Py_RETURN_NONE;
}
