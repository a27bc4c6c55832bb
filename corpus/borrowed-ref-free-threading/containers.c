// gilcheck-free-threading
// gilcheck-args: -I../include
// Borrowed references into containers another thread may change: reported in free-threading mode, unless
// the container is this function's own (created here, not yet stored) or a critical section on it is held.
#include "freethreading_api.h"

static PyObject *handlers;   /* a dict shared by every thread */
static PyObject *queue;      /* a list shared by every thread */

PyObject *bad_dispatch(PyObject *self, PyObject *name)
{
    PyObject *h = PyDict_GetItemWithError(handlers, name);  // expect-warning{{returns a borrowed reference into 'handlers'}} [borrowed-ref-free-threading]
    if (h == NULL)
        return NULL;
    return PyObject_CallNoArgs(h);
}

PyObject *bad_first(PyObject *self, PyObject *unused)
{
    PyObject *item = PyList_GetItem(queue, 0);  // expect-warning{{use PyList_GetItemRef() (3.13)}} [borrowed-ref-free-threading]
    return Py_XNewRef(item);
}

int bad_count_keys(PyObject *self, PyObject *unused)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int n = 0;
    while (PyDict_Next(handlers, &pos, &k, &v))  // expect-warning{{critical section on the dict}} [borrowed-ref-free-threading]
        n++;
    return n;
}

PyObject *ok_dispatch_locked(PyObject *self, PyObject *name)
{
    PyObject *h;
    Py_BEGIN_CRITICAL_SECTION(handlers);
    h = PyDict_GetItemWithError(handlers, name);
    Py_XINCREF(h);
    Py_END_CRITICAL_SECTION();
    if (h == NULL)
        return NULL;
    PyObject *r = PyObject_CallNoArgs(h);
    Py_DECREF(h);
    return r;
}

PyObject *ok_own_dict(PyObject *self, PyObject *words)
{
    PyObject *seen = PyDict_New();
    if (seen == NULL)
        return NULL;
    if (PyDict_SetItemString(seen, "a", Py_None) < 0 || PyDict_GetItemString(seen, "a") == NULL) {
        Py_DECREF(seen);
        return NULL;
    }
    return seen;
}

PyObject *ok_own_copy(PyObject *self, PyObject *seq)
{
    PyObject *copy = PySequence_List(seq);
    if (copy == NULL)
        return NULL;
    PyObject *first = PyList_GetItem(copy, 0);
    Py_XINCREF(first);
    Py_DECREF(copy);
    return first;
}
