// A correct plug-in driven by gilcheck host: entry points take the GIL for their Python work, release it on
// every path (including the error path), and keep their mutex outside the GIL. Nothing to report.
// trace-shape: host --entry on_frame --entry on_param --threads 6 --iterations 40
#include <Python.h>
#include <pthread.h>

static pthread_mutex_t params_lock = PTHREAD_MUTEX_INITIALIZER;
static double params[16];

int on_frame(int thread_index, int iteration)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *t = Py_BuildValue("(ii)", thread_index, iteration);
    if (t == NULL) {
        PyErr_Clear();
        PyGILState_Release(gil);
        return 1;
    }
    Py_ssize_t n = PyTuple_Size(t);
    Py_DECREF(t);
    PyGILState_Release(gil);
    return n == 2 ? 0 : 1;
}

int on_param(int thread_index, int iteration)
{
    pthread_mutex_lock(&params_lock);
    params[thread_index % 16] += iteration;
    pthread_mutex_unlock(&params_lock);
    return 0;
}
