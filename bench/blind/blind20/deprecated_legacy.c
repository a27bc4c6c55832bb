/* deprecated-gil-api: an embedding helper carried forward from Python 2
 * days.  PyEval_AcquireLock / PyEval_ReleaseLock / PyEval_ThreadsInitialized
 * were removed in 3.13; PyWeakref_GetObject is deprecated (borrowed). */
#include <Python.h>
#include <unistd.h>
#include "ft_fixture.h"

typedef struct {
    PyObject_HEAD
    PyObject *target_ref;   /* weakref to the observed object */
    int fd;
} ObserverObject;

// BAD: deprecated-gil-api PyEval_ThreadsInitialized (removed in 3.13) used as a readiness check
static int
bad_embed_threads_ready(void)
{
    if (!PyEval_ThreadsInitialized()) {
        return -1;
    }
    return 0;
}

// OK: on 3.7+ threads are always initialised; check that the interpreter is running instead
static int
ok_embed_threads_ready(void)
{
    return Py_IsInitialized() ? 0 : -1;
}

// BAD: deprecated-gil-api PyEval_AcquireLock/PyEval_ReleaseLock pair around a thread-state swap (removed in 3.13)
static int
bad_embed_run_on(PyThreadState *ts, PyObject *fn)
{
    int rc = 0;
    PyEval_AcquireLock();
    PyThreadState_Swap(ts);
    PyObject *r = PyObject_CallNoArgs(fn);
    if (r == NULL) {
        PyErr_Print();
        rc = -1;
    }
    else {
        Py_DECREF(r);
    }
    PyThreadState_Swap(NULL);
    PyEval_ReleaseLock();
    return rc;
}

// OK: PyEval_AcquireThread/PyEval_ReleaseThread are the supported replacements
static int
ok_embed_run_on(PyThreadState *ts, PyObject *fn)
{
    int rc = 0;
    PyEval_AcquireThread(ts);
    PyObject *r = PyObject_CallNoArgs(fn);
    if (r == NULL) {
        PyErr_Print();
        rc = -1;
    }
    else {
        Py_DECREF(r);
    }
    PyEval_ReleaseThread(ts);
    return rc;
}

// BAD: deprecated-gil-api,borrowed-ref-free-threading PyWeakref_GetObject returns a borrowed, possibly dying referent
static PyObject *
bad_observer_target(ObserverObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *obj = PyWeakref_GetObject(self->target_ref);
    if (obj == NULL) {
        return NULL;
    }
    return Py_NewRef(obj);          /* Py_None if the referent is dead */
}

// OK: PyWeakref_GetRef returns a strong reference or reports a dead referent
static PyObject *
ok_observer_target(ObserverObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *obj;
    int rc = PyWeakref_GetRef(self->target_ref, &obj);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return obj;
}

// OK: PyEval_SaveThread/PyEval_RestoreThread are not deprecated
static PyObject *
ok_observer_close(ObserverObject *self, PyObject *Py_UNUSED(ignored))
{
    int rc;
    PyThreadState *save = PyEval_SaveThread();
    rc = close(self->fd);
    PyEval_RestoreThread(save);
    if (rc < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->fd = -1;
    Py_RETURN_NONE;
}
