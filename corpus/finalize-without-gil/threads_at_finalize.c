// Threads still running while the interpreter is finalized: joined only after Py_FinalizeEx(), or detached
// before it. The host's workers take the GIL for each job, so one that is mid-job (or starts one) during or
// after finalization hangs or crashes the process. Joining first, with the GIL released, is the fix.
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>

#define NWORKERS 4

struct host {
    pthread_t workers[NWORKERS];
    atomic_int stop;
    PyThreadState *main_ts;
    PyObject *on_job;
};

static void *worker_main(void *arg)
{
    struct host *h = arg;
    while (!atomic_load(&h->stop)) {
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallNoArgs(h->on_job);
        Py_XDECREF(r);
        PyGILState_Release(st);
    }
    return NULL;
}

void host_start(struct host *h)
{
    h->main_ts = PyEval_SaveThread();
    for (int i = 0; i < NWORKERS; i++)
        pthread_create(&h->workers[i], NULL, worker_main, h);
}

static void join_workers(struct host *h)
{
    for (int i = 0; i < NWORKERS; i++)
        pthread_join(h->workers[i], NULL);
}

int bad_shutdown_join_late(struct host *h)
{
    atomic_store(&h->stop, 1);
    PyEval_RestoreThread(h->main_ts);
    int rc = Py_FinalizeEx();
    join_workers(h);   // expect-error{{join_workers() (summary: it calls pthread_join()) waits for threads after the interpreter was finalized at line 46}} [finalize-without-gil]
    return rc;
}

int bad_shutdown_detached(struct host *h)
{
    atomic_store(&h->stop, 1);
    for (int i = 0; i < NWORKERS; i++)
        pthread_detach(h->workers[i]);
    PyEval_RestoreThread(h->main_ts);
    return Py_FinalizeEx();   // expect-error{{Py_FinalizeEx() runs while threads detached by pthread_detach() at line 55 may still be running}} [finalize-without-gil]
}

int ok_shutdown(struct host *h)
{
    atomic_store(&h->stop, 1);
    join_workers(h);   // the GIL is released: the main thread state is saved
    PyEval_RestoreThread(h->main_ts);
    return Py_FinalizeEx();
}

// A detached thread at start-up, on a path that does not finalize: nothing to say here.
static void *log_flusher(void *arg) { (void)arg; return NULL; }

int ok_start_log_flusher(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, log_flusher, NULL) != 0)
        return -1;
    return pthread_detach(t);
}
