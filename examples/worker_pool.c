/* An embedding host's worker pool, for `gilcheck trace` (see scripts/example). Each worker evaluates a Python
 * expression per job. Two mistakes hide in it, and neither makes this run fail:
 *   - the telemetry path builds a Python int without holding the GIL (it usually works; one day it corrupts a
 *     reference count);
 *   - the stats flush takes the GIL while holding stats_lock, while workers take stats_lock while holding the
 *     GIL: run at the same moment, the two deadlock.
 * Build: gcc -g -o worker_pool examples/worker_pool.c $(python3-config --cflags --embed --ldflags) -pthread
 */
#include <Python.h>
#include <pthread.h>

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static long jobs_done;
static PyObject *last_count;

static void record_job(void)
{
    pthread_mutex_lock(&stats_lock);
    jobs_done++;
    pthread_mutex_unlock(&stats_lock);
}

static void publish_telemetry(long value)
{
    /* Called without the GIL. */
    PyObject *v = PyLong_FromLong(value);
    Py_XDECREF(last_count);
    last_count = v;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    for (int job = 0; job < 50; job++) {
        PyGILState_STATE gil = PyGILState_Ensure();
        PyObject *r = PyRun_String("sum(range(100))", Py_eval_input, PyEval_GetBuiltins(), NULL);
        if (r == NULL) PyErr_Clear();
        Py_XDECREF(r);
        record_job(); /* stats_lock taken while holding the GIL */
        PyGILState_Release(gil);
    }
    if (id == 0) publish_telemetry(jobs_done);
    return NULL;
}

static void flush_stats(void)
{
    pthread_mutex_lock(&stats_lock);
    PyGILState_STATE gil = PyGILState_Ensure(); /* the GIL taken while holding stats_lock */
    Py_XDECREF(last_count);
    last_count = PyLong_FromLong(jobs_done);
    PyGILState_Release(gil);
    pthread_mutex_unlock(&stats_lock);
}

int main(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_t threads[4];
    for (long i = 0; i < 4; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    flush_stats();
    PyEval_RestoreThread(main_state);
    Py_XDECREF(last_count);
    Py_FinalizeEx();
    return 0;
}
