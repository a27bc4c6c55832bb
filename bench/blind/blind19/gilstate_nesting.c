/*
 * gilstate_nesting.c -- plugin bridge of a node-based compositor.  Native
 * plugins call Python hooks, and hooks can trigger other plugins, so the
 * bridge nests PyGILState_Ensure() calls.  Each nested state must be
 * released in LIFO order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <string.h>

struct plugin_call {
    PyObject *fn;
    PyObject *args;
    PyGILState_STATE outer;
    PyGILState_STATE inner;
};

#define MAX_SCOPES 8
struct txn {
    int depth;
    PyObject *on_scope[MAX_SCOPES];
    PyGILState_STATE scope_gil[MAX_SCOPES];
};

/* Bridge tokens: thin wrappers around Ensure/Release. */
typedef struct {
    PyGILState_STATE st;
    const char *who;
} bridge_token;

static bridge_token bridge_enter(const char *who)
{
    bridge_token t;
    t.st = PyGILState_Ensure();
    t.who = who;
    return t;
}

static void bridge_leave(bridge_token t)
{
    PyGILState_Release(t.st);
}

/* Per-thread stack of GIL states used by the scripting scopes. */
#define GIL_STACK_MAX 16
static __thread struct {
    PyGILState_STATE s[GIL_STACK_MAX];
    int n;
} tls_gil;

static void gil_push(void)
{
    tls_gil.s[tls_gil.n++] = PyGILState_Ensure();
}

static void gil_pop(void)
{
    PyGILState_Release(tls_gil.s[--tls_gil.n]);
}

