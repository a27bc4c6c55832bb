// Py_FinalizeEx() must run with the GIL held by the thread that initialized Python.
#include <Python.h>
extern void run_workers(void);

int bad_finalize_after_save(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    run_workers();
    return Py_FinalizeEx();             // expect-error{{called without the GIL}} [finalize-without-gil]
}

int ok_finalize_after_restore(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    run_workers();
    PyEval_RestoreThread(main_state);
    return Py_FinalizeEx();
}

int ok_finalize_with_ensure(void)
{
    /* Blender-style shutdown: take the GIL with PyGILState_Ensure() and never give it back. */
    PyGILState_Ensure();
    return Py_FinalizeEx();
}
