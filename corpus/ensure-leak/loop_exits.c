// Loops that take the GIL in their body and leave it held when they break, continue or return early.
#include <Python.h>

extern int next_value(void *it, long *out);

int bad_break_while_held(void *it, PyObject *list)
{
    long v;
    while (next_value(it, &v)) {
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *n = PyLong_FromLong(v);
        if (n == NULL)
            break;
        PyList_Append(list, n);
        Py_DECREF(n);
        PyGILState_Release(st);
    }
    return 0;   // expect-error{{is not released}} [ensure-leak]
}

void bad_continue_while_held(void *it, PyObject *cb)
{
    long v;
    while (next_value(it, &v)) {
        PyGILState_STATE st = PyGILState_Ensure();   // expect-error{{is overwritten while still held}} [ensure-leak]
        if (v < 0)
            continue;
        PyObject *r = PyObject_CallFunction(cb, "l", v);
        Py_XDECREF(r);
        PyGILState_Release(st);
    }
}   // expect-error{{is not released}} [ensure-leak]

int bad_return_from_nested_loop(PyObject **rows, int nrows, int ncols)
{
    for (int i = 0; i < nrows; i++) {
        PyGILState_STATE st = PyGILState_Ensure();
        for (int j = 0; j < ncols; j++) {
            PyObject *cell = PySequence_GetItem(rows[i], j);
            if (cell == NULL)
                return -1;  // expect-error{{is not released}} [ensure-leak]
            Py_DECREF(cell);
        }
        PyGILState_Release(st);
    }
    return 0;
}

void ok_release_before_break(void *it, PyObject *cb)
{
    long v;
    while (next_value(it, &v)) {
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallFunction(cb, "l", v);
        if (r == NULL) {
            PyErr_Print();
            PyGILState_Release(st);
            break;
        }
        Py_DECREF(r);
        PyGILState_Release(st);
    }
}
