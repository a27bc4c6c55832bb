// gilcheck-args: -std=c++17 -I../include
// RAII guards are scopes: the constructor takes (or drops) the GIL, the destructor undoes it at every exit.
#include "pybind11_mini.h"

extern int crunch(int);
extern bool cancelled();

int ok_release_around_work(int n) {
    int r;
    {
        py::gil_scoped_release nogil;
        r = crunch(n);
    }
    return r;
}

int ok_early_return_inside_release_scope(int n) {
    py::gil_scoped_release nogil;
    if (cancelled())
        return -1;          // the destructor re-acquires the GIL: no leak
    return crunch(n);
}

void ok_acquire_on_foreign_thread(py::object cb) {
    py::gil_scoped_acquire gil;
    cb.call();
}

int ok_loop_with_guard(int n) {
    int total = 0;
    for (int i = 0; i < n; i++) {
        py::gil_scoped_release nogil;
        if (cancelled())
            break;
        total += crunch(i);
    }
    return total;
}

void bad_python_inside_release_scope(py::object cb, PyObject *list) {
    py::gil_scoped_release nogil;
    crunch(1);
    PyList_Append(list, cb.ptr());          // expect-error{{needs the GIL}} [api-without-gil]
}

void bad_pybind_object_inside_release_scope(py::object cb) {
    py::gil_scoped_release nogil;
    cb.attr("refresh");                      // expect-error{{needs the GIL}} [api-without-gil]
}

void ok_reacquire_inside_release(py::object cb) {
    py::gil_scoped_release nogil;
    crunch(2);
    {
        py::gil_scoped_acquire gil;
        cb.call();
    }
    crunch(3);
}

int bad_raw_pair_in_cxx(int n) {
    PyGILState_STATE st = PyGILState_Ensure();
    if (n < 0)
        return -1;                          // expect-error{{is not released}} [ensure-leak]
    PyGILState_Release(st);
    return n;
}
