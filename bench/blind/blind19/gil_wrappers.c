/*
 * gil_wrappers.c -- scripting layer of a game engine.  GIL handling is
 * hidden behind project macros, small wrapper functions, and a backend
 * vtable (struct of function pointers) filled once at start-up.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- project macros ---------------------------------------------------- */
#define SCRIPT_LOCK() PyGILState_STATE _script_gil = PyGILState_Ensure()
#define SCRIPT_UNLOCK() PyGILState_Release(_script_gil)
#define WITHOUT_GIL(...)                                    \
    do {                                                    \
        PyThreadState *_wg_save = PyEval_SaveThread();      \
        __VA_ARGS__;                                        \
        PyEval_RestoreThread(_wg_save);                     \
    } while (0)

/* ---- tiny key/value store used for save games (pure C) ---------------- */
struct kvdb {
    int fd;
    int dirty;
    char path[256];
};

#define MAX_DBS 4
static struct kvdb g_dbs[MAX_DBS];
static int g_ndbs;

static int kv_sync(struct kvdb *db)
{
    return db->dirty ? fsync(db->fd) : 0;
}

/* Requires the GIL; drops it around the fsync. */
static int flush_one_db(struct kvdb *db)
{
    int rc, err = 0;
    WITHOUT_GIL(rc = kv_sync(db); err = errno);
    if (rc != 0) {
        errno = err;
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, db->path);
        return -1;
    }
    db->dirty = 0;
    return 0;
}

/* ---- backend vtable --------------------------------------------------- */
typedef struct {
    PyGILState_STATE st;
} gil_token;

struct script_backend {
    const char *name;
    int (*enter)(void *impl, gil_token *tok);
    void (*leave)(void *impl, gil_token tok);
    /* requires enter(); returns 0 on success */
    int (*invoke)(void *impl, const char *fn, const double *args, int nargs, double *out);
    void *impl;
};

struct py_backend {
    PyObject *module; /* owned */
};

static struct script_backend g_backend;
static struct py_backend g_py_backend;

static int py_enter(void *impl, gil_token *tok)
{
    (void)impl;
    if (!Py_IsInitialized())
        return -1;
    tok->st = PyGILState_Ensure();
    return 0;
}

static void py_leave(void *impl, gil_token tok)
{
    (void)impl;
    PyGILState_Release(tok.st);
}

static int py_invoke(void *impl, const char *fn, const double *args, int nargs, double *out)
{
    struct py_backend *pb = impl;
    PyObject *callable = PyObject_GetAttrString(pb->module, fn);
    if (callable == NULL) {
        PyErr_Print();
        return -1;
    }
    PyObject *tuple = PyTuple_New(nargs);
    if (tuple == NULL) {
        Py_DECREF(callable);
        PyErr_Print();
        return -1;
    }
    for (int i = 0; i < nargs; i++) {
        PyObject *v = PyFloat_FromDouble(args[i]);
        if (v == NULL) {
            Py_DECREF(tuple);
            Py_DECREF(callable);
            PyErr_Print();
            return -1;
        }
        PyTuple_SET_ITEM(tuple, i, v);
    }
    PyObject *r = PyObject_Call(callable, tuple, NULL);
    Py_DECREF(tuple);
    Py_DECREF(callable);
    if (r == NULL) {
        PyErr_Print();
        return -1;
    }
    *out = PyFloat_AsDouble(r);
    Py_DECREF(r);
    if (*out == -1.0 && PyErr_Occurred()) {
        PyErr_Print();
        return -1;
    }
    return 0;
}

/* Called once at start-up with the GIL held. */
void script_backend_use_python(PyObject *module)
{
    Py_INCREF(module);
    Py_XSETREF(g_py_backend.module, module);
    g_backend.name = "python";
    g_backend.enter = py_enter;
    g_backend.leave = py_leave;
    g_backend.invoke = py_invoke;
    g_backend.impl = &g_py_backend;
}

/* ----------------------------------------------------------------------- */

// BAD: ensure-leak SCRIPT_LOCK() is taken, then the compile-error path returns before SCRIPT_UNLOCK()
double bad_eval_expression(const char *expr, double x)
{
    double result = NAN;
    SCRIPT_LOCK();

    PyObject *code = Py_CompileString(expr, "<expr>", Py_eval_input);
    if (code == NULL) {
        PyErr_Clear();
        return NAN;
    }
    PyObject *globals = PyDict_New();
    PyObject *xv = PyFloat_FromDouble(x);
    if (globals != NULL && xv != NULL && PyDict_SetItemString(globals, "x", xv) == 0 &&
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0) {
        PyObject *v = PyEval_EvalCode(code, globals, globals);
        if (v != NULL) {
            result = PyFloat_AsDouble(v);
            Py_DECREF(v);
        }
    }
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_XDECREF(xv);
    Py_XDECREF(globals);
    Py_DECREF(code);

    SCRIPT_UNLOCK();
    return result;
}

