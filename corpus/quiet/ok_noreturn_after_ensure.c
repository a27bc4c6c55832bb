// Paths that end in a call that never returns need no release: abort(), exit(), Py_FatalError(),
// __builtin_unreachable(), and the project's own function declared noreturn.
#include <Python.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <stdio.h>

extern int state_is_consistent(void);
__attribute__((noreturn)) extern void die(const char *why);
static noreturn void panic_with_traceback(const char *why)
{
    PyErr_Print();
    fprintf(stderr, "fatal: %s\n", why);
    abort();
}

void ok_abort_on_corruption(PyObject *obj)
{
    PyGILState_STATE st = PyGILState_Ensure();
    if (!state_is_consistent())
        abort();
    Py_DECREF(obj);
    PyGILState_Release(st);
}

void ok_exit_on_init_failure(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    if (PyImport_ImportModule("encodings") == NULL) {
        PyErr_Print();
        exit(2);
    }
    PyGILState_Release(st);
}

void ok_fatal_error(PyObject *module)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *attr = PyObject_GetAttrString(module, "hook");
    if (attr == NULL)
        Py_FatalError("module has no hook");
    Py_DECREF(attr);
    PyGILState_Release(st);
}

int ok_unreachable_default(int kind)
{
    PyGILState_STATE st = PyGILState_Ensure();
    int r;
    switch (kind) {
    case 0: r = 10; break;
    case 1: r = 20; break;
    default: __builtin_unreachable();
    }
    PyGILState_Release(st);
    return r;
}

void ok_project_noreturn(PyObject *o)
{
    PyGILState_STATE st = PyGILState_Ensure();
    if (o == NULL)
        die("null object");
    if (PyObject_Length(o) < 0)
        panic_with_traceback("length failed");
    PyGILState_Release(st);
}

void ok_noreturn_inside_allow_threads(int fd)
{
    Py_BEGIN_ALLOW_THREADS
    if (fd < 0)
        abort();
    Py_END_ALLOW_THREADS
}
