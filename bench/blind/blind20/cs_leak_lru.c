/* critical-section-leak: an LRU cache object and a counter registry whose
 * methods use per-object critical sections (macro and function forms). */
#include <Python.h>
#include "ft_fixture.h"

typedef struct {
    PyObject_HEAD
    PyObject *map;          /* dict key -> value, shared by all threads */
    PyObject *order;        /* list of keys, most recent last */
    Py_ssize_t capacity;
    Py_ssize_t hits;
    Py_ssize_t misses;
} LRUObject;

typedef struct {
    PyObject_HEAD
    PyObject *counters;     /* dict name -> int */
    Py_ssize_t generation;
} RegistryObject;

// BAD: critical-section-leak cache hit returns from inside Py_BEGIN_CRITICAL_SECTION
static PyObject *
bad_lru_get(LRUObject *self, PyObject *key)
{
    PyObject *value = NULL;
    int rc;
    Py_BEGIN_CRITICAL_SECTION(self);
    rc = PyDict_GetItemRef(self->map, key, &value);
    if (rc > 0) {
        self->hits++;
        return value;               /* leaves the section still begun */
    }
    self->misses++;
    Py_END_CRITICAL_SECTION();
    if (rc == 0) {
        PyErr_SetObject(PyExc_KeyError, key);
    }
    return NULL;
}

// OK: hit path stores the result and falls through to END before returning
static PyObject *
ok_lru_get(LRUObject *self, PyObject *key)
{
    PyObject *value = NULL;
    int rc;
    Py_BEGIN_CRITICAL_SECTION(self);
    rc = PyDict_GetItemRef(self->map, key, &value);
    if (rc > 0) {
        self->hits++;
    }
    else {
        self->misses++;
    }
    Py_END_CRITICAL_SECTION();
    if (rc == 0) {
        PyErr_SetObject(PyExc_KeyError, key);
    }
    return value;
}

// BAD: critical-section-leak goto error jumps from inside the section to a label after END
static PyObject *
bad_lru_put(LRUObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "put(key, value)");
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(self);
    if (PyDict_SetItem(self->map, args[0], args[1]) < 0) {
        goto error;
    }
    if (PyList_Append(self->order, args[0]) < 0) {
        goto error;
    }
    Py_END_CRITICAL_SECTION();
    Py_RETURN_NONE;
error:
    return NULL;
}

// OK: error flag set inside the section, checked after END
static PyObject *
ok_lru_put(LRUObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int err = 0;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "put(key, value)");
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(self);
    if (PyDict_SetItem(self->map, args[0], args[1]) < 0
        || PyList_Append(self->order, args[0]) < 0)
    {
        err = 1;
    }
    Py_END_CRITICAL_SECTION();
    if (err) {
        return NULL;
    }
    Py_RETURN_NONE;
}

// BAD: critical-section-leak break out of the scan loop skips Py_END_CRITICAL_SECTION of the per-item section
static Py_ssize_t
bad_registry_first_negative(PyObject *items)
{
    Py_ssize_t n = PyList_Size(items);
    Py_ssize_t found = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GetItemRef(items, i);
        if (item == NULL) {
            return -1;
        }
        Py_BEGIN_CRITICAL_SECTION(item);
        long v = PyLong_AsLong(item);
        if (v < 0) {
            found = i;
            Py_DECREF(item);
            break;                  /* leaves the per-item section open */
        }
        Py_END_CRITICAL_SECTION();
        Py_DECREF(item);
    }
    return found;
}

// OK: break inside a switch inside the section only leaves the switch
static int
ok_registry_bump(RegistryObject *self, PyObject *name, int kind)
{
    int rc = 0;
    Py_BEGIN_CRITICAL_SECTION(self);
    switch (kind) {
    case 0:
        self->generation++;
        break;
    case 1:
        rc = PyDict_SetItem(self->counters, name, Py_None);
        break;
    default:
        rc = PyDict_DelItem(self->counters, name);
        break;
    }
    Py_END_CRITICAL_SECTION();
    return rc;
}

