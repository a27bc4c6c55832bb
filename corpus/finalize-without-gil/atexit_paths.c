// Shutdown paths: one finalizes from a released region, one after an early return skipped the restore.
#include <Python.h>
#include <pthread.h>

extern int wait_for_workers(int timeout_ms);

int bad_finalize_on_timeout(void)
{
    Py_Initialize();
    PyThreadState *ts = PyEval_SaveThread();
    if (wait_for_workers(5000) < 0)
        return Py_FinalizeEx();         // expect-error{{called without the GIL}} [finalize-without-gil]
    PyEval_RestoreThread(ts);
    return Py_FinalizeEx();
}

/* A watchdog thread decides to shut Python down: it never took the GIL. */
static void *bad_watchdog(void *arg)
{
    (void)arg;
    if (wait_for_workers(60000) < 0)
        Py_FinalizeEx();                // expect-error{{called without the GIL}} [finalize-without-gil]
    return NULL;
}

int start_watchdog(void)
{
    pthread_t t;
    return pthread_create(&t, NULL, bad_watchdog, NULL);
}

int ok_finalize_after_restore_on_every_path(void)
{
    Py_Initialize();
    PyThreadState *ts = PyEval_SaveThread();
    int rc = wait_for_workers(5000);
    PyEval_RestoreThread(ts);
    if (rc < 0)
        PyErr_WarnEx(PyExc_RuntimeWarning, "workers did not stop", 1);
    return Py_FinalizeEx();
}
