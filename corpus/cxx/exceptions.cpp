// gilcheck-args: -std=c++17
// C++ exits: a throw, and a call of a function that throws on some path (or always), leave the function
// through the destructors of the guards in scope; a raw Ensure or ALLOW_THREADS region is left behind.
#include <Python.h>
#include <stdexcept>

struct GILHold {
    PyGILState_STATE s;
    GILHold() : s(PyGILState_Ensure()) {}
    ~GILHold() { PyGILState_Release(s); }
};

[[noreturn]] static void fail(const char *what) { throw std::runtime_error(what); }
static void check(int rc) { if (rc < 0) throw std::runtime_error("call failed"); }
extern int render(int);

void bad_throw_while_holding(int frame)
{
    PyGILState_STATE st = PyGILState_Ensure();
    if (frame < 0)
        throw std::invalid_argument("frame");  // expect-error{{is not released before this throw}} [ensure-leak]
    PyGILState_Release(st);
}

void bad_fail_while_holding(int frame)
{
    PyGILState_STATE st = PyGILState_Ensure();
    if (frame < 0)
        fail("negative frame");  // expect-error{{is not released when fail() throws}} [ensure-leak]
    PyGILState_Release(st);
}

void bad_check_while_holding(int frame)
{
    PyGILState_STATE st = PyGILState_Ensure();
    check(frame);  // expect-error{{is not released when check() throws}} [ensure-leak]
    PyGILState_Release(st);
}

void bad_throw_in_allow_threads(int frame)
{
    Py_BEGIN_ALLOW_THREADS
    check(render(frame));  // expect-error{{is not restored) when check() throws}} [allow-threads-leak]
    Py_END_ALLOW_THREADS
}

void ok_release_in_handler_and_rethrow(int frame)
{
    PyGILState_STATE st = PyGILState_Ensure();
    try {
        check(frame);
    } catch (...) {
        PyGILState_Release(st);
        throw;
    }
    PyGILState_Release(st);
}

void ok_guard_destructor_runs_on_throw(int frame)
{
    GILHold hold;
    check(frame);
    PyObject *n = PyLong_FromLong(frame);
    Py_XDECREF(n);
}

void ok_handler_swallows(int frame)
{
    PyGILState_STATE st = PyGILState_Ensure();
    try {
        check(frame);
    } catch (const std::exception &e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
    }
    PyGILState_Release(st);
}

// pybind11's handle::inc_ref() throws when the GIL is not held instead of touching the count.
struct handle {
    PyObject *m_ptr = nullptr;
    const handle &inc_ref() const
    {
        if (m_ptr != nullptr && !PyGILState_Check())
            throw std::runtime_error("pybind11::handle::inc_ref() is called while the GIL is not held");
        Py_XINCREF(m_ptr);
        return *this;
    }
};

PyObject *ok_checked_inc_ref(handle &h)
{
    h.inc_ref();
    return h.m_ptr;
}
