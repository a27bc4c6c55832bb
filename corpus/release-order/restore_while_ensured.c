// A thread state saved, then the GIL taken again with PyGILState_Ensure() inside the released region: the state
// must be released before the saved one is restored. Restoring first puts back a thread state while this
// thread already holds the GIL, and the restore waits for the GIL it holds.
#include <Python.h>

extern int poll_events(int timeout_ms);
extern int deliver(int n);

int bad_restore_before_release(int timeout_ms)
{
    PyThreadState *ts = PyEval_SaveThread();
    int n = poll_events(timeout_ms);
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = deliver(n);
    PyEval_RestoreThread(ts);   // expect-warning{{restores thread state 'ts' while GIL state 'g' from PyGILState_Ensure() at line 13, taken after it was saved, is still held}} [release-order]
    PyGILState_Release(g);
    return rc;
}

int ok_release_then_restore(int timeout_ms)
{
    PyThreadState *ts = PyEval_SaveThread();
    int n = poll_events(timeout_ms);
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = deliver(n);
    PyGILState_Release(g);
    PyEval_RestoreThread(ts);
    return rc;
}

// An Ensure held across the whole save/restore pair (taken before the save) is released after it: fine.
int ok_ensure_around_region(int timeout_ms)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyThreadState *ts = PyEval_SaveThread();
    int n = poll_events(timeout_ms);
    PyEval_RestoreThread(ts);
    int rc = deliver(n);
    PyGILState_Release(g);
    return rc;
}
