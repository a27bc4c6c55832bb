#include <Python.h>
#include "ft_api.h"

typedef struct {
    PyObject_HEAD
    PyObject *counts;       /* dict: element -> int */
    Py_ssize_t total;
} CounterObject;

static PyTypeObject *Counter_Type;

static int
helper_counter_bump(CounterObject *self, PyObject *elem, long delta)
{
    PyObject *old = NULL, *newval;
    long cur = 0;
    int rc = PyDict_GetItemRef(self->counts, elem, &old);

    if (rc < 0) {
        return -1;
    }
    if (rc > 0) {
        cur = PyLong_AsLong(old);
        Py_DECREF(old);
        if (cur == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    newval = PyLong_FromLong(cur + delta);
    if (newval == NULL) {
        return -1;
    }
    rc = PyDict_SetItem(self->counts, elem, newval);
    Py_DECREF(newval);
    if (rc == 0) {
        self->total += delta;
    }
    return rc;
}

static PyObject *
ok_counter_add(CounterObject *self, PyObject *args)
{
    PyObject *elem;
    long n = 1;
    PyCriticalSection cs;

    if (!PyArg_ParseTuple(args, "O|l:add", &elem, &n)) {
        return NULL;
    }

    PyCriticalSection_Begin(&cs, (PyObject *)self);
    if (n < 0) {
        PyCriticalSection_End(&cs);
        PyErr_SetString(PyExc_ValueError, "count must be non-negative");
        return NULL;
    }
    if (helper_counter_bump(self, elem, n) < 0) {
        PyCriticalSection_End(&cs);
        return NULL;
    }
    PyCriticalSection_End(&cs);
    Py_RETURN_NONE;
}

static PyObject *
bad_counter_sub(CounterObject *self, PyObject *args)
{
    PyObject *elem;
    long n = 1;
    PyCriticalSection cs;

    if (!PyArg_ParseTuple(args, "O|l:sub", &elem, &n)) {
        return NULL;
    }

    PyCriticalSection_Begin(&cs, (PyObject *)self);
    if (self->total < n) {
        PyErr_SetString(PyExc_ValueError, "counter would go negative");
        return NULL;
    }
    if (helper_counter_bump(self, elem, -n) < 0) {
        PyCriticalSection_End(&cs);
        return NULL;
    }
    PyCriticalSection_End(&cs);
    Py_RETURN_NONE;
}

static PyObject *
bad_counter_merge(CounterObject *self, PyObject *other_obj)
{
    CounterObject *other;
    PyCriticalSection2 cs;
    Py_ssize_t pos = 0;
    PyObject *key, *value;

    if (!PyObject_TypeCheck(other_obj, Counter_Type)) {
        PyErr_SetString(PyExc_TypeError, "expected a Counter");
        return NULL;
    }
    other = (CounterObject *)other_obj;

    PyCriticalSection2_Begin(&cs, (PyObject *)self, other->counts);
    while (PyDict_Next(other->counts, &pos, &key, &value)) {
        long n = PyLong_AsLong(value);
        if (n == -1 && PyErr_Occurred()) {
            PyCriticalSection2_End(&cs);
            return NULL;
        }
        if (helper_counter_bump(self, key, n) < 0) {
            return NULL;
        }
    }
    PyCriticalSection2_End(&cs);
    Py_RETURN_NONE;
}

static PyObject *
ok_counter_merge(CounterObject *self, PyObject *other_obj)
{
    CounterObject *other;
    PyCriticalSection2 cs;
    PyObject *snapshot, *items;
    Py_ssize_t i, n;

    if (!PyObject_TypeCheck(other_obj, Counter_Type)) {
        PyErr_SetString(PyExc_TypeError, "expected a Counter");
        return NULL;
    }
    other = (CounterObject *)other_obj;

    PyCriticalSection2_Begin(&cs, (PyObject *)self, (PyObject *)other);
    snapshot = PyDict_Copy(other->counts);
    if (snapshot == NULL) {
        PyCriticalSection2_End(&cs);
        return NULL;
    }
    items = PyDict_Items(snapshot);
    Py_DECREF(snapshot);
    if (items == NULL) {
        PyCriticalSection2_End(&cs);
        return NULL;
    }
    n = PyList_GET_SIZE(items);
    for (i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(items, i);
        long cnt = PyLong_AsLong(PyTuple_GET_ITEM(pair, 1));
        if ((cnt == -1 && PyErr_Occurred())
            || helper_counter_bump(self, PyTuple_GET_ITEM(pair, 0), cnt) < 0)
        {
            Py_DECREF(items);
            PyCriticalSection2_End(&cs);
            return NULL;
        }
    }
    PyCriticalSection2_End(&cs);
    Py_DECREF(items);
    Py_RETURN_NONE;
}

static PyObject *
bad_counter_reset(CounterObject *self, PyObject *keys)
{
    PyCriticalSection cs;
    PyObject *it, *key;

    it = PyObject_GetIter(keys);
    if (it == NULL) {
        return NULL;
    }
    PyCriticalSection_Begin(&cs, (PyObject *)self);
    while ((key = PyIter_Next(it)) != NULL) {
        int rc = PyDict_DelItem(self->counts, key);
        Py_DECREF(key);
        if (rc < 0) {
            goto fail;
        }
    }
    if (PyErr_Occurred()) {
        goto fail;
    }
    PyCriticalSection_End(&cs);
    Py_DECREF(it);
    Py_RETURN_NONE;

fail:
    Py_DECREF(it);
    return NULL;
}

static PyObject *
ok_counter_reset(CounterObject *self, PyObject *keys)
{
    PyCriticalSection cs;
    PyObject *it, *key;

    it = PyObject_GetIter(keys);
    if (it == NULL) {
        return NULL;
    }
    PyCriticalSection_Begin(&cs, (PyObject *)self);
    while ((key = PyIter_Next(it)) != NULL) {
        int rc = PyDict_DelItem(self->counts, key);
        Py_DECREF(key);
        if (rc < 0) {
            goto fail;
        }
    }
    if (PyErr_Occurred()) {
        goto fail;
    }
    PyCriticalSection_End(&cs);
    Py_DECREF(it);
    Py_RETURN_NONE;

fail:
    PyCriticalSection_End(&cs);
    Py_DECREF(it);
    return NULL;
}

static PyObject *
ok_counter_most(CounterObject *self, PyObject *Py_UNUSED(ignored))
{
    PyCriticalSection cs;
    PyObject *best = NULL;
    long best_n = -1;
    Py_ssize_t pos = 0;
    PyObject *key, *value;

    PyCriticalSection_Begin(&cs, self->counts);
    while (PyDict_Next(self->counts, &pos, &key, &value)) {
        long n = PyLong_AsLong(value);
        if (n == -1 && PyErr_Occurred()) {
            Py_CLEAR(best);
            break;
        }
        if (n > best_n) {
            best_n = n;
            Py_XSETREF(best, Py_NewRef(key));
        }
    }
    PyCriticalSection_End(&cs);

    if (best == NULL && !PyErr_Occurred()) {
        Py_RETURN_NONE;
    }
    return best;
}

static PyMethodDef counter_methods[] = {
    {"add", (PyCFunction)ok_counter_add, METH_VARARGS, NULL},
    {"sub", (PyCFunction)bad_counter_sub, METH_VARARGS, NULL},
    {"merge", (PyCFunction)ok_counter_merge, METH_O, NULL},
    {"merge_fast", (PyCFunction)bad_counter_merge, METH_O, NULL},
    {"reset", (PyCFunction)ok_counter_reset, METH_O, NULL},
    {"reset_fast", (PyCFunction)bad_counter_reset, METH_O, NULL},
    {"most_common", (PyCFunction)ok_counter_most, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

int
helper_counter_init_type(PyObject *module)
{
    static PyType_Slot slots[] = {
        {Py_tp_methods, counter_methods},
        {0, NULL},
    };
    static PyType_Spec spec = {
        "counters.Counter", sizeof(CounterObject), 0,
        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, slots
    };
    Counter_Type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &spec,
                                                            NULL);
    if (Counter_Type == NULL) {
        return -1;
    }
    return PyModule_AddType(module, Counter_Type);
}
