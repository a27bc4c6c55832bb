// A long-lived C thread with its own PyThreadState: created once, attached with PyEval_AcquireThread(),
// detached with PyEval_ReleaseThread(), deleted at the end.
#include <Python.h>
#include <pthread.h>

struct poller {
    PyInterpreterState *interp;
    PyObject *on_tick;
    volatile int running;
};

extern int wait_tick(int ms);

static void *poller_main(void *arg)
{
    struct poller *p = arg;
    PyThreadState *ts = PyThreadState_New(p->interp);
    while (p->running) {
        if (wait_tick(100) <= 0)
            continue;
        PyEval_AcquireThread(ts);
        PyObject *r = PyObject_CallNoArgs(p->on_tick);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
        PyEval_ReleaseThread(ts);
    }
    PyEval_AcquireThread(ts);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
    return NULL;
}

int ok_start_poller(struct poller *p, pthread_t *tid)
{
    p->interp = PyInterpreterState_Get();
    p->running = 1;
    return pthread_create(tid, NULL, poller_main, p);
}

void ok_stop_poller(struct poller *p, pthread_t tid)
{
    p->running = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_join(tid, NULL);
    Py_END_ALLOW_THREADS
}
