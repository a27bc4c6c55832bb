// Paths that reach PyGILState_Release() without having gone through the PyGILState_Ensure() for that state.
#include <Python.h>

extern int prepare(void);

int bad_early_goto_to_release(PyObject *cb)
{
    PyGILState_STATE st;
    int rc = -1;
    if (prepare() < 0)
        goto out;
    st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cb);
    Py_XDECREF(r);
    rc = r ? 0 : -1;
out:
    PyGILState_Release(st);     // expect-error{{not held on this path}} [release-without-ensure]
    return rc;
}

void bad_ensure_only_in_one_branch(PyObject *o, int mode)
{
    PyGILState_STATE st;
    if (mode == 1)
        st = PyGILState_Ensure();
    else if (mode == 2)
        Py_XINCREF(o);
    PyGILState_Release(st);     // expect-error{{not held on this path}} [release-without-ensure]
}

void bad_release_again_after_loop(PyObject **v, int n)
{
    PyGILState_STATE st;
    int i = 0;
    do {
        st = PyGILState_Ensure();
        Py_XDECREF(v[i]);
        PyGILState_Release(st);
    } while (++i < n);
    /* The last iteration already gave this state back. */
    PyGILState_Release(st);     // expect-error{{already released}} [release-without-ensure]
}

int ok_goto_past_both(PyObject *cb)
{
    if (prepare() < 0)
        goto out;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cb);
    Py_XDECREF(r);
    PyGILState_Release(st);
out:
    return 0;
}
