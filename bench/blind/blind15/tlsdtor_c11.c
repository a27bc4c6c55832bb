/* Per-thread caches kept in C11 thread-specific storage.  tss_create()
 * destructors run at thread exit without a Python thread state. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <threads.h>

typedef struct {
    PyObject *dict;         /* per-thread memo dict */
    unsigned char *buf;     /* encode buffer */
    size_t buflen;
} codec_cache;

static tss_t cache_key;        /* destructor bad_tss_cache_free */
static tss_t cache2_key;       /* destructor ok_tss_cache_free */
static tss_t buf_key;          /* destructor ok_tss_buf_free */
static tss_t memo_key;         /* destructor bad_tss_memo_free */
static tss_t memo2_key;        /* destructor ok_tss_memo_free */

/* Drops a reference; callers must hold the GIL. */
static void
drop_ref(PyObject *o)
{
    Py_XDECREF(o);
}

/* Drops a reference from a context that may not hold the GIL. */
static void
drop_ref_with_gil(PyObject *o)
{
    PyGILState_STATE gs;

    if (o == NULL)
        return;
    gs = PyGILState_Ensure();
    Py_DECREF(o);
    PyGILState_Release(gs);
}

/* BAD: tss destructor Py_DECREFs the memo dict without the GIL. */
static void
bad_tss_cache_free(void *p)
{
    codec_cache *c = (codec_cache *)p;

    if (c == NULL)
        return;
    if (c->dict != NULL)
        Py_DECREF(c->dict);
    free(c->buf);
    free(c);
}

/* OK: same destructor wrapped in PyGILState_Ensure/Release. */
static void
ok_tss_cache_free(void *p)
{
    codec_cache *c = (codec_cache *)p;
    PyGILState_STATE gs;

    if (c == NULL)
        return;
    gs = PyGILState_Ensure();
    if (c->dict != NULL)
        Py_DECREF(c->dict);
    PyGILState_Release(gs);
    free(c->buf);
    free(c);
}

/* OK: destructor of a plain byte buffer; no Python API at all. */
static void
ok_tss_buf_free(void *p)
{
    free(p);
}

/* BAD: destructor hands the object to drop_ref(), which Py_XDECREFs it
 * assuming the caller holds the GIL -- this caller does not. */
static void
bad_tss_memo_free(void *p)
{
    drop_ref((PyObject *)p);
}

/* OK: destructor uses the helper that takes the GIL itself. */
static void
ok_tss_memo_free(void *p)
{
    drop_ref_with_gil((PyObject *)p);
}

static codec_cache *
get_cache(void)
{
    codec_cache *c = tss_get(cache2_key);

    if (c != NULL)
        return c;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    c->dict = PyDict_New();
    if (c->dict == NULL) {
        free(c);
        return NULL;
    }
    if (tss_set(cache2_key, c) != thrd_success) {
        Py_DECREF(c->dict);
        free(c);
        PyErr_SetString(PyExc_RuntimeError, "tss_set failed");
        return NULL;
    }
    return c;
}

/* A method (GIL held) that replaces the memo object: drop_ref is fine
 * here. */
static PyObject *
reset_memo(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *old = tss_get(memo_key);
    PyObject *fresh = PyDict_New();

    if (fresh == NULL)
        return NULL;
    if (tss_set(memo_key, fresh) != thrd_success) {
        Py_DECREF(fresh);
        PyErr_SetString(PyExc_RuntimeError, "tss_set failed");
        return NULL;
    }
    drop_ref(old);
    Py_RETURN_NONE;
}

static PyObject *
cache_lookup(PyObject *module, PyObject *key)
{
    codec_cache *c = get_cache();
    PyObject *v;

    if (c == NULL)
        return NULL;
    v = PyDict_GetItemWithError(c->dict, key);
    if (v == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    Py_INCREF(v);
    return v;
}

static int
codec_exec(PyObject *module)
{
    if (tss_create(&cache_key, bad_tss_cache_free) != thrd_success ||
        tss_create(&cache2_key, ok_tss_cache_free) != thrd_success ||
        tss_create(&buf_key, ok_tss_buf_free) != thrd_success ||
        tss_create(&memo_key, bad_tss_memo_free) != thrd_success ||
        tss_create(&memo2_key, ok_tss_memo_free) != thrd_success) {
        PyErr_SetString(PyExc_RuntimeError, "tss_create failed");
        return -1;
    }
    return 0;
}

static PyMethodDef codec_methods[] = {
    {"reset_memo", reset_memo, METH_NOARGS, NULL},
    {"cache_lookup", cache_lookup, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyModuleDef_Slot codec_slots[] = {
    {Py_mod_exec, codec_exec},
    {0, NULL}
};

static struct PyModuleDef codec_module = {
    PyModuleDef_HEAD_INIT, "_codeccache", NULL, 0, codec_methods, codec_slots,
};

PyMODINIT_FUNC
PyInit__codeccache(void)
{
    return PyModuleDef_Init(&codec_module);
}