/* Requires the GIL. */
static int call_hook(PyObject *fn, PyObject *args)
{
    PyObject *r = PyObject_CallObject(fn, args);
    if (r == NULL) {
        PyErr_Print();
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Pure C: shade one row of the preview image. */
static void shade_row_c(float *row, int w, int y)
{
    for (int x = 0; x < w; x++)
        row[x] = (float)((x ^ y) & 0xff) / 255.0f;
}

// BAD: release-order the outer state in call->outer is released before the inner one in call->inner
int bad_plugin_call_nested(struct plugin_call *call, PyObject *notify)
{
    int rc;
    call->outer = PyGILState_Ensure();
    rc = call_hook(call->fn, call->args);
    if (notify != NULL) {
        /* the notify hook may be invoked from another plugin's context */
        call->inner = PyGILState_Ensure();
        call_hook(notify, NULL);
        PyGILState_Release(call->outer);
        PyGILState_Release(call->inner);
        return rc;
    }
    PyGILState_Release(call->outer);
    return rc;
}

// OK: nested states kept in struct fields are released inner first, then outer
int ok_plugin_call_nested(struct plugin_call *call, PyObject *notify)
{
    int rc;
    call->outer = PyGILState_Ensure();
    rc = call_hook(call->fn, call->args);
    if (notify != NULL) {
        call->inner = PyGILState_Ensure();
        call_hook(notify, NULL);
        PyGILState_Release(call->inner);
    }
    PyGILState_Release(call->outer);
    return rc;
}

// BAD: release-order per-scope states stored in an array are released first-to-last instead of last-to-first
int bad_txn_commit(struct txn *t)
{
    int i, failed = 0;
    for (i = 0; i < t->depth; i++) {
        t->scope_gil[i] = PyGILState_Ensure();
        if (call_hook(t->on_scope[i], NULL) < 0)
            failed = 1;
    }
    for (i = 0; i < t->depth; i++)
        PyGILState_Release(t->scope_gil[i]);
    t->depth = 0;
    return failed ? -1 : 0;
}

// OK: per-scope states stored in an array are released in reverse order
int ok_txn_commit(struct txn *t)
{
    int i, failed = 0;
    for (i = 0; i < t->depth; i++) {
        t->scope_gil[i] = PyGILState_Ensure();
        if (call_hook(t->on_scope[i], NULL) < 0)
            failed = 1;
    }
    for (i = t->depth; i-- > 0;)
        PyGILState_Release(t->scope_gil[i]);
    t->depth = 0;
    return failed ? -1 : 0;
}

// BAD: release-order bridge tokens are left in acquisition order: bridge_leave(outer) runs before bridge_leave(inner)
int bad_bridge_forward_event(PyObject *src_hook, PyObject *dst_hook, PyObject *event)
{
    bridge_token outer = bridge_enter("source");
    PyObject *translated = PyObject_CallFunctionObjArgs(src_hook, event, NULL);
    if (translated == NULL) {
        PyErr_Print();
        bridge_leave(outer);
        return -1;
    }

    bridge_token inner = bridge_enter("destination");
    PyObject *r = PyObject_CallFunctionObjArgs(dst_hook, translated, NULL);
    int rc = r != NULL ? 0 : -1;
    Py_DECREF(translated);
    if (r == NULL)
        PyErr_Print();
    else
        Py_DECREF(r);
    bridge_leave(outer);
    bridge_leave(inner);
    return rc;
}

// OK: bridge tokens are left in LIFO order on both the error path and the normal path
int ok_bridge_forward_event(PyObject *src_hook, PyObject *dst_hook, PyObject *event)
{
    bridge_token outer = bridge_enter("source");
    PyObject *translated = PyObject_CallFunctionObjArgs(src_hook, event, NULL);
    if (translated == NULL) {
        PyErr_Print();
        bridge_leave(outer);
        return -1;
    }

    bridge_token inner = bridge_enter("destination");
    PyObject *r = PyObject_CallFunctionObjArgs(dst_hook, translated, NULL);
    int rc = r != NULL ? 0 : -1;
    Py_DECREF(translated);
    if (r == NULL)
        PyErr_Print();
    else
        Py_DECREF(r);
    bridge_leave(inner);
    bridge_leave(outer);
    return rc;
}

// BAD: ensure-leak,release-order `break` skips the per-item gil_pop(), so the final gil_pop() releases the item level and the outer level leaks
int bad_tls_run_batch(PyObject *hooks, PyObject *item_args)
{
    Py_ssize_t i, n;
    int rc = 0;

    gil_push();
    n = PyList_Size(hooks);
    for (i = 0; i < n; i++) {
        gil_push();
        PyObject *fn = PyList_GET_ITEM(hooks, i);
        if (call_hook(fn, item_args) < 0) {
            rc = -1;
            break;
        }
        gil_pop();
    }
    gil_pop();
    return rc;
}

// OK: every per-item gil_push() is popped before `continue`, and the loop end pops the rest LIFO
int ok_tls_run_batch(PyObject *hooks, PyObject *item_args)
{
    Py_ssize_t i, n;
    int failures = 0;

    gil_push();
    n = PyList_Size(hooks);
    for (i = 0; i < n; i++) {
        gil_push();
        PyObject *fn = PyList_GET_ITEM(hooks, i);
        if (fn == Py_None) {
            gil_pop();
            continue;
        }
        if (call_hook(fn, item_args) < 0)
            failures++;
        gil_pop();
    }
    gil_pop();
    return failures ? -1 : 0;
}

// BAD: release-order,nested-release error path restores the outer PyEval_SaveThread state while the inner PyGILState_Ensure is still held
static PyObject *bad_render_preview(PyObject *self, PyObject *args)
{
    PyObject *progress;
    int w, h;
    (void)self;
    if (!PyArg_ParseTuple(args, "iiO", &w, &h, &progress))
        return NULL;
    if (w <= 0 || h <= 0) {
        PyErr_SetString(PyExc_ValueError, "bad size");
        return NULL;
    }
    float *img = PyMem_RawMalloc((size_t)w * (size_t)h * sizeof(float));
    if (img == NULL)
        return PyErr_NoMemory();

    PyThreadState *save = PyEval_SaveThread();
    for (int y = 0; y < h; y++) {
        shade_row_c(img + (size_t)y * (size_t)w, w, y);
        if ((y & 63) == 63) {
            PyGILState_STATE st = PyGILState_Ensure();
            PyObject *r = PyObject_CallFunction(progress, "ii", y + 1, h);
            if (r == NULL) {
                PyEval_RestoreThread(save);
                PyGILState_Release(st);
                PyMem_RawFree(img);
                return NULL;
            }
            Py_DECREF(r);
            PyGILState_Release(st);
        }
    }
    PyEval_RestoreThread(save);

    PyObject *out = PyBytes_FromStringAndSize((const char *)img, (Py_ssize_t)w * h * (Py_ssize_t)sizeof(float));
    PyMem_RawFree(img);
    return out;
}

// OK: PyGILState_Ensure inside a PyEval_SaveThread region, released before the outer state is restored
static PyObject *ok_render_preview(PyObject *self, PyObject *args)
{
    PyObject *progress;
    int w, h;
    int failed = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "iiO", &w, &h, &progress))
        return NULL;
    if (w <= 0 || h <= 0) {
        PyErr_SetString(PyExc_ValueError, "bad size");
        return NULL;
    }
    float *img = PyMem_RawMalloc((size_t)w * (size_t)h * sizeof(float));
    if (img == NULL)
        return PyErr_NoMemory();

    PyThreadState *save = PyEval_SaveThread();
    for (int y = 0; y < h && !failed; y++) {
        shade_row_c(img + (size_t)y * (size_t)w, w, y);
        if ((y & 63) == 63) {
            PyGILState_STATE st = PyGILState_Ensure();
            PyObject *r = PyObject_CallFunction(progress, "ii", y + 1, h);
            if (r == NULL)
                failed = 1; /* exception stays set on this thread state */
            else
                Py_DECREF(r);
            PyGILState_Release(st);
        }
    }
    PyEval_RestoreThread(save);

    if (failed) {
        PyMem_RawFree(img);
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize((const char *)img, (Py_ssize_t)w * h * (Py_ssize_t)sizeof(float));
    PyMem_RawFree(img);
    return out;
}

static PyMethodDef bridge_methods[] = {
    {"render_preview", ok_render_preview, METH_VARARGS, NULL},
    {"render_preview_v1", bad_render_preview, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef bridge_module = {PyModuleDef_HEAD_INIT, "_bridge", NULL, -1, bridge_methods,
                                           NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__bridge(void)
{
    return PyModule_Create(&bridge_module);
}
