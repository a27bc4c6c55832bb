#include <Python.h>
#include "ft_api.h"

typedef struct {
    PyObject_HEAD
    PyObject *table;        /* dict: key -> value */
    PyObject *order;        /* list of keys, oldest first */
    Py_ssize_t maxsize;
    Py_ssize_t hits;
    Py_ssize_t misses;
} LRUObject;

static int
helper_lru_evict(LRUObject *self)
{
    PyObject *oldest;
    int rc;

    if (PyList_GET_SIZE(self->order) == 0) {
        return 0;
    }
    oldest = PyList_GetItemRef(self->order, 0);
    if (oldest == NULL) {
        return -1;
    }
    rc = PyDict_DelItem(self->table, oldest);
    Py_DECREF(oldest);
    if (rc < 0) {
        return -1;
    }
    return PySequence_DelItem(self->order, 0);
}

static PyObject *
bad_lru_get(LRUObject *self, PyObject *key)
{
    PyObject *value = NULL;
    int rc;

    Py_BEGIN_CRITICAL_SECTION(self);
    rc = PyDict_GetItemRef(self->table, key, &value);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        self->misses++;
        PyErr_SetObject(PyExc_KeyError, key);
    }
    else {
        self->hits++;
    }
    Py_END_CRITICAL_SECTION();
    return value;
}

static PyObject *
ok_lru_get(LRUObject *self, PyObject *key)
{
    PyObject *value = NULL;
    int rc;

    Py_BEGIN_CRITICAL_SECTION(self);
    rc = PyDict_GetItemRef(self->table, key, &value);
    if (rc < 0) {
        goto done;
    }
    if (rc == 0) {
        self->misses++;
        PyErr_SetObject(PyExc_KeyError, key);
        goto done;
    }
    self->hits++;
done:
    Py_END_CRITICAL_SECTION();
    return value;
}

