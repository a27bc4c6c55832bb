/* borrowed-ref-free-threading: a plugin registry (module state), an
 * attribute cache object and a list iterator.  On a free-threaded build a
 * borrowed reference into a container that other threads can mutate may
 * be freed before the caller takes its own reference. */
#include <Python.h>
#include "ft_fixture.h"

typedef struct {
    PyObject *registry;     /* dict name -> plugin, shared by every thread */
    PyObject *interned;     /* dict str -> str */
} registry_state;

typedef struct {
    PyObject_HEAD
    PyObject *cache;        /* dict, written by several threads */
    PyObject *items;        /* list */
    PyObject *attrs;        /* dict, pointer fixed after __init__ */
} CacheObject;

typedef struct {
    PyObject_HEAD
    PyObject *seq;          /* list being iterated; index guarded by seq's lock */
    Py_ssize_t index;
} ListIterObject;

static inline registry_state *
get_state(PyObject *module)
{
    return (registry_state *)PyModule_GetState(module);
}

// BAD: borrowed-ref-free-threading PyDict_GetItemWithError on the shared module-state registry, reference taken only afterwards
static PyObject *
bad_registry_lookup(PyObject *module, PyObject *name)
{
    registry_state *st = get_state(module);
    PyObject *plugin = PyDict_GetItemWithError(st->registry, name);
    if (plugin == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetObject(PyExc_LookupError, name);
        }
        return NULL;
    }
    return Py_NewRef(plugin);
}

// OK: PyDict_GetItemRef returns a strong reference atomically
static PyObject *
ok_registry_lookup(PyObject *module, PyObject *name)
{
    registry_state *st = get_state(module);
    PyObject *plugin;
    int rc = PyDict_GetItemRef(st->registry, name, &plugin);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        PyErr_SetObject(PyExc_LookupError, name);
        return NULL;
    }
    return plugin;
}

