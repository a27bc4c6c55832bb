// gilcheck-args: -std=c++17 -I../include
// `goto` out of a guard's scope runs the guard's destructor at the jump, as every other scope exit does.
#include "pybind11_mini.h"

extern int step(int);

int goto_out_of_release_scope(PyObject *o, int n) {
    {
        py::gil_scoped_release nogil;
        if (step(n) < 0)
            goto fail;
        step(n + 1);
    }
    Py_INCREF(o);
    return 0;
fail:
    PyErr_SetString(PyExc_RuntimeError, "step failed");
    return -1;
}

int goto_within_release_scope(int n) {
    py::gil_scoped_release nogil;
    int tries = 0;
again:
    if (step(n) < 0 && ++tries < 3)
        goto again;
    return tries;
}

void goto_out_of_acquire_scope(PyObject *cb, int n) {
    for (int i = 0; i < n; i++) {
        py::gil_scoped_acquire gil;
        if (!PyCallable_Check(cb))
            goto done;
        PyObject_CallNoArgs(cb);
    }
done:
    step(n);
}
