// gilcheck-args: -std=c++17
// Correct shapes: a GIL guard held in a std::optional and engaged only when this thread does not hold the GIL
// (the guard's constructor runs in emplace(), its destructor at scope end only when engaged); and a
// std::function called on a worker thread, which is not the project's functor that happens to be named
// operator() too (a deleter that drops a reference).
#include <Python.h>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

class GilGuard {
public:
    GilGuard() : state_(PyGILState_Ensure()) {}
    ~GilGuard() { PyGILState_Release(state_); }
private:
    PyGILState_STATE state_;
};

struct PyDecRef {
    void operator()(PyObject *o) const noexcept { Py_XDECREF(o); }
};
using PyPtr = std::unique_ptr<PyObject, PyDecRef>;

void ok_log(PyObject *logger, const std::string &msg)
{
    std::optional<GilGuard> gil;
    if (!PyGILState_Check())
        gil.emplace();
    PyPtr r(PyObject_CallMethod(logger, "info", "s", msg.c_str()));
    if (!r)
        PyErr_Clear();
}

void ok_run_native(std::function<void()> task)
{
    std::thread t([task] { task(); });
    t.join();
}