// OK: all exits after SCRIPT_LOCK() go through the label in front of SCRIPT_UNLOCK()
double ok_eval_expression(const char *expr, double x)
{
    double result = NAN;
    PyObject *code = NULL, *globals = NULL, *xv = NULL;
    SCRIPT_LOCK();

    code = Py_CompileString(expr, "<expr>", Py_eval_input);
    if (code == NULL)
        goto out;
    globals = PyDict_New();
    xv = PyFloat_FromDouble(x);
    if (globals == NULL || xv == NULL || PyDict_SetItemString(globals, "x", xv) < 0 ||
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0)
        goto out;
    PyObject *v = PyEval_EvalCode(code, globals, globals);
    if (v != NULL) {
        result = PyFloat_AsDouble(v);
        Py_DECREF(v);
    }

out:
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_XDECREF(xv);
    Py_XDECREF(globals);
    Py_XDECREF(code);
    SCRIPT_UNLOCK();
    return result;
}

// BAD: api-without-gil PyErr_Format is called inside the WITHOUT_GIL() region
static PyObject *bad_db_commit(PyObject *self, PyObject *args)
{
    int idx, rc;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &idx))
        return NULL;
    if (idx < 0 || idx >= g_ndbs) {
        PyErr_SetString(PyExc_IndexError, "no such save slot");
        return NULL;
    }
    struct kvdb *db = &g_dbs[idx];
    WITHOUT_GIL(rc = kv_sync(db);
                if (rc != 0) PyErr_Format(PyExc_OSError, "sync of %s failed: %s", db->path, strerror(errno)));
    if (rc != 0)
        return NULL;
    db->dirty = 0;
    Py_RETURN_NONE;
}

// BAD: nested-release,api-without-gil wraps the loop in WITHOUT_GIL() although flush_one_db() drops the GIL itself and raises
static PyObject *bad_db_flush_all(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    int failed = 0;
    (void)self;
    WITHOUT_GIL(
        for (int i = 0; i < g_ndbs; i++)
            if (g_dbs[i].dirty && flush_one_db(&g_dbs[i]) < 0)
                failed = 1
    );
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

// OK: calls flush_one_db() with the GIL held; the helper drops and re-takes the GIL around each fsync
static PyObject *ok_db_flush_all(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    for (int i = 0; i < g_ndbs; i++) {
        if (!g_dbs[i].dirty)
            continue;
        if (flush_one_db(&g_dbs[i]) < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

// BAD: ensure-leak error return after a failed invoke skips g_backend.leave(), leaking the Ensure done by py_enter
int bad_backend_eval_curve(const char *fn, const double *keys, int nkeys, double *out)
{
    gil_token tok;
    if (g_backend.enter(g_backend.impl, &tok) != 0)
        return -1;
    for (int i = 0; i < nkeys; i++) {
        if (g_backend.invoke(g_backend.impl, fn, &keys[i], 1, &out[i]) != 0)
            return -1;
    }
    g_backend.leave(g_backend.impl, tok);
    return 0;
}

// OK: enter() failure returns before anything was acquired; invoke failures break to the single leave()
int ok_backend_eval_curve(const char *fn, const double *keys, int nkeys, double *out)
{
    gil_token tok;
    int rc = 0;
    if (g_backend.enter(g_backend.impl, &tok) != 0)
        return -1;
    for (int i = 0; i < nkeys; i++) {
        if (g_backend.invoke(g_backend.impl, fn, &keys[i], 1, &out[i]) != 0) {
            rc = -1;
            break;
        }
    }
    g_backend.leave(g_backend.impl, tok);
    return rc;
}

struct curve_job {
    const char *fn;
    double keys[64];
    double out[64];
    int nkeys;
    atomic_int *stop;
};

// OK: worker thread brackets every batch with enter()/leave() through the vtable and sleeps outside
static void *ok_backend_worker(void *arg)
{
    struct curve_job *job = arg;
    const struct timespec period = {0, 5 * 1000 * 1000};

    while (!atomic_load(job->stop)) {
        gil_token tok;
        if (g_backend.enter(g_backend.impl, &tok) != 0)
            break;
        for (int i = 0; i < job->nkeys; i++)
            if (g_backend.invoke(g_backend.impl, job->fn, &job->keys[i], 1, &job->out[i]) != 0)
                break;
        g_backend.leave(g_backend.impl, tok);
        nanosleep(&period, NULL);
    }
    return NULL;
}

void *(*const engine_curve_worker)(void *) = ok_backend_worker;

static PyMethodDef savegame_methods[] = {
    {"commit", bad_db_commit, METH_VARARGS, NULL},
    {"flush_all", ok_db_flush_all, METH_NOARGS, NULL},
    {"flush_all_fast", bad_db_flush_all, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef savegame_module = {PyModuleDef_HEAD_INIT, "savegame", NULL, -1, savegame_methods,
                                             NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_savegame(void)
{
    return PyModule_Create(&savegame_module);
}
