// The project's own GIL helpers (their effect is inferred from their bodies), used correctly everywhere.
#include <Python.h>

typedef struct { PyGILState_STATE st; int active; } gil_guard;

static void guard_enter(gil_guard *g) { g->st = PyGILState_Ensure(); g->active = 1; }
static void guard_leave(gil_guard *g) { g->active = 0; PyGILState_Release(g->st); }
static PyThreadState *nogil_begin(void) { return PyEval_SaveThread(); }
static void nogil_end(PyThreadState *ts) { PyEval_RestoreThread(ts); }

extern int compute_checksum(const void *p, size_t n);

int ok_guarded_call(PyObject *cb)
{
    gil_guard g;
    int rc = 0;
    guard_enter(&g);
    PyObject *r = PyObject_CallNoArgs(cb);
    if (r == NULL) {
        PyErr_Print();
        rc = -1;
    }
    Py_XDECREF(r);
    guard_leave(&g);
    return rc;
}

PyObject *ok_checksum(PyObject *self, PyObject *arg)
{
    char *p;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &p, &n) < 0)
        return NULL;
    PyThreadState *ts = nogil_begin();
    int sum = compute_checksum(p, (size_t)n);
    nogil_end(ts);
    return PyLong_FromLong(sum);
}

int ok_guard_early_return(PyObject *o)
{
    gil_guard g;
    guard_enter(&g);
    if (o == NULL) {
        guard_leave(&g);
        return -1;
    }
    Py_DECREF(o);
    guard_leave(&g);
    return 0;
}
