/* _solverhost: hosts the "qsolve" numerical engine.  The engine core is
 * interpreter-agnostic; the binding installs lock hooks at import time. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>

typedef struct qs_lock_hooks {
    void *(*acquire)(void);          /* take the interpreter lock, return token */
    void (*release)(void *token);
    void (*unblock)(void);           /* drop the interpreter lock for long C work */
    void (*block)(void);             /* take it back */
} qs_lock_hooks;

static qs_lock_hooks hooks;
static __thread PyThreadState *qs_saved_ts;

static void *
py_acquire(void)
{
    return (void *)(uintptr_t)PyGILState_Ensure();
}

static void
py_release(void *token)
{
    PyGILState_Release((PyGILState_STATE)(uintptr_t)token);
}

static void
py_unblock(void)
{
    qs_saved_ts = PyEval_SaveThread();
}

static void
py_block(void)
{
    PyEval_RestoreThread(qs_saved_ts);
    qs_saved_ts = NULL;
}

#define QS_LOCK()        hooks.acquire()
#define QS_UNLOCK(tok)   hooks.release(tok)
#define QS_UNBLOCK()     hooks.unblock()
#define QS_BLOCK()       hooks.block()

typedef struct {
    double *x;
    int n;
    int iters;
    PyObject *observer;
} qs_problem;

static double
qs_iterate(qs_problem *p)
{
    double r = 0;
    int i;
    for (i = 0; i < p->n; i++) {
        p->x[i] = 0.5 * (p->x[i] + 2.0 / (p->x[i] ? p->x[i] : 1.0));
        r += p->x[i];
    }
    return r;
}

/* Engine-side notification, called from engine worker threads. */
static int
ok_qs_notify(qs_problem *p, int iter, double resid)
{
    void *tok = QS_LOCK();
    PyObject *r = PyObject_CallFunction(p->observer, "id", iter, resid);
    int stop = 0;
    if (r == NULL) {
        PyErr_WriteUnraisable(p->observer);
        stop = 1;
    }
    else {
        stop = PyObject_IsTrue(r) > 0;
        Py_DECREF(r);
    }
    QS_UNLOCK(tok);
    return stop;
}

static int
bad_qs_notify_leak(qs_problem *p, int iter, double resid)
{
    void *tok = QS_LOCK();
    PyObject *r = PyObject_CallFunction(p->observer, "id", iter, resid);
    int stop;
    if (r == NULL) {
        PyErr_WriteUnraisable(p->observer);
        return 1;
    }
    stop = PyObject_IsTrue(r) > 0;
    Py_DECREF(r);
    QS_UNLOCK(tok);
    return stop;
}

static PyObject *
ok_qs_solve(PyObject *mod, PyObject *args)
{
    qs_problem p;
    PyObject *observer;
    double resid = 0;
    int i, n, iters;
    (void)mod;

    if (!PyArg_ParseTuple(args, "iiO", &n, &iters, &observer))
        return NULL;
    p.x = PyMem_RawCalloc((size_t)n, sizeof(double));
    if (p.x == NULL)
        return PyErr_NoMemory();
    p.n = n;
    p.iters = iters;
    p.observer = observer;
    for (i = 0; i < iters; i++) {
        QS_UNBLOCK();
        resid = qs_iterate(&p);
        QS_BLOCK();
        if (ok_qs_notify(&p, i, resid))
            break;
    }
    PyMem_RawFree(p.x);
    return PyFloat_FromDouble(resid);
}

static PyObject *
bad_qs_solve_report(PyObject *mod, PyObject *args)
{
    qs_problem p;
    PyObject *observer, *r;
    double resid;
    int n;
    (void)mod;

    if (!PyArg_ParseTuple(args, "iO", &n, &observer))
        return NULL;
    p.x = PyMem_RawCalloc((size_t)n, sizeof(double));
    if (p.x == NULL)
        return PyErr_NoMemory();
    p.n = n;
    p.observer = observer;
    QS_UNBLOCK();
    resid = qs_iterate(&p);
    r = PyObject_CallFunction(observer, "id", 0, resid);
    QS_BLOCK();
    PyMem_RawFree(p.x);
    Py_XDECREF(r);
    return PyFloat_FromDouble(resid);
}

static PyObject *
bad_qs_solve_twice_unblocked(PyObject *mod, PyObject *args)
{
    qs_problem p;
    double r1, r2;
    int n;
    (void)mod;

    if (!PyArg_ParseTuple(args, "i", &n))
        return NULL;
    p.x = PyMem_RawCalloc((size_t)n, sizeof(double));
    if (p.x == NULL)
        return PyErr_NoMemory();
    p.n = n;
    QS_UNBLOCK();
    r1 = qs_iterate(&p);
    QS_UNBLOCK();
    r2 = qs_iterate(&p);
    QS_BLOCK();
    PyMem_RawFree(p.x);
    return Py_BuildValue("(dd)", r1, r2);
}

static PyObject *
ok_qs_solve_early_exit(PyObject *mod, PyObject *args)
{
    qs_problem p;
    double resid;
    int n, limit;
    (void)mod;

    if (!PyArg_ParseTuple(args, "ii", &n, &limit))
        return NULL;
    p.x = PyMem_RawCalloc((size_t)n, sizeof(double));
    if (p.x == NULL)
        return PyErr_NoMemory();
    p.n = n;
    QS_UNBLOCK();
    resid = qs_iterate(&p);
    if (resid > (double)limit) {
        QS_BLOCK();
        PyMem_RawFree(p.x);
        PyErr_SetString(PyExc_ArithmeticError, "diverged");
        return NULL;
    }
    resid = qs_iterate(&p);
    QS_BLOCK();
    PyMem_RawFree(p.x);
    return PyFloat_FromDouble(resid);
}

static void *
engine_thread(void *arg)
{
    qs_problem *p = (qs_problem *)arg;
    int i;
    for (i = 0; i < p->iters; i++) {
        double r = qs_iterate(p);
        if (bad_qs_notify_leak(p, i, r))
            break;
    }
    return NULL;
}

static PyObject *
qs_solve_async(PyObject *mod, PyObject *args)
{
    static qs_problem p;
    pthread_t t;
    int n;
    (void)mod;
    if (!PyArg_ParseTuple(args, "iiO", &n, &p.iters, &p.observer))
        return NULL;
    Py_INCREF(p.observer);
    p.x = PyMem_RawCalloc((size_t)n, sizeof(double));
    p.n = n;
    if (p.x == NULL)
        return PyErr_NoMemory();
    if (pthread_create(&t, NULL, engine_thread, &p) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_create failed");
        return NULL;
    }
    pthread_detach(t);
    Py_RETURN_NONE;
}

static PyMethodDef qs_methods[] = {
    {"solve", ok_qs_solve, METH_VARARGS, NULL},
    {"solve_report", bad_qs_solve_report, METH_VARARGS, NULL},
    {"solve_twice", bad_qs_solve_twice_unblocked, METH_VARARGS, NULL},
    {"solve_bounded", ok_qs_solve_early_exit, METH_VARARGS, NULL},
    {"solve_async", qs_solve_async, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef qs_module = { PyModuleDef_HEAD_INIT, "_solverhost", NULL, -1, qs_methods };

PyMODINIT_FUNC
PyInit__solverhost(void)
{
    hooks.acquire = py_acquire;
    hooks.release = py_release;
    hooks.unblock = py_unblock;
    hooks.block = py_block;
    return PyModule_Create(&qs_module);
}
