/* pulsar: background job threads and plugin registry (PEP 788 ready) */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>
#include "ft.h"

typedef struct {
    PyInterpreterGuard *guard;   /* owned by the job */
    PyObject *fn;
    volatile int cancelled;
} Job;

static PyObject *g_registry;     /* dict shared by all threads */

void *bad_token_leak(void *arg)
{
    Job *job = (Job *)arg;
    PyThreadStateToken *tok = PyThreadState_Ensure(job->guard);
    if (tok == NULL)
        goto out;
    if (job->cancelled) {
        Py_DECREF(job->fn);
        goto out;
    }
    PyObject *r = PyObject_CallNoArgs(job->fn);
    if (r == NULL) PyErr_Print();
    Py_XDECREF(r);
    Py_DECREF(job->fn);
    PyThreadState_Release(tok);
out:
    PyInterpreterGuard_Close(job->guard);
    free(job);
    return NULL;
}

void *ok_token_null_check(void *arg)
{
    Job *job = (Job *)arg;
    PyThreadStateToken *tok = PyThreadState_Ensure(job->guard);
    if (tok == NULL) {
        /* interpreter is finalizing; fn is leaked deliberately */
        PyInterpreterGuard_Close(job->guard);
        free(job);
        return NULL;
    }
    if (!job->cancelled) {
        PyObject *r = PyObject_CallNoArgs(job->fn);
        if (r == NULL) PyErr_Print();
        Py_XDECREF(r);
    }
    Py_DECREF(job->fn);
    PyThreadState_Release(tok);
    PyInterpreterGuard_Close(job->guard);
    free(job);
    return NULL;
}

static PyObject *bad_guard_leak(PyObject *m, PyObject *fn)
{
    PyInterpreterGuard *guard = PyInterpreterGuard_FromCurrent();
    if (guard == NULL)
        return NULL;
    Job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return PyErr_NoMemory();
    job->guard = guard;
    job->fn = Py_NewRef(fn);
    pthread_t tid;
    if (pthread_create(&tid, NULL, ok_token_null_check, job) != 0) {
        Py_DECREF(job->fn);
        PyInterpreterGuard_Close(guard);
        free(job);
        PyErr_SetString(PyExc_RuntimeError, "cannot start thread");
        return NULL;
    }
    pthread_detach(tid);
    Py_RETURN_NONE;
}

/* Guard ownership passes to the thread on success. */
static PyObject *ok_guard_handoff(PyObject *m, PyObject *fn)
{
    Job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return PyErr_NoMemory();
    job->guard = PyInterpreterGuard_FromCurrent();
    if (job->guard == NULL) {
        free(job);
        return NULL;
    }
    job->fn = Py_NewRef(fn);
    pthread_t tid;
    if (pthread_create(&tid, NULL, ok_token_null_check, job) != 0) {
        Py_DECREF(job->fn);
        PyInterpreterGuard_Close(job->guard);
        free(job);
        PyErr_SetString(PyExc_RuntimeError, "cannot start thread");
        return NULL;
    }
    pthread_detach(tid);
    Py_RETURN_NONE;
}

/* Called from a native timer thread; the view is owned by the timer. */
void ok_view_to_guard(PyInterpreterView *view, PyObject *tick_fn)
{
    PyInterpreterGuard *guard = PyInterpreterGuard_FromView(view);
    if (guard == NULL)
        return;
    PyThreadStateToken *tok = PyThreadState_Ensure(guard);
    if (tok != NULL) {
        PyObject *r = PyObject_CallNoArgs(tick_fn);
        if (r == NULL) PyErr_Print();
        Py_XDECREF(r);
        PyThreadState_Release(tok);
    }
    PyInterpreterGuard_Close(guard);
}

static PyObject *bad_borrowed_shared(PyObject *m, PyObject *name)
{
    PyObject *plugin = PyDict_GetItemWithError(g_registry, name);
    if (plugin == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, name);
        return NULL;
    }
    return Py_NewRef(plugin);
}

static PyObject *bad_borrowed_default(PyObject *m, PyObject *noargs)
{
    PyObject *factory = PyDict_GetItemString(g_registry, "default");
    if (factory == NULL)
        Py_RETURN_NONE;
    return PyObject_CallNoArgs(factory);
}

static PyObject *ok_getitemref(PyObject *m, PyObject *name)
{
    PyObject *plugin;
    int rc = PyDict_GetItemRef(g_registry, name, &plugin);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        PyErr_SetObject(PyExc_KeyError, name);
        return NULL;
    }
    return plugin;
}

static PyObject *ok_local_dict_borrow(PyObject *m, PyObject *kwargs)
{
    PyObject *opts = PyDict_New();
    if (opts == NULL)
        return NULL;
    if (PyDict_Update(opts, kwargs) < 0) { Py_DECREF(opts); return NULL; }
    PyObject *level = PyDict_GetItemString(opts, "level");
    long lv = level ? PyLong_AsLong(level) : 0;
    Py_DECREF(opts);
    if (lv == -1 && PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(lv * 10);
}

static PyMethodDef pulsar_methods[] = {
    {"spawn", bad_guard_leak, METH_O, NULL},
    {"spawn_safe", ok_guard_handoff, METH_O, NULL},
    {"plugin", bad_borrowed_shared, METH_O, NULL},
    {"make_default", bad_borrowed_default, METH_NOARGS, NULL},
    {"plugin_safe", ok_getitemref, METH_O, NULL},
    {"level", ok_local_dict_borrow, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};
static int helper_exec(PyObject *m)
{
    g_registry = PyDict_New();
    if (g_registry == NULL) return -1;
    return PyModule_AddObjectRef(m, "registry", g_registry);
}
static PyModuleDef_Slot pulsar_slots[] = {
    {Py_mod_exec, helper_exec},
    {0, NULL}
};
static struct PyModuleDef pulsar_module = { PyModuleDef_HEAD_INIT, "pulsar", NULL, 0, pulsar_methods, pulsar_slots };

PyMODINIT_FUNC PyInit_pulsar(void)
{
    return PyModuleDef_Init(&pulsar_module);
}
