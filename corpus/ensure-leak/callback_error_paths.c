// A C library callback that converts its arguments to Python objects; two error returns forget the GIL.
#include <Python.h>

struct event { int type; double x, y; const char *name; };

typedef struct { PyObject *handler; PyObject *event_type; } bridge_t;

int bad_on_event(const struct event *ev, void *user)
{
    bridge_t *b = user;
    PyGILState_STATE st = PyGILState_Ensure();      // expect-note{{GIL acquired here}}

    PyObject *name = PyUnicode_FromString(ev->name);
    if (name == NULL)
        return -1;                                  // expect-error{{is not released before this return}} [ensure-leak]

    PyObject *obj = PyObject_CallFunction(b->event_type, "iddO", ev->type, ev->x, ev->y, name);
    Py_DECREF(name);
    if (obj == NULL) {
        PyErr_Print();
        PyGILState_Release(st);
        return -1;
    }

    PyObject *r = PyObject_CallOneArg(b->handler, obj);
    Py_DECREF(obj);
    if (r == NULL) {
        PyErr_Print();
        return -1;                                  // expect-error{{is not released}} [ensure-leak]
    }
    Py_DECREF(r);
    PyGILState_Release(st);
    return 0;
}

int ok_on_event(const struct event *ev, void *user)
{
    bridge_t *b = user;
    int rc = -1;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(b->handler, "is", ev->type, ev->name);
    if (r != NULL) {
        Py_DECREF(r);
        rc = 0;
    } else {
        PyErr_Print();
    }
    PyGILState_Release(st);
    return rc;
}

/* The acquisition in a condition: the state is held in the then-branch and must be released there. */
int bad_ensure_in_condition(void *user, int verbose)
{
    bridge_t *b = user;
    PyGILState_STATE st;
    if (verbose && (st = PyGILState_Ensure(), b->handler != NULL)) {
        PyObject *r = PyObject_CallNoArgs(b->handler);
        Py_XDECREF(r);
        PyGILState_Release(st);
    }
    return 0;   // expect-error{{is not released}} [ensure-leak]
}
