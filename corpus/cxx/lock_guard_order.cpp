// gilcheck-args: -std=c++17
// C++ lock guards hold their mutex until their scope ends; a GIL guard declared inside that scope waits for the
// GIL under the mutex. With a Python method that locks the same mutex with the GIL held, the two deadlock.
#include <Python.h>
#include <map>
#include <mutex>
#include <string>

struct GilGuard {
    PyGILState_STATE s;
    GilGuard() : s(PyGILState_Ensure()) {}
    ~GilGuard() { PyGILState_Release(s); }
};

struct Store {
    std::mutex mu;
    std::map<std::string, double> values;
    PyObject *listener = nullptr;
};
static Store store;

PyObject *bad_set(PyObject *, PyObject *args)
{
    const char *name;
    double v;
    if (!PyArg_ParseTuple(args, "sd", &name, &v))
        return nullptr;
    std::lock_guard<std::mutex> lk(store.mu);   // expect-warning{{lock_guard() may block while this thread holds the GIL}} [blocking-with-gil]
    store.values[name] = v;
    Py_RETURN_NONE;
}

void bad_automation_tick()
{
    std::unique_lock<std::mutex> lk(store.mu);
    double gain = store.values["gain"];
    GilGuard gil;   // expect-warning{{GilGuard() waits for the GIL while this thread holds 'store.mu' (locked at line 35), which bad_set() locks while holding the GIL}} [blocking-with-gil]
    PyObject *r = PyObject_CallFunction(store.listener, "d", gain);
    Py_XDECREF(r);
}

// The lock guard's scope ends before the GIL is taken.
void ok_automation_tick()
{
    double gain;
    {
        std::lock_guard<std::mutex> lk(store.mu);
        gain = store.values["gain"];
    }
    GilGuard gil;
    PyObject *r = PyObject_CallFunction(store.listener, "d", gain);
    Py_XDECREF(r);
}

// unlock() before the GIL.
void ok_automation_unlock_first()
{
    std::unique_lock<std::mutex> lk(store.mu);
    double gain = store.values["gain"];
    lk.unlock();
    GilGuard gil;
    PyObject *r = PyObject_CallFunction(store.listener, "d", gain);
    Py_XDECREF(r);
}

static PyMethodDef methods[] = {
    {"set", bad_set, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};
