// Functions started as threads, or registered as callbacks that run on foreign threads, start without the GIL.
// gilcheck-rules: audio_callbacks.yml
#include <Python.h>
#include <pthread.h>
#include <threads.h>

static void notify(PyObject *cb) { PyObject *r = PyObject_CallNoArgs(cb); Py_XDECREF(r); }

static void *bad_worker_direct(void *arg)
{
    PyObject *n = PyLong_FromLong(42);  // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    Py_XDECREF(n);                      // the same missing acquisition: only the first use is reported
    return arg;
}

static void *bad_worker_through_helper(void *arg)
{
    notify((PyObject *)arg);            // expect-error{{summary: it calls PyObject_CallNoArgs()}} [thread-entry-without-gil]
    return NULL;
}

static void *ok_worker(void *arg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    notify((PyObject *)arg);
    PyGILState_Release(st);
    return NULL;
}

static void *bad_worker_after_release(void *arg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    notify((PyObject *)arg);
    PyGILState_Release(st);
    notify((PyObject *)arg);            // expect-error{{needs the GIL, which is released on this path}} [api-without-gil]
    return NULL;
}

static int bad_c11_thread(void *arg)
{
    Py_INCREF((PyObject *)arg);         // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    return 0;
}

static void *ok_worker_no_python(void *arg)
{
    int *counter = arg;
    (*counter)++;
    return NULL;
}

/* An audio library calls this on its own real-time thread (declared in audio_callbacks.yml). */
int bad_audio_callback(const float *in, float *out, unsigned long frames, void *user)
{
    (void)in; (void)out; (void)frames;
    PyObject *r = PyObject_CallNoArgs((PyObject *)user);    // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    Py_XDECREF(r);                                           // the same missing acquisition: only the first use is reported
    return 0;
}

void start_all(PyObject *cb, int *counter)
{
    pthread_t t[5];
    thrd_t c;
    pthread_create(&t[0], NULL, bad_worker_direct, NULL);
    pthread_create(&t[1], NULL, bad_worker_through_helper, cb);
    pthread_create(&t[2], NULL, ok_worker, cb);
    pthread_create(&t[3], NULL, bad_worker_after_release, cb);
    pthread_create(&t[4], NULL, ok_worker_no_python, counter);
    thrd_create(&c, bad_c11_thread, cb);
}
