// gilcheck-args: -I../include
// Unlocking a PyMutex this path did not lock (twice, or on a branch that skipped the lock) is a fatal error.
#include "freethreading_api.h"

static PyMutex table_lock;
static PyObject *table;

static int bad_table_update(PyObject *key, PyObject *value, int locked_by_caller)
{
    if (!locked_by_caller)
        PyMutex_Lock(&table_lock);
    int rc = PyDict_SetItem(table, key, value);
    PyMutex_Unlock(&table_lock);              // expect-error{{which is not held on this path}} [pymutex-unlock-without-lock]
    return rc;
}

static int bad_table_clear(void)
{
    PyMutex_Lock(&table_lock);
    if (table == NULL) {
        PyMutex_Unlock(&table_lock);
    }
    PyDict_Clear(table);
    PyMutex_Unlock(&table_lock);              // expect-error{{already released on this path}} [pymutex-unlock-without-lock]
    return 0;
}

static int ok_table_update(PyObject *key, PyObject *value, int locked_by_caller)
{
    if (!locked_by_caller)
        PyMutex_Lock(&table_lock);
    int rc = PyDict_SetItem(table, key, value);
    if (!locked_by_caller)
        PyMutex_Unlock(&table_lock);
    return rc;
}

// Unlocks what its caller locked: the caller's business.
void ok_table_unlock(PyMutex *m) { PyMutex_Unlock(m); }
