// A plug-in library whose entry points a host calls from its render threads (driven here by gilcheck host).
// node_eval is correct; node_cache takes the GIL and the cache mutex in an order that depends on the thread,
// the lock-order inversion that deadlocks real hosts now and then.
// trace-shape: host --entry node_eval --entry node_cache --threads 4 --iterations 30 --jitter-us 300
// expect-trace-anywhere{{lock-order-inversion}}
#include <Python.h>
#include <pthread.h>

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static long cache_hits;
static int warmed;

int node_eval(int thread_index, int iteration)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *v = PyLong_FromLong((long)thread_index * 1000 + iteration);
    int rc = v ? 0 : 1;
    Py_XDECREF(v);
    PyGILState_Release(gil);
    return rc;
}

int node_cache(int thread_index, int iteration)
{
    (void)iteration;
    /* Thread 0 warms the cache in the bad order (mutex, then GIL); the others use it in the usual order (GIL,
       then mutex), but only once the warm-up is over, so this run cannot deadlock. A real host has no such
       flag, and deadlocks when the two orders overlap. */
    if (thread_index == 0 && iteration == 0) {
        pthread_mutex_lock(&cache_lock);
        PyGILState_STATE gil = PyGILState_Ensure();
        cache_hits++;
        PyGILState_Release(gil);
        pthread_mutex_unlock(&cache_lock);
        __atomic_store_n(&warmed, 1, __ATOMIC_RELEASE);
        return 0;
    }
    if (!__atomic_load_n(&warmed, __ATOMIC_ACQUIRE)) return 0;
    PyGILState_STATE gil = PyGILState_Ensure();
    pthread_mutex_lock(&cache_lock);
    cache_hits++;
    pthread_mutex_unlock(&cache_lock);
    PyGILState_Release(gil);
    return 0;
}
