// Two calls that look like they should be reported and must not be:
// - Py_AddPendingCall() from a signal handler (or any thread) needs no GIL: it only queues work for the
//   main thread;
// - PyMutex_Lock() with the GIL held does not block other Python threads: a waiting thread detaches while it
//   parks (Python 3.13; declared here for older headers).
#include <Python.h>
#include <signal.h>

#if PY_VERSION_HEX < 0x030D0000
typedef struct PyMutex { unsigned char _bits; } PyMutex;
void PyMutex_Lock(PyMutex *m);
void PyMutex_Unlock(PyMutex *m);
#endif

static volatile sig_atomic_t reload_requested;

static int run_reload(void *arg)
{
    (void)arg;
    reload_requested = 0;
    PyObject *r = PyRun_String("reload_config()", Py_file_input, PyEval_GetGlobals(), NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static void ok_on_sighup(int sig)
{
    (void)sig;
    if (!reload_requested) {
        reload_requested = 1;
        Py_AddPendingCall(run_reload, NULL);
    }
}

void install_reload_handler(void)
{
    signal(SIGHUP, ok_on_sighup);
}

struct cache { PyMutex lock; PyObject *items; };

PyObject *ok_cache_get(struct cache *c, PyObject *key)
{
    PyMutex_Lock(&c->lock);
    PyObject *v = PyDict_GetItemWithError(c->items, key);
    Py_XINCREF(v);
    PyMutex_Unlock(&c->lock);
    return v;
}
