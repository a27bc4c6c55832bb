#include <Python.h>
#include "ft_api.h"

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

/* Legacy plugin host, originally written for Python 2.7 / 3.6. */

typedef struct {
    PyObject *plugin;
    PyThreadState *saved;
    int initialized;
} plugin_host;

extern int host_native_work(plugin_host *host);

int
bad_host_ensure_threads(plugin_host *host)
{
    if (!PyEval_ThreadsInitialized()) {
        PyEval_InitThreads();
    }
    host->initialized = 1;
    return 0;
}

int
ok_host_ensure_threads(plugin_host *host)
{
    host->initialized = Py_IsInitialized();
    return host->initialized ? 0 : -1;
}

void
bad_host_enter(plugin_host *host)
{
    PyEval_AcquireLock();
    PyThreadState_Swap(host->saved);
}

void
ok_host_enter(plugin_host *host)
{
    PyEval_RestoreThread(host->saved);
    host->saved = NULL;
}

void
ok_host_leave(plugin_host *host)
{
    host->saved = PyEval_SaveThread();
}

int
ok_host_run_detached(plugin_host *host)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = host_native_work(host);
    Py_END_ALLOW_THREADS
    return rc;
}

void
bad_host_leave(plugin_host *host)
{
    host->saved = PyThreadState_Swap(NULL);
    PyEval_ReleaseLock();
}

int
ok_host_call_from_foreign_thread(plugin_host *host)
{
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *res = PyObject_CallMethod(host->plugin, "tick", NULL);
    int rc = 0;
    if (res == NULL) {
        PyErr_Print();
        rc = -1;
    }
    Py_XDECREF(res);
    PyGILState_Release(gs);
    return rc;
}

PyObject *
bad_host_plugin_owner(PyObject *weak_owner)
{
    PyObject *owner;

    if (!PyWeakref_CheckRef(weak_owner)) {
        PyErr_SetString(PyExc_TypeError, "expected a weak reference");
        return NULL;
    }
    owner = PyWeakref_GetObject(weak_owner);
    if (owner == NULL) {
        return NULL;
    }
    return PyObject_Str(owner);
}

PyObject *
ok_host_plugin_owner(PyObject *weak_owner)
{
    PyObject *owner, *s;
    int rc;

    if (!PyWeakref_CheckRef(weak_owner)) {
        PyErr_SetString(PyExc_TypeError, "expected a weak reference");
        return NULL;
    }
    rc = PyWeakref_GetRef(weak_owner, &owner);
    if (rc <= 0) {
        if (rc == 0) {
            PyErr_SetString(PyExc_ReferenceError, "owner is gone");
        }
        return NULL;
    }
    s = PyObject_Str(owner);
    Py_DECREF(owner);
    return s;
}
