// Threads started with PyThread_start_new_thread(), detached pthreads and C11 threads start without the GIL.
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>

struct request { PyObject *future; int status; char *body; };

static void bad_pythread_entry(void *arg)
{
    struct request *rq = arg;
    PyObject *r = PyObject_CallMethod(rq->future, "set_result", "i", rq->status);  // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    Py_XDECREF(r);              // the same missing acquisition: only the first use is reported
    free(rq);
}

static void *bad_detached_cleanup(void *arg)
{
    struct request *rq = arg;
    free(rq->body);
    Py_DECREF(rq->future);      // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    free(rq);
    return NULL;
}

static void *bad_ensure_too_late(void *arg)
{
    struct request *rq = arg;
    if (rq->status < 0)
        PyErr_SetString(PyExc_RuntimeError, "failed");  // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    PyGILState_STATE st = PyGILState_Ensure();
    Py_DECREF(rq->future);
    PyGILState_Release(st);
    return NULL;
}

static void ok_pythread_entry(void *arg)
{
    struct request *rq = arg;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(rq->future, "set_result", "i", rq->status);
    Py_XDECREF(r);
    Py_DECREF(rq->future);
    PyGILState_Release(st);
    free(rq);
}

int start_requests(struct request *a, struct request *b, struct request *c, struct request *d)
{
    pthread_t t1, t2;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    PyThread_start_new_thread(bad_pythread_entry, a);
    pthread_create(&t1, &attr, bad_detached_cleanup, b);
    pthread_create(&t2, &attr, bad_ensure_too_late, c);
    PyThread_start_new_thread(ok_pythread_entry, d);
    pthread_attr_destroy(&attr);
    return 0;
}
