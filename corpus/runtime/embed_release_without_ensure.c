// A cleanup path releases a GIL state its thread never acquired. CPython dies with a fatal error (abort);
// the tracer reports the bad release, with its stack, before that happens.
// trace-shape: embed
// trace-exit: 1
#include <Python.h>
#include <pthread.h>

static void finish_job(PyGILState_STATE state)
{
    PyGILState_Release(state); // expect-trace{{release-without-ensure}}
}

static void *job_thread(void *arg)
{
    (void)arg;
    finish_job(PyGILState_UNLOCKED);
    return NULL;
}

int main(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_t t;
    pthread_create(&t, NULL, job_thread, NULL);
    pthread_join(t, NULL);
    PyEval_RestoreThread(main_state);
    Py_FinalizeEx();
    return 0;
}
