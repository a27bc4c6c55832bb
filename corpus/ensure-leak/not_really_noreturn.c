// A reporting helper that looks fatal but returns: the paths through it still need the release.
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>

static void report_fatal(const char *msg) { fprintf(stderr, "fatal: %s\n", msg); }
__attribute__((noreturn)) static void really_fatal(const char *msg) { fprintf(stderr, "%s\n", msg); abort(); }

int bad_helper_returns(PyObject *mod)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *f = PyObject_GetAttrString(mod, "main");
    if (f == NULL) {
        report_fatal("no main");
        return -1;      // expect-error{{is not released}} [ensure-leak]
    }
    Py_DECREF(f);
    PyGILState_Release(st);
    return 0;
}

int ok_helper_never_returns(PyObject *mod)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *f = PyObject_GetAttrString(mod, "main");
    if (f == NULL)
        really_fatal("no main");
    Py_DECREF(f);
    PyGILState_Release(st);
    return 0;
}

int bad_assert_style_check(PyObject *o, int strict)
{
    PyGILState_STATE st = PyGILState_Ensure();
    if (o == NULL) {
        if (strict)
            abort();
        return -1;      // expect-error{{is not released}} [ensure-leak]
    }
    Py_DECREF(o);
    PyGILState_Release(st);
    return 0;
}
