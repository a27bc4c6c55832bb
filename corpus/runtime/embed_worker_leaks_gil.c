// A render-thread pool that calls into Python; one worker returns from its error path without releasing the
// GIL. Plain CPython hangs at the next Ensure; the tracer names the leaked Ensure when the worker ends, and
// its watchdog turns the hang into a report instead of a stuck CI job.
// trace-shape: embed
// expect-trace-anywhere{{hang}}
// trace-exit: 5
#include <Python.h>
#include <pthread.h>

static int evaluate_node(long id)
{
    PyGILState_STATE gil = PyGILState_Ensure(); // expect-trace{{ensure-leak-at-exit}}
    PyObject *value = PyLong_FromLong(id * 3);
    if (value == NULL || id == 2) {
        Py_XDECREF(value);
        return -1; /* the GIL stays taken */
    }
    Py_DECREF(value);
    PyGILState_Release(gil);
    return 0;
}

static void *render_thread(void *arg)
{
    evaluate_node((long)arg);
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
    return 0;
}
