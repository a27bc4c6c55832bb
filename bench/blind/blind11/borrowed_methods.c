#include <Python.h>
#include "ft_api.h"

typedef struct {
    PyObject_HEAD
    PyObject *target_ref;   /* weakref to the observed object */
    PyObject *value_cell;   /* cell shared with a closure */
    PyObject *cache;        /* dict, lazily created */
    PyObject *options;      /* dict supplied by the user */
} ObserverObject;

static long
helper_as_long(PyObject *item, int *err)
{
    long v = PyLong_AsLong(item);
    if (v == -1 && PyErr_Occurred()) {
        *err = 1;
    }
    return v;
}

static PyObject *
bad_sum_list(PyObject *module, PyObject *seq)
{
    Py_ssize_t i;
    long total = 0;
    int err = 0;

    if (!PyList_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "expected a list");
        return NULL;
    }
    for (i = 0; i < PyList_GET_SIZE(seq) && !err; i++) {
        total += helper_as_long(PyList_GET_ITEM(seq, i), &err);
    }
    if (err) {
        return NULL;
    }
    return PyLong_FromLong(total);
}

static PyObject *
ok_sum_list(PyObject *module, PyObject *seq)
{
    Py_ssize_t i;
    long total = 0;
    int err = 0;

    if (!PyList_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "expected a list");
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(seq);
    for (i = 0; i < PyList_GET_SIZE(seq) && !err; i++) {
        total += helper_as_long(PyList_GET_ITEM(seq, i), &err);
    }
    Py_END_CRITICAL_SECTION();
    if (err) {
        return NULL;
    }
    return PyLong_FromLong(total);
}

static PyObject *
ok_sum_copy(PyObject *module, PyObject *iterable)
{
    PyObject *items = PySequence_List(iterable);
    Py_ssize_t i, n;
    long total = 0;
    int err = 0;

    if (items == NULL) {
        return NULL;
    }
    n = PyList_GET_SIZE(items);
    for (i = 0; i < n && !err; i++) {
        total += helper_as_long(PyList_GetItem(items, i), &err);
    }
    Py_DECREF(items);
    if (err) {
        return NULL;
    }
    return PyLong_FromLong(total);
}

static PyObject *
ok_build_pairs(PyObject *module, PyObject *args)
{
    Py_ssize_t n, i;
    PyObject *out, *first;

    if (!PyArg_ParseTuple(args, "n:pairs", &n)) {
        return NULL;
    }
    if (n <= 0) {
        return PyList_New(0);
    }
    out = PyList_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyObject *pair = Py_BuildValue("(nn)", i, i * i);
        if (pair == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, pair);
    }
    first = PyList_GET_ITEM(out, 0);
    if (PyTuple_GET_SIZE(first) != 2) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_SystemError, "bad pair");
        return NULL;
    }
    return out;
}

static PyObject *
ok_weighted(PyObject *module, PyObject *args)
{
    PyObject *value, *weight;

    if (PyTuple_GET_SIZE(args) != 2) {
        PyErr_SetString(PyExc_TypeError, "weighted() takes 2 arguments");
        return NULL;
    }
    value = PyTuple_GET_ITEM(args, 0);
    weight = PyTuple_GET_ITEM(args, 1);
    return PyNumber_Multiply(value, weight);
}

static PyObject *
bad_observer_target(ObserverObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *obj = PyWeakref_GetObject(self->target_ref);
    if (obj == NULL) {
        return NULL;
    }
    return Py_NewRef(obj);
}

static PyObject *
ok_observer_target(ObserverObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *obj;
    int rc = PyWeakref_GetRef(self->target_ref, &obj);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return obj;
}

static PyObject *
bad_observer_value(ObserverObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *v = PyCell_GET(self->value_cell);
    if (v == NULL) {
        PyErr_SetString(PyExc_ValueError, "cell is empty");
        return NULL;
    }
    return PyObject_Repr(v);
}

static PyObject *
ok_observer_value(ObserverObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *v = PyCell_Get(self->value_cell);
    PyObject *r;
    if (v == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "cell is empty");
        }
        return NULL;
    }
    r = PyObject_Repr(v);
    Py_DECREF(v);
    return r;
}

static PyObject *
bad_main_namespace(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *main_mod = PyImport_AddModule("__main__");
    if (main_mod == NULL) {
        return NULL;
    }
    return PyObject_GetAttrString(main_mod, "__dict__");
}

