// Acquire and release guarded by the same condition: a flag kept in a local, a parameter, or a struct
// field that does not change between the two tests. Every path pairs up; nothing to report.
#include <Python.h>

typedef struct {
    int from_foreign_thread;
    PyObject *callback;
} listener_t;

extern int poll_device(int fd);

void ok_notify_listener(listener_t *l, long value)
{
    /* Read the flag once: the callback below runs arbitrary code. */
    const int foreign = l->from_foreign_thread;
    PyGILState_STATE gstate;
    if (foreign)
        gstate = PyGILState_Ensure();

    PyObject *arg = PyLong_FromLong(value);
    if (arg != NULL) {
        PyObject *res = PyObject_CallOneArg(l->callback, arg);
        Py_XDECREF(res);
        Py_DECREF(arg);
    }
    if (PyErr_Occurred())
        PyErr_Print();

    if (foreign)
        PyGILState_Release(gstate);
}

int ok_flag_in_local(int fd, int need_gil)
{
    const int take = need_gil;
    PyGILState_STATE st;
    int rc;

    if (take)
        st = PyGILState_Ensure();
    rc = poll_device(fd);
    if (rc < 0) {
        if (take)
            PyGILState_Release(st);
        return -1;
    }
    rc += poll_device(fd + 1);
    if (take)
        PyGILState_Release(st);
    return rc;
}

void ok_two_flags_independent(int want_a, int want_b)
{
    PyGILState_STATE a, b;
    if (want_a)
        a = PyGILState_Ensure();
    if (want_b)
        b = PyGILState_Ensure();
    poll_device(0);
    if (want_b)
        PyGILState_Release(b);
    if (want_a)
        PyGILState_Release(a);
}

int ok_flag_negated_twice(int already_held)
{
    PyGILState_STATE st;
    if (!already_held)
        st = PyGILState_Ensure();
    int r = poll_device(3);
    if (!already_held)
        PyGILState_Release(st);
    return r;
}
