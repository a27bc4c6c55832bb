// Taking the GIL back with a thread state that was never saved on this path, or already restored.
#include <Python.h>

extern int compute(int);

int bad_block_threads_twice(int fd)
{
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = compute(fd);
    if (r < 0) {
        Py_BLOCK_THREADS
        PyErr_SetString(PyExc_OSError, "failed");
        Py_BLOCK_THREADS        // expect-error{{already restored on this path}} [restore-without-save]
        return -1;
    }
    Py_END_ALLOW_THREADS
    return r;
}

int bad_block_then_end(int fd)
{
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = compute(fd);
    if (r < 0)
        Py_BLOCK_THREADS
    Py_END_ALLOW_THREADS        // expect-error{{already restored on this path}} [restore-without-save]
    return r;
}

int bad_restore_twice(int fd)
{
    PyThreadState *ts = PyEval_SaveThread();
    int r = compute(fd);
    PyEval_RestoreThread(ts);
    if (r < 0)
        PyEval_RestoreThread(ts);   // expect-error{{already restored on this path}} [restore-without-save]
    return r;
}

int bad_restore_after_skipped_save(int fd, int quick)
{
    PyThreadState *ts;
    int r;
    if (quick)
        goto run;
    ts = PyEval_SaveThread();
run:
    r = compute(fd);
    PyEval_RestoreThread(ts);       // expect-error{{not saved on this path}} [restore-without-save]
    return r;
}

int ok_block_unblock_pair(int fd)
{
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = compute(fd);
    if (r < 0) {
        Py_BLOCK_THREADS
        PyErr_SetString(PyExc_OSError, "failed");
        Py_UNBLOCK_THREADS
    }
    Py_END_ALLOW_THREADS
    return r;
}