// BAD: critical-section-leak function form, early return on size check never calls PyCriticalSection_End
static PyObject *
bad_lru_evict(LRUObject *self, PyObject *Py_UNUSED(ignored))
{
    PyCriticalSection cs;
    PyCriticalSection_Begin(&cs, (PyObject *)self);
    Py_ssize_t n = PyList_Size(self->order);
    if (n <= self->capacity) {
        Py_RETURN_NONE;             /* returns with cs still begun */
    }
    PyObject *oldest = PyList_GetItemRef(self->order, 0);
    if (oldest != NULL) {
        (void)PySequence_DelItem(self->order, 0);
        (void)PyDict_DelItem(self->map, oldest);
        Py_DECREF(oldest);
    }
    PyCriticalSection_End(&cs);
    Py_RETURN_NONE;
}

// OK: function form, every return is preceded by PyCriticalSection_End
static PyObject *
ok_lru_evict(LRUObject *self, PyObject *Py_UNUSED(ignored))
{
    PyCriticalSection cs;
    PyCriticalSection_Begin(&cs, (PyObject *)self);
    Py_ssize_t n = PyList_Size(self->order);
    if (n <= self->capacity) {
        PyCriticalSection_End(&cs);
        Py_RETURN_NONE;
    }
    PyObject *oldest = PyList_GetItemRef(self->order, 0);
    if (oldest == NULL) {
        PyCriticalSection_End(&cs);
        return NULL;
    }
    (void)PySequence_DelItem(self->order, 0);
    (void)PyDict_DelItem(self->map, oldest);
    Py_DECREF(oldest);
    PyCriticalSection_End(&cs);
    Py_RETURN_NONE;
}

// BAD: critical-section-leak two-object section (function form) returns on the error path without PyCriticalSection2_End
static int
bad_lru_merge(LRUObject *dst, LRUObject *src)
{
    PyCriticalSection2 cs2;
    PyCriticalSection2_Begin(&cs2, (PyObject *)dst, (PyObject *)src);
    if (PyDict_Update(dst->map, src->map) < 0) {
        return -1;
    }
    dst->hits += src->hits;
    dst->misses += src->misses;
    PyCriticalSection2_End(&cs2);
    return 0;
}

// OK: goto to a label that is still inside the section, END follows the label
static int
ok_lru_merge(LRUObject *dst, LRUObject *src)
{
    int rc = -1;
    Py_BEGIN_CRITICAL_SECTION2(dst, src);
    if (PyDict_Update(dst->map, src->map) < 0) {
        goto unlock;
    }
    dst->hits += src->hits;
    dst->misses += src->misses;
    rc = 0;
unlock:
    Py_END_CRITICAL_SECTION2();
    return rc;
}

static PyMutex registry_table_mutex = {0};
static Py_ssize_t registry_table_len = 0;

// OK: mutex-form section around a module-level table, result returned after END
static Py_ssize_t
ok_registry_table_len(void)
{
    Py_ssize_t n;
    Py_BEGIN_CRITICAL_SECTION_MUTEX(&registry_table_mutex);
    n = registry_table_len;
    Py_END_CRITICAL_SECTION();
    return n;
}

// BAD: critical-section-leak continue inside the mutex-form section skips END on filtered entries
static Py_ssize_t
bad_registry_count_live(RegistryObject *self, PyObject *names)
{
    Py_ssize_t n = PyList_Size(names);
    Py_ssize_t live = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_BEGIN_CRITICAL_SECTION_MUTEX(&registry_table_mutex);
        if (registry_table_len == 0) {
            continue;               /* skips PyCriticalSection_End */
        }
        live++;
        Py_END_CRITICAL_SECTION();
    }
    (void)self;
    return live;
}
