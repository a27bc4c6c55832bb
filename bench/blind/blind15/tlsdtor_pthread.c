/* Per-thread context kept in pthread TLS.  The key destructors run at
 * thread exit, after the Python thread state of that thread has been
 * cleared/released, i.e. without the GIL. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    PyObject *callback;
    PyObject *args;
    char *scratch;
    size_t scratch_len;
} thread_ctx;

static pthread_key_t ctx_key;       /* thread_ctx, destructor bad_ctx_destroy */
static pthread_key_t ctx2_key;      /* thread_ctx, destructor ok_ctx_destroy */
static pthread_key_t scratch_key;   /* plain char buffer */
static pthread_key_t hook_key;      /* PyObject *: called at thread exit */
static pthread_key_t ctx3_key;      /* thread_ctx, decref before ensure */
static pthread_key_t ctx4_key;      /* thread_ctx, guarded destructor */

/* BAD: TLS destructor drops Python references without taking the GIL. */
static void
bad_ctx_destroy(void *p)
{
    thread_ctx *ctx = (thread_ctx *)p;

    if (ctx == NULL)
        return;
    Py_XDECREF(ctx->callback);
    Py_XDECREF(ctx->args);
    free(ctx->scratch);
    free(ctx);
}

/* OK: same destructor, but the references are dropped under
 * PyGILState_Ensure/Release. */
static void
ok_ctx_destroy(void *p)
{
    thread_ctx *ctx = (thread_ctx *)p;
    PyGILState_STATE gstate;

    if (ctx == NULL)
        return;
    gstate = PyGILState_Ensure();
    Py_XDECREF(ctx->callback);
    Py_XDECREF(ctx->args);
    PyGILState_Release(gstate);
    free(ctx->scratch);
    free(ctx);
}

/* OK: destructor for a plain C buffer: only free(), no Python API, so no
 * GIL is needed. */
static void
ok_scratch_destroy(void *p)
{
    char *buf = (char *)p;

    if (buf != NULL) {
        memset(buf, 0, 64);
        free(buf);
    }
}

/* BAD: "on thread exit" hook calls into Python from the TLS destructor
 * without taking the GIL. */
static void
bad_exit_hook_destroy(void *p)
{
    PyObject *hook = (PyObject *)p;
    PyObject *res;

    if (hook == NULL)
        return;
    res = PyObject_CallNoArgs(hook);
    if (res == NULL)
        PyErr_WriteUnraisable(hook);
    else
        Py_DECREF(res);
    Py_DECREF(hook);
}

/* BAD: takes the GIL, but only after Py_CLEAR of the callback has already
 * run without it. */
static void
bad_ctx3_destroy(void *p)
{
    thread_ctx *ctx = (thread_ctx *)p;
    PyGILState_STATE gstate;

    if (ctx == NULL)
        return;
    Py_CLEAR(ctx->callback);
    gstate = PyGILState_Ensure();
    Py_CLEAR(ctx->args);
    PyGILState_Release(gstate);
    free(ctx->scratch);
    free(ctx);
}

/* OK: skips the Python part if the interpreter is gone, otherwise takes the
 * GIL before touching references (Py_IsInitialized needs no GIL). */
static void
ok_ctx4_destroy(void *p)
{
    thread_ctx *ctx = (thread_ctx *)p;
    PyGILState_STATE gstate;

    if (ctx == NULL)
        return;
    if (Py_IsInitialized()) {
        gstate = PyGILState_Ensure();
        Py_CLEAR(ctx->callback);
        Py_CLEAR(ctx->args);
        PyGILState_Release(gstate);
    }
    free(ctx->scratch);
    free(ctx);
}

/* OK: not a destructor -- an ordinary method that clears the calling
 * thread's context while holding the GIL, so no Ensure is needed. */
static PyObject *
ok_clear_thread_ctx(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    thread_ctx *ctx = (thread_ctx *)pthread_getspecific(ctx2_key);

    if (ctx == NULL)
        Py_RETURN_NONE;
    pthread_setspecific(ctx2_key, NULL);
    Py_XDECREF(ctx->callback);
    Py_XDECREF(ctx->args);
    free(ctx->scratch);
    free(ctx);
    Py_RETURN_NONE;
}

static PyObject *
set_thread_callback(PyObject *module, PyObject *args)
{
    PyObject *cb, *cbargs = NULL;
    thread_ctx *ctx;

    if (!PyArg_ParseTuple(args, "O|O:set_thread_callback", &cb, &cbargs))
        return NULL;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return PyErr_NoMemory();
    ctx->scratch = malloc(256);
    ctx->scratch_len = 256;
    Py_INCREF(cb);
    ctx->callback = cb;
    Py_XINCREF(cbargs);
    ctx->args = cbargs;
    if (pthread_setspecific(ctx_key, ctx) != 0) {
        Py_DECREF(cb);
        Py_XDECREF(cbargs);
        free(ctx->scratch);
        free(ctx);
        PyErr_SetString(PyExc_RuntimeError, "pthread_setspecific failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
set_exit_hook(PyObject *module, PyObject *hook)
{
    Py_INCREF(hook);
    if (pthread_setspecific(hook_key, hook) != 0) {
        Py_DECREF(hook);
        PyErr_SetString(PyExc_RuntimeError, "pthread_setspecific failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
tls_module_exec(PyObject *module)
{
    if (pthread_key_create(&ctx_key, bad_ctx_destroy) != 0 ||
        pthread_key_create(&ctx2_key, ok_ctx_destroy) != 0 ||
        pthread_key_create(&scratch_key, ok_scratch_destroy) != 0 ||
        pthread_key_create(&hook_key, bad_exit_hook_destroy) != 0 ||
        pthread_key_create(&ctx3_key, bad_ctx3_destroy) != 0 ||
        pthread_key_create(&ctx4_key, ok_ctx4_destroy) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_key_create failed");
        return -1;
    }
    return 0;
}

static PyMethodDef tls_methods[] = {
    {"set_thread_callback", set_thread_callback, METH_VARARGS, NULL},
    {"set_exit_hook", set_exit_hook, METH_O, NULL},
    {"clear_thread_ctx", ok_clear_thread_ctx, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyModuleDef_Slot tls_slots[] = {
    {Py_mod_exec, tls_module_exec},
    {0, NULL}
};

static struct PyModuleDef tls_module = {
    PyModuleDef_HEAD_INIT, "_tlsctx", NULL, 0, tls_methods, tls_slots,
};

PyMODINIT_FUNC
PyInit__tlsctx(void)
{
    return PyModuleDef_Init(&tls_module);
}
