// static inline GIL helpers in a project header: every file that includes it has its own copy, analyzed once
// for the whole run, and each includer's calls reach it.
#pragma once
#include <Python.h>
typedef struct { PyGILState_STATE st; int held; } gil_t;
static inline void gil_take(gil_t *g) { g->st = PyGILState_Ensure(); g->held = 1; }
static inline void gil_drop(gil_t *g) { if (g->held) { g->held = 0; PyGILState_Release(g->st); } }
static inline void gil_call(gil_t *g, PyObject *cb)
{
    gil_take(g);
    PyObject *r = PyObject_CallNoArgs(cb);
    Py_XDECREF(r);
    gil_drop(g);
}
