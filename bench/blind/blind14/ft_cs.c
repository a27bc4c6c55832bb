/* hivecache: small LRU-ish cache object, free-threading aware */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "ft.h"

typedef struct {
    PyObject_HEAD
    PyObject *items;      /* list */
    Py_ssize_t hits;
    Py_ssize_t misses;
    int closed;
} Cache;

static PyMutex g_stats_lock;
static Py_ssize_t g_total_ops;
static Py_ssize_t g_evictions;

static PyObject *bad_cs_return(PyObject *op, PyObject *item)
{
    Cache *self = (Cache *)op;
    Py_BEGIN_CRITICAL_SECTION(self);
    if (self->closed) {
        PyErr_SetString(PyExc_ValueError, "cache closed");
        return NULL;
    }
    self->hits++;
    Py_END_CRITICAL_SECTION();
    Py_RETURN_NONE;
}

static PyObject *ok_cs_normal(PyObject *op, PyObject *item)
{
    Cache *self = (Cache *)op;
    int rc = 0;
    Py_BEGIN_CRITICAL_SECTION(self);
    if (self->closed)
        rc = -1;
    else
        rc = PyList_Append(self->items, item);
    Py_END_CRITICAL_SECTION();
    if (rc < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "cache closed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *bad_cs_goto(PyObject *op, PyObject *item)
{
    Cache *self = (Cache *)op;
    Py_BEGIN_CRITICAL_SECTION(self);
    if (PyList_Append(self->items, item) < 0)
        goto error;
    self->misses++;
    Py_END_CRITICAL_SECTION();
    Py_RETURN_NONE;
error:
    return NULL;
}

static PyObject *ok_cs_inner_break(PyObject *op, PyObject *needle)
{
    Cache *self = (Cache *)op;
    Py_ssize_t found = -1;
    int err = 0;
    Py_BEGIN_CRITICAL_SECTION(self);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(self->items); i++) {
        PyObject *cur = Py_NewRef(PyList_GET_ITEM(self->items, i));
        int eq = PyObject_RichCompareBool(cur, needle, Py_EQ);
        Py_DECREF(cur);
        if (eq < 0) { err = 1; break; }
        if (eq) { found = i; break; }
    }
    Py_END_CRITICAL_SECTION();
    if (err) return NULL;
    return PyLong_FromSsize_t(found);
}

static PyObject *bad_cs2_mismatch(PyObject *op, PyObject *other)
{
    Cache *a = (Cache *)op, *b = (Cache *)other;
    PyCriticalSection2 cs;
    PyCriticalSection2_Begin(&cs, op, other);
    a->hits += b->hits;
    a->misses += b->misses;
    b->hits = b->misses = 0;
    PyCriticalSection_End(&cs._cs_base);
    Py_RETURN_NONE;
}

static PyObject *ok_cs2_merge(PyObject *op, PyObject *other)
{
    Cache *a = (Cache *)op, *b = (Cache *)other;
    Py_BEGIN_CRITICAL_SECTION2(a, b);
    a->hits += b->hits;
    a->misses += b->misses;
    b->hits = b->misses = 0;
    Py_END_CRITICAL_SECTION2();
    Py_RETURN_NONE;
}

static PyObject *bad_mutex_leak(PyObject *op, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    PyMutex_Lock(&g_stats_lock);
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "negative eviction count");
        return NULL;
    }
    g_evictions += n;
    PyMutex_Unlock(&g_stats_lock);
    Py_RETURN_NONE;
}

static PyObject *bad_mutex_double_unlock(PyObject *op, PyObject *noargs)
{
    PyObject *res = NULL;
    PyMutex_Lock(&g_stats_lock);
    g_total_ops++;
    if (g_total_ops < 0) {
        PyMutex_Unlock(&g_stats_lock);
        PyErr_SetString(PyExc_OverflowError, "op counter wrapped");
    } else {
        res = PyLong_FromSsize_t(g_total_ops);
    }
    PyMutex_Unlock(&g_stats_lock);
    return res;
}

static PyObject *ok_mutex_cleanup(PyObject *op, PyObject *noargs)
{
    Py_ssize_t ops, ev;
    int corrupt = 0;
    PyMutex_Lock(&g_stats_lock);
    ops = g_total_ops;
    ev = g_evictions;
    if (ops < 0 || ev < 0) {
        corrupt = 1;
        goto done;
    }
    g_total_ops = 0;
    g_evictions = 0;
done:
    PyMutex_Unlock(&g_stats_lock);
    if (corrupt) {
        PyErr_SetString(PyExc_RuntimeError, "corrupt stats");
        return NULL;
    }
    return Py_BuildValue("nn", ops, ev);
}

static PyMethodDef cache_methods[] = {
    {"touch", bad_cs_return, METH_O, NULL},
    {"add", ok_cs_normal, METH_O, NULL},
    {"add_miss", bad_cs_goto, METH_O, NULL},
    {"index", ok_cs_inner_break, METH_O, NULL},
    {"absorb", bad_cs2_mismatch, METH_O, NULL},
    {"merge", ok_cs2_merge, METH_O, NULL},
    {"evicted", bad_mutex_leak, METH_O, NULL},
    {"tick", bad_mutex_double_unlock, METH_NOARGS, NULL},
    {"drain_stats", ok_mutex_cleanup, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};
static PyTypeObject CacheType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hivecache.Cache", .tp_basicsize = sizeof(Cache),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = cache_methods, .tp_new = PyType_GenericNew,
};
static int helper_exec(PyObject *m)
{
    if (PyType_Ready(&CacheType) < 0) return -1;
    Py_INCREF(&CacheType);
    if (PyModule_AddObject(m, "Cache", (PyObject *)&CacheType) < 0) { Py_DECREF(&CacheType); return -1; }
    return 0;
}
static PyModuleDef_Slot cache_slots[] = {
    {Py_mod_exec, helper_exec},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL}
};
static struct PyModuleDef cache_module = { PyModuleDef_HEAD_INIT, "hivecache", NULL, 0, NULL, cache_slots };

PyMODINIT_FUNC PyInit_hivecache(void)
{
    return PyModuleDef_Init(&cache_module);
}
