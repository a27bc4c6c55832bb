// Lock order between the GIL and the project's own mutexes. A thread that holds the GIL and waits for a mutex
// deadlocks with one that holds the mutex and waits for the GIL: both halves are reported, the lock made with
// the GIL held and the wait for the GIL made under the mutex. A mutex that every place locks with the GIL held
// is never contended (the GIL orders its holders): those locks are not reported. A mutex always taken with the
// GIL released, and the GIL taken under it, is one order too: nothing to report.
#include <Python.h>
#include <pthread.h>

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    PyObject *items[64];
    int count;
};

static struct queue jobs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

// Python method (GIL held): locks jobs.mu.
static PyObject *bad_submit(PyObject *self, PyObject *item)
{
    pthread_mutex_lock(&jobs.mu);   // expect-warning{{pthread_mutex_lock() may block while this thread holds the GIL}} [blocking-with-gil]
    if (jobs.count < 64) {
        Py_INCREF(item);
        jobs.items[jobs.count++] = item;
    }
    pthread_cond_signal(&jobs.cv);
    pthread_mutex_unlock(&jobs.mu);
    Py_RETURN_NONE;
}

// Worker thread: takes the GIL while still holding the queue's mutex (through a pointer to the same struct).
static void *bad_worker(void *arg)
{
    struct queue *q = arg;
    pthread_mutex_lock(&q->mu);
    while (q->count == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    PyObject *item = q->items[--q->count];
    PyGILState_STATE st = PyGILState_Ensure();   // expect-warning{{PyGILState_Ensure() waits for the GIL while this thread holds 'q->mu' (locked at line 35), which bad_submit() locks while holding the GIL}} [blocking-with-gil]
    PyObject *r = PyObject_CallNoArgs(item);
    Py_XDECREF(r);
    Py_DECREF(item);
    PyGILState_Release(st);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

void start_worker(void)
{
    pthread_t t;
    pthread_create(&t, NULL, bad_worker, &jobs);
}

// A registry only ever locked with the GIL held: the lock never waits.
static struct {
    pthread_mutex_t mu;
    PyObject *handlers[8];
} registry = {PTHREAD_MUTEX_INITIALIZER};

static PyObject *ok_register(PyObject *self, PyObject *handler)
{
    Py_INCREF(handler);
    pthread_mutex_lock(&registry.mu);
    PyObject *old = registry.handlers[0];
    registry.handlers[0] = handler;
    pthread_mutex_unlock(&registry.mu);
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

int ok_dispatch(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    pthread_mutex_lock(&registry.mu);
    PyObject *h = registry.handlers[0];
    Py_XINCREF(h);
    pthread_mutex_unlock(&registry.mu);
    if (h != NULL) {
        PyObject *r = PyObject_CallNoArgs(h);
        Py_XDECREF(r);
        Py_DECREF(h);
    }
    PyGILState_Release(st);
    return 0;
}

// Stats: always locked without the GIL, and the GIL taken under it: one order.
static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static long stats_runs;
static PyObject *stats_listener;

static PyObject *ok_stats_bump(PyObject *self, PyObject *unused)
{
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&stats_mu);
    stats_runs++;
    pthread_mutex_unlock(&stats_mu);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static void *ok_stats_reporter(void *arg)
{
    pthread_mutex_lock(&stats_mu);
    long runs = stats_runs;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(stats_listener, "l", runs);
    Py_XDECREF(r);
    PyGILState_Release(st);
    pthread_mutex_unlock(&stats_mu);
    return NULL;
}

// The worker done right: the mutex is unlocked before the GIL is taken.
static void *ok_worker(void *arg)
{
    struct queue *q = arg;
    pthread_mutex_lock(&q->mu);
    while (q->count == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    PyObject *item = q->items[--q->count];
    pthread_mutex_unlock(&q->mu);
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(item);
    Py_XDECREF(r);
    Py_DECREF(item);
    PyGILState_Release(st);
    return NULL;
}

static PyMethodDef methods[] = {
    {"submit", bad_submit, METH_O, NULL},
    {"register", ok_register, METH_O, NULL},
    {"stats_bump", ok_stats_bump, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

void start_others(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, ok_stats_reporter, NULL);
    pthread_create(&b, NULL, ok_worker, &jobs);
}
