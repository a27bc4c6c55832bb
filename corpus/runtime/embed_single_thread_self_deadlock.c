// A single-threaded embedding program that restores a thread state it never saved, while it still holds the
// GIL: a restore without a save, and CPython then waits for the GIL this very thread holds, forever. The process never starts a second thread, so the tracer's watchdog
// starts only when the lone thread begins to wait; it still ends the run and names the culprit.
// trace-shape: embed
// trace-exit: 5
#include <Python.h>

int main(void)
{
    Py_Initialize();
    PyThreadState *state = PyThreadState_Get();
    PyEval_RestoreThread(state); // expect-trace{{hang}} expect-trace{{release-without-ensure}}
    Py_FinalizeEx();
    return 0;
}
