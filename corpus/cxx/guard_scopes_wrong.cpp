// gilcheck-args: -std=c++17 -I../include
// Guard scopes that end too early or too late: Python used after the acquire guard's scope, nested releases.
#include "pybind11_mini.h"
#include <thread>

extern int render_frame(int);

static void bad_worker_uses_object_after_scope(PyObject *cb) {
    PyObject *r;
    {
        py::gil_scoped_acquire gil;
        r = PyObject_CallNoArgs(cb);
    }
    Py_XDECREF(r);      // expect-error{{needs the GIL}} [api-without-gil]
}

int bad_nested_release(int n) {
    py::gil_scoped_release outer;
    int r = render_frame(n);
    {
        py::gil_scoped_release inner;   // expect-error{{already released on this path}} [nested-release]
        r += render_frame(n + 1);
    }
    return r;
}

static void ok_worker(PyObject *cb) {
    py::gil_scoped_acquire gil;
    PyObject *r = PyObject_CallNoArgs(cb);
    Py_XDECREF(r);
}

void start(PyObject *cb) {
    std::thread a(bad_worker_uses_object_after_scope, cb);
    std::thread b(ok_worker, cb);
    py::gil_scoped_release nogil;
    a.join();
    b.join();
}
