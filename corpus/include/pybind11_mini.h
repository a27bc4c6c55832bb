// A small stand-in for the parts of pybind11 the C++ cases use: the GIL guards and an object handle.
// Written for gilcheck's corpus; it only has to parse, not to work.
#pragma once
#include <Python.h>
#include <utility>

namespace pybind11 {
class gil_scoped_acquire {
public:
    gil_scoped_acquire() : state_(PyGILState_Ensure()) {}
    ~gil_scoped_acquire() { PyGILState_Release(state_); }
    gil_scoped_acquire(const gil_scoped_acquire &) = delete;
private:
    PyGILState_STATE state_;
};

class gil_scoped_release {
public:
    gil_scoped_release() : state_(PyEval_SaveThread()) {}
    ~gil_scoped_release() { PyEval_RestoreThread(state_); }
    gil_scoped_release(const gil_scoped_release &) = delete;
private:
    PyThreadState *state_;
};

class object {
public:
    object() = default;
    explicit object(PyObject *p) : p_(p) {}
    object attr(const char *name) const { return object(PyObject_GetAttrString(p_, name)); }
    object call() const { return object(PyObject_CallNoArgs(p_)); }
    object operator()() const { return object(PyObject_CallNoArgs(p_)); }
    PyObject *ptr() const { return p_; }
private:
    PyObject *p_ = nullptr;
};

class str : public object {
public:
    explicit str(const char *s) : object(PyUnicode_FromString(s)) {}
};
}  // namespace pybind11

namespace py = pybind11;
