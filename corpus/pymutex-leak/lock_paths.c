// gilcheck-args: -I../include
// A PyMutex locked on a path that returns without unlocking it stays locked; the next locker waits forever.
#include "freethreading_api.h"

typedef struct { PyMutex lock; PyObject *items; Py_ssize_t version; } Registry;
static Registry registry;
static PyMutex counters_lock;
static long counters[8];

static int bad_registry_add(PyObject *key, PyObject *value)
{
    PyMutex_Lock(&registry.lock);
    if (registry.items == NULL)
        return -1;                            // expect-error{{PyMutex 'registry.lock' begun by PyMutex_Lock() is not ended before this return}} [pymutex-leak]
    int rc = PyDict_SetItem(registry.items, key, value);
    registry.version++;
    PyMutex_Unlock(&registry.lock);
    return rc;
}

static void bad_count(int slot)
{
    PyMutex_Lock(&counters_lock);
    if (slot < 0 || slot >= 8)
        return;                               // expect-error{{is not ended}} [pymutex-leak]
    counters[slot]++;
    PyMutex_Unlock(&counters_lock);
}

static int ok_registry_add(PyObject *key, PyObject *value)
{
    int rc = -1;
    PyMutex_Lock(&registry.lock);
    if (registry.items != NULL) {
        rc = PyDict_SetItem(registry.items, key, value);
        registry.version++;
    }
    PyMutex_Unlock(&registry.lock);
    return rc;
}

// Lock helpers hand the locked mutex to their caller.
static void ok_registry_lock(Registry *r) { PyMutex_Lock(&r->lock); }
static void ok_registry_unlock(Registry *r) { PyMutex_Unlock(&r->lock); }
