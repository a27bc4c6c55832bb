// Blocking while holding the GIL deadlocks with any thread that holds what we wait for and needs the GIL.
// gilcheck-rules: safe_locks.yml
#include <Python.h>
#include <pthread.h>
#include <unistd.h>

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_ready = PTHREAD_COND_INITIALIZER;

static void wait_for_queue(void)
{
    pthread_mutex_lock(&queue_lock);
    pthread_cond_wait(&queue_ready, &queue_lock);
    pthread_mutex_unlock(&queue_lock);
}

void bad_lock_under_gil(PyObject *item)
{
    PyGILState_STATE st = PyGILState_Ensure();
    pthread_mutex_lock(&queue_lock);    // expect-warning{{may block while this thread holds the GIL}} [blocking-with-gil]
    Py_INCREF(item);
    pthread_mutex_unlock(&queue_lock);
    PyGILState_Release(st);
}

void bad_helper_blocks_under_gil(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    wait_for_queue();                   // expect-warning{{may block while this thread holds the GIL}} [blocking-with-gil]
    PyGILState_Release(st);
}

void bad_sleep_under_gil(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    usleep(1000);                       // expect-warning{{may block}} [blocking-with-gil]
    PyGILState_Release(st);
}

void ok_lock_without_gil(void)
{
    Py_BEGIN_ALLOW_THREADS
    wait_for_queue();
    Py_END_ALLOW_THREADS
}

void ok_safe_lock_under_gil(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    pthread_mutex_lock(&stats_lock);    // listed in safe_locks.yml: only non-Python threads take it
    pthread_mutex_unlock(&stats_lock);
    PyGILState_Release(st);
}

void ok_unknown_gil_state(void)
{
    /* Whether the caller holds the GIL is unknown here: no finding. */
    pthread_mutex_lock(&queue_lock);
    pthread_mutex_unlock(&queue_lock);
}
