// Dropping the GIL a second time while it is already dropped on this path.
#include <Python.h>

extern int compute(int);

static int slow_io(int fd)
{
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = compute(fd);
    Py_END_ALLOW_THREADS
    return r;
}

int bad_save_inside_allow_threads(int fd)
{
    int r;
    Py_BEGIN_ALLOW_THREADS
    PyThreadState *ts = PyEval_SaveThread();    // expect-error{{already released on this path}} [nested-release]
    r = compute(fd);
    PyEval_RestoreThread(ts);
    Py_END_ALLOW_THREADS
    return r;
}

int bad_unblock_twice(int fd)
{
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = compute(fd);
    if (r < 0) {
        /* Meant Py_BLOCK_THREADS: this saves again, and overwrites the saved thread state. */
        Py_UNBLOCK_THREADS      // expect-error{{already released on this path}} [nested-release] expect-error{{is overwritten before it is restored}} [allow-threads-leak]
    }
    Py_END_ALLOW_THREADS
    return r;
}

int bad_helper_releases_again(int fd)
{
    PyThreadState *ts = PyEval_SaveThread();
    int r = slow_io(fd);        // expect-error{{already released on this path}} [nested-release]
    PyEval_RestoreThread(ts);
    return r;
}

int bad_release_only_on_some_paths(int fd, int fast)
{
    int r;
    PyThreadState *ts = NULL;
    if (!fast)
        ts = PyEval_SaveThread();
    Py_BEGIN_ALLOW_THREADS      // expect-error{{already released on this path}} [nested-release]
    r = compute(fd);
    Py_END_ALLOW_THREADS
    if (!fast)
        PyEval_RestoreThread(ts);
    return r;
}

int ok_helper_called_with_gil(int fd)
{
    int a = slow_io(fd);
    int b = slow_io(fd + 1);
    return a + b;
}