static PyObject *
ok_main_namespace(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *main_mod = PyImport_AddModuleRef("__main__");
    PyObject *ns;
    if (main_mod == NULL) {
        return NULL;
    }
    ns = PyObject_GetAttrString(main_mod, "__dict__");
    Py_DECREF(main_mod);
    return ns;
}

static PyObject *
bad_observer_cached(ObserverObject *self, PyObject *key)
{
    PyObject *cache, *hit;

    if (self->cache == NULL) {
        cache = PyDict_New();
        if (cache == NULL) {
            return NULL;
        }
        Py_XSETREF(self->cache, cache);
    }
    hit = PyDict_GetItemWithError(self->cache, key);
    if (hit != NULL) {
        return Py_NewRef(hit);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ok_observer_cached(ObserverObject *self, PyObject *key)
{
    PyObject *hit = NULL;
    int rc = 0;

    Py_BEGIN_CRITICAL_SECTION(self);
    if (self->cache == NULL) {
        self->cache = PyDict_New();
    }
    if (self->cache == NULL) {
        rc = -1;
    }
    else {
        rc = PyDict_GetItemRef(self->cache, key, &hit);
    }
    Py_END_CRITICAL_SECTION();

    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return hit;
}

static PyObject *
ok_index_words(PyObject *module, PyObject *words)
{
    PyObject *index = PyDict_New();
    PyObject *it, *w, *result;

    if (index == NULL) {
        return NULL;
    }
    it = PyObject_GetIter(words);
    if (it == NULL) {
        Py_DECREF(index);
        return NULL;
    }
    while ((w = PyIter_Next(it)) != NULL) {
        PyObject *count = PyDict_GetItemWithError(index, w);
        long n = 0;
        PyObject *nv;
        if (count == NULL && PyErr_Occurred()) {
            Py_DECREF(w);
            break;
        }
        if (count != NULL) {
            n = PyLong_AsLong(count);
        }
        nv = PyLong_FromLong(n + 1);
        if (nv == NULL || PyDict_SetItem(index, w, nv) < 0) {
            Py_XDECREF(nv);
            Py_DECREF(w);
            break;
        }
        Py_DECREF(nv);
        Py_DECREF(w);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_DECREF(index);
        return NULL;
    }
    result = PyDict_Items(index);
    Py_DECREF(index);
    return result;
}

static PyObject *
bad_observer_option(ObserverObject *self, PyObject *name)
{
    const char *key = PyUnicode_AsUTF8(name);
    PyObject *v;

    if (key == NULL) {
        return NULL;
    }
    v = PyDict_GetItemString(self->options, key);
    if (v == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(v);
}

static PyObject *
ok_observer_option(ObserverObject *self, PyObject *name)
{
    const char *key = PyUnicode_AsUTF8(name);
    PyObject *v;
    int rc;

    if (key == NULL) {
        return NULL;
    }
    rc = PyDict_GetItemStringRef(self->options, key, &v);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return v;
}

static PyMethodDef observer_methods[] = {
    {"target", (PyCFunction)ok_observer_target, METH_NOARGS, NULL},
    {"target_fast", (PyCFunction)bad_observer_target, METH_NOARGS, NULL},
    {"value", (PyCFunction)ok_observer_value, METH_NOARGS, NULL},
    {"value_fast", (PyCFunction)bad_observer_value, METH_NOARGS, NULL},
    {"cached", (PyCFunction)ok_observer_cached, METH_O, NULL},
    {"cached_fast", (PyCFunction)bad_observer_cached, METH_O, NULL},
    {"option", (PyCFunction)ok_observer_option, METH_O, NULL},
    {"option_fast", (PyCFunction)bad_observer_option, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMethodDef helpers_methods[] = {
    {"sum_list", ok_sum_list, METH_O, NULL},
    {"sum_list_fast", bad_sum_list, METH_O, NULL},
    {"sum_iter", ok_sum_copy, METH_O, NULL},
    {"pairs", ok_build_pairs, METH_VARARGS, NULL},
    {"weighted", ok_weighted, METH_VARARGS, NULL},
    {"main_ns", ok_main_namespace, METH_NOARGS, NULL},
    {"main_ns_fast", bad_main_namespace, METH_NOARGS, NULL},
    {"index_words", ok_index_words, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyType_Slot observer_slots[] = {
    {Py_tp_methods, observer_methods},
    {0, NULL},
};

PyType_Spec Observer_spec = {
    .name = "observe.Observer",
    .basicsize = sizeof(ObserverObject),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = observer_slots,
};

int
helper_observe_add_functions(PyObject *module)
{
    return PyModule_AddFunctions(module, helpers_methods);
}
