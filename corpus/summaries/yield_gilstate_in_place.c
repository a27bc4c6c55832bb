// A helper that lets other threads run: it releases the GIL state its caller passed by pointer and stores a new
// one back in the same place. For the caller nothing changed: the state is still held and still its to release.
#include <Python.h>

extern void do_c_work(void);

static void yield_gil(PyGILState_STATE *st)
{
    PyGILState_Release(*st);
    do_c_work();
    *st = PyGILState_Ensure();
}

/* The same through a local copy of the new state. */
static void yield_gil_copy(PyGILState_STATE *st)
{
    PyGILState_Release(*st);
    do_c_work();
    PyGILState_STATE fresh = PyGILState_Ensure();
    *st = fresh;
}

void ok_yield(PyObject *o)
{
    PyGILState_STATE st = PyGILState_Ensure();
    yield_gil(&st);
    Py_INCREF(o);
    yield_gil_copy(&st);
    Py_DECREF(o);
    PyGILState_Release(st);
}

void ok_yield_in_loop(PyObject *items, int n)
{
    PyGILState_STATE st = PyGILState_Ensure();
    for (int i = 0; i < n; i++) {
        PyObject *r = PyObject_GetItem(items, PyLong_FromLong(i));
        Py_XDECREF(r);
        yield_gil(&st);
    }
    PyGILState_Release(st);
}

/* A helper that only gives the state up: its caller must not release it again. */
static void finish(PyGILState_STATE *st) { PyGILState_Release(*st); }

void bad_release_after_finish(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    finish(&st);
    PyGILState_Release(st);              // expect-error{{already released}} [release-without-ensure]
}

/* The yielding helper leaves the state with its caller: forgetting to release it is still a leak. */
void bad_leak_after_yield(PyObject *o)
{
    PyGILState_STATE st = PyGILState_Ensure();
    yield_gil(&st);                      // expect-note{{re-acquires it in place (summary)}}
    if (!o)
        return;                          // expect-error{{'st' acquired by PyGILState_Ensure() is not released}} [ensure-leak]
    PyGILState_Release(st);
}
