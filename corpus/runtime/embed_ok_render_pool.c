// A correct host: Python initialized, the GIL released for the workers, every worker takes and gives back the
// GIL around its Python work (nested Ensure included), a mutex is only ever taken without the GIL, and the
// main thread takes the GIL back before finalizing. Nothing to report.
// trace-shape: embed
#include <Python.h>
#include <pthread.h>

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static long frames;

static long python_sum(long n)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *range = PyObject_CallFunction((PyObject *)&PyRange_Type, "l", n);
    PyObject *total = range ? PyObject_CallFunctionObjArgs(PyDict_GetItemString(PyEval_GetBuiltins(), "sum"), range, NULL) : NULL;
    long result = total ? PyLong_AsLong(total) : -1;
    Py_XDECREF(total);
    Py_XDECREF(range);
    PyGILState_Release(gil);
    return result;
}

static void *render_thread(void *arg)
{
    long id = (long)arg;
    for (int frame = 0; frame < 200; frame++) {
        PyGILState_STATE outer = PyGILState_Ensure();
        long v = python_sum(id + frame); /* nested Ensure: legal */
        PyGILState_Release(outer);
        pthread_mutex_lock(&stats_lock);
        frames += v >= 0;
        pthread_mutex_unlock(&stats_lock);
    }
    return NULL;
}

int main(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_t threads[4];
    for (long i = 0; i < 4; i++) pthread_create(&threads[i], NULL, render_thread, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    PyEval_RestoreThread(main_state);
    Py_FinalizeEx();
    return frames == 800 ? 0 : 1;
}
