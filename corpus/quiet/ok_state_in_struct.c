// The Ensure state kept in a struct: taken in one function, given back in another (both fine), or
// taken and given back through the same field in one function.
#include <Python.h>

typedef struct {
    PyGILState_STATE gil;
    PyObject *handler;
    int events;
} dispatch_t;

typedef struct { dispatch_t *d; int pad; } outer_t;

void ok_dispatch_begin(dispatch_t *d)
{
    d->gil = PyGILState_Ensure();
    d->events = 0;
}

void ok_dispatch_end(dispatch_t *d)
{
    if (d->events > 0 && PyErr_Occurred())
        PyErr_Print();
    PyGILState_Release(d->gil);
}

int ok_same_field(dispatch_t *d, long v)
{
    d->gil = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(d->handler, "l", v);
    if (r == NULL) {
        PyErr_Print();
        PyGILState_Release(d->gil);
        return -1;
    }
    Py_DECREF(r);
    d->events++;
    PyGILState_Release(d->gil);
    return 0;
}

void ok_local_struct(PyObject *o)
{
    dispatch_t local;
    local.gil = PyGILState_Ensure();
    Py_XDECREF(o);
    PyGILState_Release(local.gil);
}

void ok_nested_field(outer_t *o)
{
    o->d->gil = PyGILState_Ensure();
    o->d->events++;
    PyGILState_Release(o->d->gil);
}

void ok_array_of_states(PyObject *o)
{
    PyGILState_STATE st[2];
    st[0] = PyGILState_Ensure();
    Py_INCREF(o);
    Py_DECREF(o);
    PyGILState_Release(st[0]);
}
