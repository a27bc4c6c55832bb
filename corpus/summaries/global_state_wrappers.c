// lock_py()/unlock_py() keep the GIL state in a global (a common embedding idiom); start_python()/
// stop_python() park the main thread state in one. Their summaries name the global: callers pair them.
#include <Python.h>
#include <pthread.h>

static PyGILState_STATE g_gstate;
static void lock_py(void) { g_gstate = PyGILState_Ensure(); }
static void unlock_py(void) { PyGILState_Release(g_gstate); }

static void *worker(void *arg)
{
    lock_py();
    PyObject *o = PyLong_FromLong(1);
    Py_XDECREF(o);
    unlock_py();
    return arg;
}

void start_worker(void) { pthread_t t; pthread_create(&t, NULL, worker, NULL); }

int ok_paired(PyObject *o)
{
    lock_py();
    if (!o) {
        unlock_py();
        return -1;
    }
    Py_INCREF(o);
    unlock_py();
    return 0;
}

int bad_leak(PyObject *o)
{
    lock_py();
    if (!o)
        return -1;                       // expect-error{{'g_gstate' acquired by lock_py() is not released}} [ensure-leak]
    unlock_py();
    return 0;
}

void bad_double_unlock(void)
{
    lock_py();
    unlock_py();
    unlock_py();                         // expect-error{{already released}} [release-without-ensure]
}

static void *bad_worker_uses_after_unlock(void *arg)
{
    lock_py();
    unlock_py();
    Py_XDECREF((PyObject *)arg);         // expect-error{{needs the GIL, which is released}} [api-without-gil]
    return NULL;
}

void start_bad_worker(PyObject *o) { pthread_t t; pthread_create(&t, NULL, bad_worker_uses_after_unlock, o); }

static PyThreadState *g_main;
static void start_python(void) { Py_Initialize(); g_main = PyEval_SaveThread(); }
static void resume_python(void) { PyEval_RestoreThread(g_main); }
static void stop_python(void) { Py_FinalizeEx(); }

int ok_host(void)
{
    start_python();
    start_worker();
    resume_python();
    stop_python();
    return 0;
}

int bad_host_finalize_without_gil(void)
{
    start_python();
    stop_python();                       // expect-error{{without the GIL}} [finalize-without-gil]
    return 0;
}

void bad_api_after_park(PyObject *o)
{
    start_python();
    Py_INCREF(o);                        // expect-error{{needs the GIL, which is released}} [api-without-gil]
}
