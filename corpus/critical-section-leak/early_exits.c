// gilcheck-args: -I../include
// A return, goto or break out of a critical section skips its END: on a free-threaded build the object
// stays locked.
#include "freethreading_api.h"
#include <pthread.h>

typedef struct { PyObject_HEAD PyObject *items; int closed; Py_ssize_t hits; PyMutex stats; } Cache;

static PyObject *bad_cache_get(Cache *self, PyObject *key)
{
    PyObject *v;
    Py_BEGIN_CRITICAL_SECTION(self);
    if (self->closed)
        return NULL;                          // expect-error{{critical section '_py_cs' begun by}} [critical-section-leak]
    v = PyDict_GetItemWithError(self->items, key);
    Py_XINCREF(v);
    self->hits++;
    Py_END_CRITICAL_SECTION();
    return v;
}

static int bad_cache_scan(Cache *self, PyObject *keys)
{
    Py_ssize_t n = PyList_GET_SIZE(keys);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_BEGIN_CRITICAL_SECTION(self);
        if (PyDict_Contains(self->items, PyList_GET_ITEM(keys, i)) < 0)
            break;                            // leaves the section: reported where the path leaves the function
        self->hits++;
        Py_END_CRITICAL_SECTION();
    }
    return 0;                                 // expect-error{{is not ended before this return}} [critical-section-leak]
}

static int bad_cache_clear_goto(Cache *self)
{
    int rc = 0;
    PyCriticalSection cs;
    PyCriticalSection_Begin(&cs, (PyObject *)self);
    if (PyDict_Size(self->items) == 0)
        goto done;
    PyDict_Clear(self->items);
    PyCriticalSection_End(&cs);
done:
    return rc;                                // expect-error{{critical section 'cs' begun by PyCriticalSection_Begin() is not ended}} [critical-section-leak]
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void bad_log_inside_section(Cache *self)
{
    Py_BEGIN_CRITICAL_SECTION(self);
    pthread_mutex_lock(&log_lock);            // expect-warning{{may block inside the critical section '_py_cs'}} [blocking-with-gil]
    self->hits = 0;
    pthread_mutex_unlock(&log_lock);
    Py_END_CRITICAL_SECTION();
}

static PyObject *ok_cache_get(Cache *self, PyObject *key)
{
    PyObject *v = NULL;
    int closed;
    Py_BEGIN_CRITICAL_SECTION(self);
    closed = self->closed;
    if (!closed) {
        v = PyDict_GetItemWithError(self->items, key);
        Py_XINCREF(v);
    }
    Py_END_CRITICAL_SECTION();
    if (closed)
        PyErr_SetString(PyExc_ValueError, "closed");
    return v;
}

static int ok_cache_clear_goto(Cache *self)
{
    PyCriticalSection cs;
    PyCriticalSection_Begin(&cs, (PyObject *)self);
    if (PyDict_Size(self->items) == 0)
        goto done;
    PyDict_Clear(self->items);
done:
    PyCriticalSection_End(&cs);
    return 0;
}

static void ok_stats_section(Cache *self)
{
    Py_BEGIN_CRITICAL_SECTION_MUTEX(&self->stats);
    self->hits = 0;
    PyMutex_Lock(&self->stats);               // a PyMutex wait detaches: not blocking
    PyMutex_Unlock(&self->stats);
    Py_END_CRITICAL_SECTION();
}
