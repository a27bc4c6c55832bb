// gilcheck-args: -I../include
// PEP 788 thread-state tokens: a path that keeps one keeps the thread attached; releasing the NULL a failed
// Ensure returned is a fault of its own; Python used after the release runs detached.
#include "freethreading_api.h"

struct listener { PyInterpreterGuard *guard; PyInterpreterView *view; PyObject *callback; PyObject *last; };

int bad_notify(struct listener *l, int code)
{
    PyThreadStateToken *tok = PyThreadState_Ensure(l->guard);
    if (tok == NULL)
        return -1;
    PyObject *r = PyObject_CallFunction(l->callback, "i", code);
    if (r == NULL)
        return -1;                            // expect-error{{thread-state token 'tok' begun by PyThreadState_Ensure() is not ended}} [thread-state-token-leak]
    Py_DECREF(r);
    PyThreadState_Release(tok);
    return 0;
}

int bad_release_failed(struct listener *l)
{
    PyThreadStateToken *tok = PyThreadState_EnsureFromView(l->view);
    if (tok == NULL) {
        PyThreadState_Release(tok);           // expect-error{{on the path where its acquisition returned NULL}} [thread-state-token-leak]
        return -1;
    }
    PyThreadState_Release(tok);
    return 0;
}

int bad_keep_result(struct listener *l)
{
    PyThreadStateToken *tok = PyThreadState_Ensure(l->guard);
    if (tok == NULL)
        return -1;
    PyObject *r = PyObject_CallNoArgs(l->callback);
    PyThreadState_Release(tok);
    Py_XSETREF(l->last, r);                   // expect-error{{needs the GIL, which is released on this path}} [api-without-gil]
    return 0;
}

int ok_notify(struct listener *l, int code)
{
    int rc = 0;
    PyThreadStateToken *tok = PyThreadState_Ensure(l->guard);
    if (tok == NULL)
        return -1;
    PyObject *r = PyObject_CallFunction(l->callback, "i", code);
    if (r == NULL) {
        PyErr_WriteUnraisable(l->callback);
        rc = -1;
    }
    Py_XDECREF(r);
    PyThreadState_Release(tok);
    return rc;
}
