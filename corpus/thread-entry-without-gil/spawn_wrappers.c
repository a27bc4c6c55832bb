// Thread entries started through the project's own spawn(fn, arg) wrappers: the wrapper's summary says it
// starts its argument on a new thread, so the function passed in is a thread entry; so is a function named
// through a function-pointer local.
#include <Python.h>
#include <pthread.h>

static void spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    pthread_create(&t, NULL, fn, arg);
}

/* A wrapper of the wrapper. */
static void spawn_named(const char *name, void *(*fn)(void *), void *arg)
{
    (void)name;
    spawn(fn, arg);
}

static void *bad_spawned(void *arg)
{
    Py_INCREF((PyObject *)arg);          // expect-error{{'bad_spawned' runs on a thread without it (started by spawn()}} [thread-entry-without-gil]
    return NULL;
}

static void *bad_spawned_named(void *arg)
{
    Py_INCREF((PyObject *)arg);          // expect-error{{started by spawn_named()}} [thread-entry-without-gil]
    return NULL;
}

static void *ok_spawned(void *arg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    Py_INCREF((PyObject *)arg);
    PyGILState_Release(st);
    return NULL;
}

void start(PyObject *o)
{
    spawn(bad_spawned, o);
    spawn_named("named", bad_spawned_named, o);
    spawn(ok_spawned, o);
}

static void *bad_through_pointer(void *arg)
{
    Py_INCREF((PyObject *)arg);          // expect-error{{'bad_through_pointer' runs on a thread without it}} [thread-entry-without-gil]
    return NULL;
}

void start_through_pointer(PyObject *o)
{
    pthread_t t;
    void *(*fn)(void *) = bad_through_pointer;
    pthread_create(&t, NULL, fn, o);
}
