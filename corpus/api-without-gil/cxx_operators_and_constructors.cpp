// gilcheck-args: -std=c++17 -I../include
// Calling a Python object through operator(), and constructors whose member-initializer list calls Python,
// need the GIL like any other call.
#include "pybind11_mini.h"

extern int heavy(int);

struct Name {
    PyObject *obj;
    explicit Name(const char *s) : obj(PyUnicode_FromString(s)) {}
};

struct Plain {
    int n;
    explicit Plain(int v) : n(heavy(v)) {}
};

void call_operator_in_release_scope(py::object cb) {
    py::gil_scoped_release nogil;
    heavy(1);
    cb();                       // expect-error{{operator()() (summary: it calls PyObject_CallNoArgs()) needs the GIL}} [api-without-gil]
}

void initializer_list_in_release_scope() {
    Py_BEGIN_ALLOW_THREADS
    Name n("x");                // expect-error{{Name() (summary: it calls PyUnicode_FromString()) needs the GIL}} [api-without-gil]
    Plain p(3);
    (void)n; (void)p;
    Py_END_ALLOW_THREADS
}

void direct_initialized_objects(py::object o) {
    py::gil_scoped_release nogil;
    py::str b("x");             // expect-error{{str() (summary: it calls PyUnicode_FromString()) needs the GIL}} [api-without-gil]
}

void ok_with_gil(py::object cb) {
    py::str s("y");
    cb();
    Name n("z");
    (void)n;
}
