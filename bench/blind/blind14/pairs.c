/* quarry: log sinks and file scanning for a job runner */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <unistd.h>
#include <string.h>
#include "ft.h"

/* compute kernel from libquarry (pure C, no Python) */
extern long quarry_scan(const char *buf, size_t len);

static PyObject *g_logger;   /* callable, set at import */
static __thread PyGILState_STATE t_gil_state;
static __thread PyThreadState *t_saved;

static void helper_gil_lock(void)   { t_gil_state = PyGILState_Ensure(); }
static void helper_gil_unlock(void) { PyGILState_Release(t_gil_state); }
static void helper_nogil_enter(void) { t_saved = PyEval_SaveThread(); }
static void helper_nogil_leave(void) { PyEval_RestoreThread(t_saved); t_saved = NULL; }

static struct { void (*lock)(void); void (*unlock)(void); } hooks = {
    helper_gil_lock, helper_gil_unlock
};
static struct { void (*release)(void); void (*reacquire)(void); } nogil_hooks = {
    helper_nogil_enter, helper_nogil_leave
};
#define QUARRY_GIL_LOCK()     hooks.lock()
#define QUARRY_GIL_UNLOCK()   hooks.unlock()
#define QUARRY_NOGIL_BEGIN()  nogil_hooks.release()
#define QUARRY_NOGIL_END()    nogil_hooks.reacquire()

/* sinks are called by libquarry from arbitrary worker threads */
void bad_ensure_early_return(const char *msg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    if (g_logger == NULL || msg[0] == '\0')
        return;
    PyObject *r = PyObject_CallFunction(g_logger, "s", msg);
    Py_XDECREF(r);
    PyGILState_Release(st);
}
void ok_ensure_all_paths(const char *msg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = NULL;
    if (g_logger == NULL || msg[0] == '\0')
        goto done;
    r = PyObject_CallFunction(g_logger, "s", msg);
    if (r == NULL)
        PyErr_Clear();
done:
    Py_XDECREF(r);
    PyGILState_Release(st);
}
void bad_release_without_ensure(const char *msg, int level)
{
    PyGILState_STATE st = PyGILState_UNLOCKED;
    if (level >= 2)
        st = PyGILState_Ensure();
    if (level >= 2 && g_logger != NULL) {
        PyObject *r = PyObject_CallFunction(g_logger, "s", msg);
        Py_XDECREF(r);
    }
    PyGILState_Release(st);
}
void ok_ensure_nested(const char *msg)
{
    PyGILState_STATE outer = PyGILState_Ensure();
    PyObject *s = PyUnicode_FromString(msg);
    if (s != NULL) {
        PyGILState_STATE inner = PyGILState_Ensure();
        if (g_logger) { PyObject *r = PyObject_CallOneArg(g_logger, s); Py_XDECREF(r); }
        PyGILState_Release(inner);
        Py_DECREF(s);
    }
    PyGILState_Release(outer);
}
int bad_hook_ensure_leak(const char *msg)
{
    QUARRY_GIL_LOCK();
    if (g_logger == NULL)
        return -1;
    PyObject *r = PyObject_CallFunction(g_logger, "s", msg);
    Py_XDECREF(r);
    QUARRY_GIL_UNLOCK();
    return 0;
}
int ok_hook_paths(const char *msg)
{
    QUARRY_GIL_LOCK();
    if (g_logger == NULL) {
        QUARRY_GIL_UNLOCK();
        return -1;
    }
    PyObject *r = PyObject_CallFunction(g_logger, "s", msg);
    int rc = r ? 0 : -1;
    Py_XDECREF(r);
    QUARRY_GIL_UNLOCK();
    return rc;
}
/* called with the GIL held */
long bad_hook_save_leak(const char *buf, size_t len)
{
    long hits;
    QUARRY_NOGIL_BEGIN();
    if (len == 0)
        return 0;
    hits = quarry_scan(buf, len);
    QUARRY_NOGIL_END();
    return hits;
}
static PyObject *bad_allow_goto(PyObject *self, PyObject *arg)
{
    int fd = PyLong_AsLong(arg);
    char buf[4096]; ssize_t n;
    if (fd == -1 && PyErr_Occurred()) return NULL;
    Py_BEGIN_ALLOW_THREADS
    n = read(fd, buf, sizeof buf);
    if (n < 0)
        goto fail;
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(quarry_scan(buf, (size_t)n));
fail:
    return PyErr_SetFromErrno(PyExc_OSError);
}
static PyObject *ok_block_unblock(PyObject *self, PyObject *arg)
{
    int fd = PyLong_AsLong(arg);
    char buf[4096]; ssize_t n;
    if (fd == -1 && PyErr_Occurred()) return NULL;
    Py_BEGIN_ALLOW_THREADS
    n = read(fd, buf, sizeof buf);
    if (n < 0) {
        Py_BLOCK_THREADS
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(quarry_scan(buf, (size_t)n));
}
static PyObject *bad_allow_break(PyObject *self, PyObject *arg)
{
    int fd = PyLong_AsLong(arg);
    char buf[512];
    long total = 0;
    if (fd == -1 && PyErr_Occurred()) return NULL;
    for (;;) {
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        total += quarry_scan(buf, (size_t)n);
        Py_END_ALLOW_THREADS
    }
    return PyLong_FromLong(total);
}
static PyObject *ok_allow_inner_break(PyObject *self, PyObject *arg)
{
    int fd = PyLong_AsLong(arg);
    char buf[512];
    long total = 0;
    if (fd == -1 && PyErr_Occurred()) return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        total += quarry_scan(buf, (size_t)n);
    }
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(total);
}
static PyObject *bad_api_in_allow(PyObject *self, PyObject *arg)
{
    Py_buffer view; long hits;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    hits = quarry_scan(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(hits);
}
static PyMethodDef quarry_methods[] = {
    {"read_scan", bad_allow_goto, METH_O, NULL},
    {"read_scan_safe", ok_block_unblock, METH_O, NULL},
    {"drain", bad_allow_break, METH_O, NULL},
    {"drain_safe", ok_allow_inner_break, METH_O, NULL},
    {"scan", bad_api_in_allow, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};
static struct PyModuleDef quarry_module = {
    PyModuleDef_HEAD_INIT, "quarry", NULL, -1, quarry_methods
};

PyMODINIT_FUNC PyInit_quarry(void)
{
    PyObject *m = PyModule_Create(&quarry_module);
    if (m == NULL) return NULL;
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
    return m;
}
