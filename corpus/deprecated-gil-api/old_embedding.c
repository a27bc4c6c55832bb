// GIL calls deprecated since Python 3.2 / 3.9 and removed from the headers in 3.13.
#include <Python.h>

void bad_old_style_init(void)
{
    Py_Initialize();
    PyEval_InitThreads();               // expect-warning{{deprecated since Python 3.9 and removed in 3.13}} [deprecated-gil-api]
    if (!PyEval_ThreadsInitialized())   // expect-warning{{deprecated since Python 3.9}} [deprecated-gil-api]
        return;
    PyThreadState *main_state = PyEval_SaveThread();
    PyEval_RestoreThread(main_state);
}

void bad_lock_without_thread_state(void)
{
    PyEval_AcquireLock();               // expect-warning{{deprecated since Python 3.2}} [deprecated-gil-api]
    PyEval_ReleaseLock();               // expect-warning{{use PyEval_SaveThread() or PyEval_ReleaseThread()}} [deprecated-gil-api]
}

void ok_modern_init(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    PyEval_RestoreThread(main_state);
}
