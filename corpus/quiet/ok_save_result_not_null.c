// PyEval_SaveThread() never returns NULL (the documentation says so: it returns the previous thread
// state, "which is not NULL"). Code that saves under a condition and restores when the saved pointer is
// non-NULL is therefore correct on every path.
#include <Python.h>

extern int net_connect(const char *host, int port);
extern int disk_sync(int fd);

int ok_conditional_save(const char *host, int port, int blocking)
{
    PyThreadState *ts = NULL;
    if (blocking)
        ts = PyEval_SaveThread();
    int sock = net_connect(host, port);
    if (ts != NULL)
        PyEval_RestoreThread(ts);
    if (sock < 0)
        PyErr_SetFromErrno(PyExc_OSError);
    return sock;
}

int ok_restore_if_saved(int fd, int slow)
{
    PyThreadState *saved = NULL;
    int rc;
    if (slow)
        saved = PyEval_SaveThread();
    rc = disk_sync(fd);
    if (saved)
        PyEval_RestoreThread(saved);
    return rc;
}

/* Drop the GIL lazily, the first time a slow item shows up; restore once at the end. */
extern int is_slow(int i);
extern int process(int i);
int ok_lazy_save(int n)
{
    PyThreadState *ts = NULL;
    int total = 0;
    for (int i = 0; i < n; i++) {
        if (is_slow(i) && ts == NULL)
            ts = PyEval_SaveThread();
        total += process(i);
    }
    if (ts != NULL)
        PyEval_RestoreThread(ts);
    return total;
}
