// A worker re-attaches a thread state with PyEval_AcquireThread and ends without releasing it.
// trace-shape: embed
// expect-trace-anywhere{{hang}}
// trace-exit: 5
#include <Python.h>
#include <pthread.h>

static PyInterpreterState *interp;

static void *worker(void *arg)
{
    (void)arg;
    PyThreadState *ts = PyThreadState_New(interp);
    PyEval_AcquireThread(ts); // expect-trace{{thread-exit-holding-gil}}
    PyObject *n = PyLong_FromLong(42);
    Py_DECREF(n);
    return NULL; /* no PyEval_ReleaseThread */
}

int main(void)
{
    Py_Initialize();
    interp = PyInterpreterState_Get();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    PyEval_RestoreThread(main_state);
    Py_FinalizeEx();
    return 0;
}
