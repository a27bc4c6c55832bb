#include <Python.h>
extern int compute(int);

int bad_restore_never_saved(int slow)
{
    PyThreadState *ts = NULL;
    int r;
    if (slow)
        ts = PyEval_SaveThread();
    r = compute(slow);
    PyEval_RestoreThread(ts);   // expect-error{{not saved on this path}} [restore-without-save]
    return r;
}

int ok_restore_under_same_flag(int slow)
{
    PyThreadState *ts = NULL;
    int r;
    if (slow)
        ts = PyEval_SaveThread();
    r = compute(slow);
    if (slow)
        PyEval_RestoreThread(ts);
    return r;
}