static PyObject *
bad_lru_resize(LRUObject *self, PyObject *arg)
{
    Py_ssize_t newsize = PyLong_AsSsize_t(arg);
    if (newsize == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (newsize <= 0) {
        PyErr_SetString(PyExc_ValueError, "maxsize must be positive");
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION(self);
    self->maxsize = newsize;
    while (PyList_GET_SIZE(self->order) > self->maxsize) {
        if (helper_lru_evict(self) < 0) {
            goto error;
        }
    }
    Py_END_CRITICAL_SECTION();
    Py_RETURN_NONE;

error:
    return NULL;
}

static PyObject *
ok_lru_resize(LRUObject *self, PyObject *arg)
{
    int failed = 0;
    Py_ssize_t newsize = PyLong_AsSsize_t(arg);
    if (newsize == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (newsize <= 0) {
        PyErr_SetString(PyExc_ValueError, "maxsize must be positive");
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION(self);
    self->maxsize = newsize;
    while (PyList_GET_SIZE(self->order) > self->maxsize) {
        if (helper_lru_evict(self) < 0) {
            failed = 1;
            break;
        }
    }
    Py_END_CRITICAL_SECTION();

    if (failed) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
bad_lru_find_value(LRUObject *self, PyObject *needle)
{
    PyObject *found = NULL;
    Py_ssize_t i, n;

    Py_BEGIN_CRITICAL_SECTION(self);
    n = PyList_GET_SIZE(self->order);
    Py_END_CRITICAL_SECTION();

    for (i = 0; i < n; i++) {
        PyObject *key, *value = NULL;
        int rc;

        Py_BEGIN_CRITICAL_SECTION(self);
        key = PyList_GetItemRef(self->order, i);
        if (key == NULL) {
            PyErr_Clear();
            break;
        }
        rc = PyDict_GetItemRef(self->table, key, &value);
        if (rc > 0 && value == needle) {
            found = key;
        }
        else {
            Py_DECREF(key);
        }
        Py_XDECREF(value);
        Py_END_CRITICAL_SECTION();

        if (found != NULL || rc < 0) {
            break;
        }
    }
    if (found == NULL && !PyErr_Occurred()) {
        Py_RETURN_NONE;
    }
    return found;
}

static PyObject *
ok_lru_scan(LRUObject *self, PyObject *needle)
{
    PyObject *found = NULL;
    Py_ssize_t i;

    Py_BEGIN_CRITICAL_SECTION(self);
    for (i = 0; i < PyList_GET_SIZE(self->order); i++) {
        PyObject *key = PyList_GetItemRef(self->order, i);
        if (key == NULL) {
            break;
        }
        if (key == needle) {
            found = key;
            break;
        }
        Py_DECREF(key);
    }
    Py_END_CRITICAL_SECTION();

    if (found == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_FALSE;
    }
    Py_DECREF(found);
    Py_RETURN_TRUE;
}

static PyObject *
bad_lru_touch_all(LRUObject *self, PyObject *keys)
{
    Py_ssize_t i, n;

    if (!PyTuple_Check(keys)) {
        PyErr_SetString(PyExc_TypeError, "expected a tuple of keys");
        return NULL;
    }
    n = PyTuple_GET_SIZE(keys);
    for (i = 0; i < n; i++) {
        PyObject *key = PyTuple_GET_ITEM(keys, i);
        Py_ssize_t idx;
        int rc;

        Py_BEGIN_CRITICAL_SECTION(self);
        rc = PyDict_Contains(self->table, key);
        if (rc <= 0) {
            PyErr_Clear();
            continue;
        }
        idx = PySequence_Index(self->order, key);
        if (idx >= 0 && PySequence_DelItem(self->order, idx) == 0) {
            (void)PyList_Append(self->order, key);
        }
        Py_END_CRITICAL_SECTION();
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ok_lru_clear(LRUObject *self, PyObject *Py_UNUSED(ignored))
{
    int err = 0;

    Py_BEGIN_CRITICAL_SECTION(self);
    do {
        if (PyList_GET_SIZE(self->order) == 0) {
            break;
        }
        if (PyList_SetSlice(self->order, 0, PY_SSIZE_T_MAX, NULL) < 0) {
            err = 1;
            break;
        }
        PyDict_Clear(self->table);
        self->hits = self->misses = 0;
    } while (0);
    Py_END_CRITICAL_SECTION();

    if (err) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
bad_lru_merge_from(LRUObject *self, PyObject *other_obj)
{
    LRUObject *other = (LRUObject *)other_obj;
    PyObject *keys;

    Py_BEGIN_CRITICAL_SECTION(self);
    Py_BEGIN_CRITICAL_SECTION(other);
    keys = PyDict_Keys(other->table);
    if (keys == NULL) {
        return NULL;
    }
    if (PyDict_Update(self->table, other->table) < 0) {
        Py_CLEAR(keys);
    }
    else if (PyList_SetSlice(self->order, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX,
                             keys) < 0) {
        Py_CLEAR(keys);
    }
    Py_END_CRITICAL_SECTION();
    Py_END_CRITICAL_SECTION();

    if (keys == NULL) {
        return NULL;
    }
    Py_DECREF(keys);
    Py_RETURN_NONE;
}

static PyObject *
ok_lru_merge_from(LRUObject *self, PyObject *other_obj)
{
    LRUObject *other = (LRUObject *)other_obj;
    PyObject *keys = NULL;

    Py_BEGIN_CRITICAL_SECTION(self);
    Py_BEGIN_CRITICAL_SECTION(other);
    keys = PyDict_Keys(other->table);
    if (keys != NULL) {
        if (PyDict_Update(self->table, other->table) < 0
            || PyList_SetSlice(self->order, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX,
                               keys) < 0)
        {
            Py_CLEAR(keys);
        }
    }
    Py_END_CRITICAL_SECTION();
    Py_END_CRITICAL_SECTION();

    if (keys == NULL) {
        return NULL;
    }
    Py_DECREF(keys);
    Py_RETURN_NONE;
}

static PyMethodDef lru_methods[] = {
    {"get", (PyCFunction)ok_lru_get, METH_O, NULL},
    {"get_fast", (PyCFunction)bad_lru_get, METH_O, NULL},
    {"resize", (PyCFunction)ok_lru_resize, METH_O, NULL},
    {"resize_fast", (PyCFunction)bad_lru_resize, METH_O, NULL},
    {"find_value", (PyCFunction)bad_lru_find_value, METH_O, NULL},
    {"scan", (PyCFunction)ok_lru_scan, METH_O, NULL},
    {"touch_all", (PyCFunction)bad_lru_touch_all, METH_O, NULL},
    {"clear", (PyCFunction)ok_lru_clear, METH_NOARGS, NULL},
    {"merge_from", (PyCFunction)ok_lru_merge_from, METH_O, NULL},
    {"merge_from_fast", (PyCFunction)bad_lru_merge_from, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static void
helper_lru_dealloc(LRUObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->table);
    Py_CLEAR(self->order);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyType_Slot lru_slots[] = {
    {Py_tp_dealloc, helper_lru_dealloc},
    {Py_tp_methods, lru_methods},
    {0, NULL},
};

PyType_Spec LRU_spec = {
    .name = "lrucache.LRU",
    .basicsize = sizeof(LRUObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = lru_slots,
};
