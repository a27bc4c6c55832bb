/*
 * param_store.cpp -- parameter store of an audio plugin host.  Python
 * scripts set/get parameters; a native automation thread advances LFOs and
 * notifies Python listeners; render threads (elsewhere) decrement
 * renders_pending and notify g_store.cv, taking the GIL to run node scripts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

class GilGuard {
public:
    GilGuard() : state_(PyGILState_Ensure()) {}
    ~GilGuard() { PyGILState_Release(state_); }
    GilGuard(const GilGuard &) = delete;
    GilGuard &operator=(const GilGuard &) = delete;

private:
    PyGILState_STATE state_;
};

class GilRelease {
public:
    GilRelease() : save_(PyEval_SaveThread()) {}
    ~GilRelease() { PyEval_RestoreThread(save_); }
    GilRelease(const GilRelease &) = delete;
    GilRelease &operator=(const GilRelease &) = delete;

private:
    PyThreadState *save_;
};

struct ParamStore {
    std::mutex mu; // guards values
    std::condition_variable cv;
    std::unordered_map<std::string, double> values;
    std::vector<PyObject *> listeners; // strong refs; guarded by the GIL
    std::atomic<bool> quit{false};
    std::atomic<int> renders_pending{0};
    double cached_gain = 1.0; // guarded by the GIL
    double phase = 0.0;       // guarded by mu
};

ParamStore g_store; // destructor touches no Python (raw pointers only)

/* Pure C++; caller holds g_store.mu. */
void advance_lfos_locked(double dt)
{
    g_store.phase = std::fmod(g_store.phase + dt, 1.0);
    auto it = g_store.values.find("lfo_depth");
    double depth = it != g_store.values.end() ? it->second : 0.0;
    g_store.values["gain"] = 1.0 - depth * 0.5 * (1.0 + std::sin(6.283185307179586 * g_store.phase));
}

/* Requires the GIL. */
void notify_listeners(double gain)
{
    for (PyObject *cb : g_store.listeners) {
        PyObject *r = PyObject_CallFunction(cb, "d", gain);
        if (r == nullptr)
            PyErr_Print();
        else
            Py_DECREF(r);
    }
}

} // namespace

// BAD: blocking-with-gil locks g_store.mu with the GIL held while bad_automation_thread holds mu and waits for the GIL
PyObject *bad_py_set_param(PyObject *, PyObject *args)
{
    const char *name;
    double value;
    if (!PyArg_ParseTuple(args, "sd", &name, &value))
        return nullptr;
    std::lock_guard<std::mutex> lk(g_store.mu);
    g_store.values[name] = value;
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil takes the GIL (GilGuard) while still holding g_store.mu (inversion with bad_py_set_param)
void bad_automation_thread(double rate_hz)
{
    const auto period = std::chrono::duration<double>(1.0 / rate_hz);
    while (!g_store.quit.load()) {
        {
            std::unique_lock<std::mutex> lk(g_store.mu);
            advance_lfos_locked(1.0 / rate_hz);
            GilGuard gil;
            notify_listeners(g_store.values["gain"]);
        }
        std::this_thread::sleep_for(period);
    }
}

// OK: copies the arguments with the GIL, then releases it before locking g_store.mu (lock_guard dies before GilRelease)
PyObject *ok_py_set_param(PyObject *, PyObject *args)
{
    const char *name;
    double value;
    if (!PyArg_ParseTuple(args, "sd", &name, &value))
        return nullptr;
    std::string key(name);
    {
        GilRelease nogil;
        std::lock_guard<std::mutex> lk(g_store.mu);
        g_store.values[key] = value;
    }
    Py_RETURN_NONE;
}

// OK: snapshots under g_store.mu, drops the mutex, and only then takes the GIL to notify listeners
void ok_automation_thread(double rate_hz)
{
    const auto period = std::chrono::duration<double>(1.0 / rate_hz);
    while (!g_store.quit.load()) {
        double gain;
        {
            std::lock_guard<std::mutex> lk(g_store.mu);
            advance_lfos_locked(1.0 / rate_hz);
            gain = g_store.values["gain"];
        }
        {
            GilGuard gil;
            g_store.cached_gain = gain;
            notify_listeners(gain);
        }
        std::this_thread::sleep_for(period);
    }
}

// OK: waits on g_store.cv only inside a GilRelease scope; render threads need the GIL to finish
PyObject *ok_wait_render_done(PyObject *, PyObject *args)
{
    double timeout_s;
    if (!PyArg_ParseTuple(args, "d", &timeout_s))
        return nullptr;
    bool finished;
    {
        GilRelease nogil;
        std::unique_lock<std::mutex> lk(g_store.mu);
        finished = g_store.cv.wait_for(lk, std::chrono::duration<double>(timeout_s),
                                       [] { return g_store.renders_pending.load() == 0; });
    }
    return PyBool_FromLong(finished ? 1 : 0);
}

// OK: std::try_to_lock never blocks while the GIL is held; falls back to the cached value when the mutex is busy
PyObject *ok_py_get_gain(PyObject *, PyObject *)
{
    std::unique_lock<std::mutex> lk(g_store.mu, std::try_to_lock);
    if (lk.owns_lock()) {
        auto it = g_store.values.find("gain");
        if (it != g_store.values.end())
            g_store.cached_gain = it->second;
        lk.unlock();
    }
    return PyFloat_FromDouble(g_store.cached_gain);
}