// BAD: borrowed-ref-free-threading PyDict_GetItemString on self->cache, which other threads update
static PyObject *
bad_cache_default_codec(CacheObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *codec = PyDict_GetItemString(self->cache, "default_codec");
    if (codec == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(codec);
}

// OK: PyDict_GetItemStringRef on the shared cache
static PyObject *
ok_cache_default_codec(CacheObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *codec;
    int rc = PyDict_GetItemStringRef(self->cache, "default_codec", &codec);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return codec;
}

// BAD: borrowed-ref-free-threading PyDict_SetDefault on the shared intern table returns a borrowed value
static PyObject *
bad_intern(PyObject *module, PyObject *s)
{
    registry_state *st = get_state(module);
    PyObject *canon = PyDict_SetDefault(st->interned, s, s);
    if (canon == NULL) {
        return NULL;
    }
    return Py_NewRef(canon);
}

// OK: PyDict_SetDefaultRef hands back a strong reference
static PyObject *
ok_intern(PyObject *module, PyObject *s)
{
    registry_state *st = get_state(module);
    PyObject *canon;
    if (PyDict_SetDefaultRef(st->interned, s, s, &canon) < 0) {
        return NULL;
    }
    return canon;
}

// BAD: borrowed-ref-free-threading PyList_GetItem on self->items (another thread may pop it)
static PyObject *
bad_cache_peek(CacheObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *head = PyList_GetItem(self->items, 0);
    if (head == NULL) {
        return NULL;
    }
    return Py_NewRef(head);
}

// OK: PyList_GetItemRef on the shared list
static PyObject *
ok_cache_peek(CacheObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyList_GetItemRef(self->items, 0);
}

// BAD: borrowed-ref-free-threading PyList_GET_ITEM on a caller-supplied list that other threads can mutate
static PyObject *
bad_first_of(PyObject *module, PyObject *lst)
{
    if (!PyList_Check(lst) || PyList_GET_SIZE(lst) == 0) {
        PyErr_SetString(PyExc_ValueError, "expected a non-empty list");
        return NULL;
    }
    (void)module;
    return Py_NewRef(PyList_GET_ITEM(lst, 0));
}

// OK: macro access to the argument list is done inside a critical section on that list
static PyObject *
ok_first_of(PyObject *module, PyObject *lst)
{
    PyObject *first = NULL;
    if (!PyList_Check(lst)) {
        PyErr_SetString(PyExc_TypeError, "expected a list");
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(lst);
    if (PyList_GET_SIZE(lst) > 0) {
        first = Py_NewRef(PyList_GET_ITEM(lst, 0));
    }
    Py_END_CRITICAL_SECTION();
    if (first == NULL) {
        PyErr_SetString(PyExc_ValueError, "expected a non-empty list");
    }
    (void)module;
    return first;
}

// BAD: borrowed-ref-free-threading PyImport_AddModule returns a borrowed entry of the process-wide sys.modules
static PyObject *
bad_main_globals(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *main_mod = PyImport_AddModule("__main__");
    if (main_mod == NULL) {
        return NULL;
    }
    (void)module;
    return PyObject_GetAttrString(main_mod, "__dict__");
}

// OK: PyImport_AddModuleRef returns a strong reference
static PyObject *
ok_main_globals(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *main_mod = PyImport_AddModuleRef("__main__");
    if (main_mod == NULL) {
        return NULL;
    }
    PyObject *d = PyObject_GetAttrString(main_mod, "__dict__");
    Py_DECREF(main_mod);
    (void)module;
    return d;
}

// BAD: borrowed-ref-free-threading PyDict_GetItem on self->attrs with no lock held
static PyObject *
bad_cache_attr(CacheObject *self, PyObject *name)
{
    PyObject *v = PyDict_GetItem(self->attrs, name);
    if (v == NULL) {
        return PyErr_Format(PyExc_AttributeError, "no attribute %R", name);
    }
    return Py_NewRef(v);
}

// OK: borrowed lookup inside a critical section on the dict, strong ref taken before END
static PyObject *
ok_cache_attr(CacheObject *self, PyObject *name)
{
    PyObject *v = NULL;
    PyObject *attrs = self->attrs;
    Py_BEGIN_CRITICAL_SECTION(attrs);
    PyObject *b = PyDict_GetItemWithError(attrs, name);
    if (b != NULL) {
        v = Py_NewRef(b);
    }
    Py_END_CRITICAL_SECTION();
    if (v == NULL && !PyErr_Occurred()) {
        PyErr_Format(PyExc_AttributeError, "no attribute %R", name);
    }
    return v;
}

// BAD: borrowed-ref-free-threading iterator reads the shared list with PyList_GET_ITEM outside any critical section
static PyObject *
bad_listiter_next(ListIterObject *it)
{
    PyObject *seq = it->seq;
    if (it->index >= PyList_GET_SIZE(seq)) {
        return NULL;
    }
    PyObject *item = PyList_GET_ITEM(seq, it->index);
    it->index++;
    return Py_NewRef(item);
}

// OK: iterator takes the list's critical section around index check, GET_ITEM and INCREF
static PyObject *
ok_listiter_next(ListIterObject *it)
{
    PyObject *item = NULL;
    PyObject *seq = it->seq;
    Py_BEGIN_CRITICAL_SECTION(seq);
    if (it->index < PyList_GET_SIZE(seq)) {
        item = Py_NewRef(PyList_GET_ITEM(seq, it->index));
        it->index++;
    }
    Py_END_CRITICAL_SECTION();
    return item;
}

// OK: list created here and not yet published, so borrowed PyList_GET_ITEM access is safe
static PyObject *
ok_build_pairs(PyObject *module, PyObject *n_obj)
{
    Py_ssize_t n = PyLong_AsSsize_t(n_obj);
    if (n < 0) {
        return NULL;
    }
    PyObject *lst = PyList_New(n);
    if (lst == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromSsize_t(i * 2);
        if (v == NULL) {
            Py_DECREF(lst);
            return NULL;
        }
        PyList_SET_ITEM(lst, i, v);
    }
    /* report (list, last element); the list is still private to us */
    PyObject *last = n > 0 ? PyList_GET_ITEM(lst, n - 1) : Py_None;
    PyObject *res = PyTuple_Pack(2, lst, last);
    Py_DECREF(lst);
    (void)module;
    return res;
}

// OK: dict built locally from keyword pairs and read back before anyone else can see it
static PyObject *
ok_make_options(PyObject *module, PyObject *verbose)
{
    PyObject *opts = PyDict_New();
    if (opts == NULL) {
        return NULL;
    }
    if (PyDict_SetItemString(opts, "verbose", verbose) < 0
        || PyDict_SetItemString(opts, "level", Py_None) < 0)
    {
        Py_DECREF(opts);
        return NULL;
    }
    PyObject *lvl = PyDict_GetItemString(opts, "level");
    if (lvl == Py_None && PyObject_IsTrue(verbose) == 1) {
        PyObject *one = PyLong_FromLong(1);
        if (one == NULL || PyDict_SetItemString(opts, "level", one) < 0) {
            Py_XDECREF(one);
            Py_DECREF(opts);
            return NULL;
        }
        Py_DECREF(one);
    }
    (void)module;
    return opts;
}
