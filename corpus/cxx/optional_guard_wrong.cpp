// gilcheck-args: -std=c++17
// A GIL guard held in a std::optional that is engaged on the wrong branch: where this thread does not hold the
// GIL, nothing takes it; where it does, the guard nests harmlessly.
#include <Python.h>
#include <optional>

class GilGuard {
public:
    GilGuard() : state_(PyGILState_Ensure()) {}
    ~GilGuard() { PyGILState_Release(state_); }
private:
    PyGILState_STATE state_;
};

void bad_log(PyObject *logger, const char *msg)
{
    std::optional<GilGuard> gil;
    if (PyGILState_Check())
        gil.emplace();
    PyObject *r = PyObject_CallMethod(logger, "info", "s", msg);   // expect-error{{needs the GIL, which is released on this path}} [api-without-gil]
    Py_XDECREF(r);   // expect-error{{Py_XDECREF() needs the GIL}} [api-without-gil]
}
