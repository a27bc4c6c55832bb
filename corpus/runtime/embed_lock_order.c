// Two threads take the GIL and a cache mutex in opposite orders. This run keeps them apart in time, so it
// never deadlocks, but the same code deadlocks about half the time when they overlap: the tracer reports the
// cycle in the lock-order graph from one lucky run.
// trace-shape: embed
// expect-trace-anywhere{{lock-order-inversion}}
#include <Python.h>
#include <pthread.h>

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static PyObject *cache;

static void *python_then_cache(void *arg)
{
    (void)arg;
    PyGILState_STATE gil = PyGILState_Ensure();
    pthread_mutex_lock(&cache_lock);
    Py_XINCREF(cache);
    pthread_mutex_unlock(&cache_lock);
    PyGILState_Release(gil);
    return NULL;
}

static void *cache_then_python(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cache_lock);
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_XDECREF(cache);
    cache = PyLong_FromLong(1);
    PyGILState_Release(gil);
    pthread_mutex_unlock(&cache_lock);
    return NULL;
}

int main(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_t t;
    pthread_create(&t, NULL, python_then_cache, NULL);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, cache_then_python, NULL);
    pthread_join(t, NULL);
    PyEval_RestoreThread(main_state);
    Py_FinalizeEx();
    return 0;
}
