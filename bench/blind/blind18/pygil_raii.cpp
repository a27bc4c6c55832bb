// Feature extraction engine with a Python binding (C++17).
// GIL helpers live in pygil.hpp, inlined here.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <cmath>

namespace pygil {

class Ensure {
public:
    Ensure() : state_(PyGILState_Ensure()) {}
    ~Ensure() { PyGILState_Release(state_); }
    Ensure(const Ensure &) = delete;
    Ensure &operator=(const Ensure &) = delete;
private:
    PyGILState_STATE state_;
};

class Release {
public:
    Release() : ts_(PyEval_SaveThread()) {}
    ~Release() { PyEval_RestoreThread(ts_); }
    Release(const Release &) = delete;
    Release &operator=(const Release &) = delete;
private:
    PyThreadState *ts_;
};

struct python_error : std::exception {
    const char *what() const noexcept override { return "python error"; }
};

} // namespace pygil

struct Frame {
    std::vector<double> samples;
    long id;
};

static std::mutex g_mu;
static std::condition_variable g_cv;
static std::deque<Frame> g_frames;
static PyObject *g_observer;          // callable(frame_id, energy)

static double frame_energy(const Frame &f)
{
    if (f.samples.empty())
        throw std::invalid_argument("empty frame");
    double e = 0;
    for (double s : f.samples)
        e += s * s;
    return std::sqrt(e / f.samples.size());
}

// OK: native thread callback; the pygil::Ensure guard is released by its destructor when frame_energy throws std::invalid_argument
static void ok_notify_observer(const Frame &f)
{
    try {
        pygil::Ensure gil;
        try {
            PyObject *r = PyObject_CallFunction(g_observer, "ld", f.id, frame_energy(f));
            if (r == nullptr)
                throw pygil::python_error();
            Py_DECREF(r);
        } catch (const pygil::python_error &) {
            PyErr_WriteUnraisable(g_observer);
        }
    } catch (const std::invalid_argument &) {
        // empty frame: nothing to report
    }
}

// BAD: ensure-leak  frame_energy can throw std::invalid_argument between the manual Ensure and Release
static void bad_notify_observer_manual(const Frame &f)
{
    PyGILState_STATE st = PyGILState_Ensure();
    double e = frame_energy(f);
    PyObject *r = PyObject_CallFunction(g_observer, "ld", f.id, e);
    if (r == nullptr)
        PyErr_WriteUnraisable(g_observer);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

// OK: manual Ensure/Release, but every exception is caught, the GIL released, and the exception rethrown
static void ok_notify_observer_rethrow(const Frame &f)
{
    PyGILState_STATE st = PyGILState_Ensure();
    try {
        double e = frame_energy(f);
        PyObject *r = PyObject_CallFunction(g_observer, "ld", f.id, e);
        if (r == nullptr)
            PyErr_WriteUnraisable(g_observer);
        Py_XDECREF(r);
    } catch (...) {
        PyGILState_Release(st);
        throw;
    }
    PyGILState_Release(st);
}

static long parse_frame_id(const std::string &s)
{
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
        throw std::runtime_error("bad frame id: " + s);
    return std::stol(s);
}

// BAD: ensure-leak  parse_frame_id throws std::runtime_error, which the catch of std::logic_error does not catch, leaking the Ensure
static int bad_lookup_frame(const std::string &key)
{
    PyGILState_STATE st = PyGILState_Ensure();
    long id;
    try {
        id = parse_frame_id(key);
    } catch (const std::logic_error &e) {
        PyErr_SetString(PyExc_ValueError, e.what());
        PyErr_WriteUnraisable(nullptr);
        PyGILState_Release(st);
        return -1;
    }
    PyObject *r = PyObject_CallFunction(g_observer, "ld", id, 0.0);
    int ok = r != nullptr;
    Py_XDECREF(r);
    PyGILState_Release(st);
    return ok ? 0 : -1;
}

// BAD: api-without-gil  appends to the Python list while the pygil::Release guard is still in scope
static PyObject *bad_energies(PyObject *, PyObject *)
{
    PyObject *out = PyList_New(0);
    if (out == nullptr)
        return nullptr;
    std::vector<Frame> frames;
    pygil::Release nogil;
    {
        std::lock_guard<std::mutex> lk(g_mu);
        frames.assign(g_frames.begin(), g_frames.end());
    }
    for (const Frame &f : frames) {
        double e = f.samples.empty() ? 0.0 : frame_energy(f);
        PyObject *v = PyFloat_FromDouble(e);
        PyList_Append(out, v);
        Py_XDECREF(v);
    }
    return out;
}

// OK: copies and computes inside a scope holding pygil::Release; its destructor restores the GIL before any Python object is built
static PyObject *ok_energies(PyObject *, PyObject *)
{
    std::vector<double> energies;
    {
        pygil::Release nogil;
        std::unique_lock<std::mutex> lk(g_mu);
        g_cv.wait(lk, [] { return !g_frames.empty(); });
        for (const Frame &f : g_frames)
            energies.push_back(f.samples.empty() ? 0.0 : frame_energy(f));
    }   // lk unlocks first, then nogil re-acquires the GIL
    PyObject *out = PyList_New((Py_ssize_t)energies.size());
    if (out == nullptr)
        return nullptr;
    for (size_t i = 0; i < energies.size(); i++) {
        PyObject *v = PyFloat_FromDouble(energies[i]);
        if (v == nullptr) {
            Py_DECREF(out);
            return nullptr;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, v);
    }
    return out;
}

// BAD: blocking-with-gil,lock-order  std::lock_guard on g_mu is taken with the GIL held; the producer holds g_mu while taking the GIL
static PyObject *bad_frame_count(PyObject *, PyObject *)
{
    std::lock_guard<std::mutex> lk(g_mu);
    return PyLong_FromSize_t(g_frames.size());
}

// producer thread: holds g_mu and then takes the GIL to report overflow
static void producer_push(Frame f)
{
    std::lock_guard<std::mutex> lk(g_mu);
    if (g_frames.size() > 1024) {
        pygil::Ensure gil;
        PyErr_WarnEx(PyExc_RuntimeWarning, "frame queue overflow", 1);
        g_frames.pop_front();
    }
    g_frames.push_back(std::move(f));
    g_cv.notify_one();
}

// BAD: blocking-with-gil,lock-order  the unique_lock is constructed before the Release guard, so g_mu is locked with the GIL held and the GIL is retaken while g_mu is held
static PyObject *bad_wait_frame(PyObject *, PyObject *)
{
    Frame f;
    {
        std::unique_lock<std::mutex> lk(g_mu);
        pygil::Release nogil;
        g_cv.wait(lk, [] { return !g_frames.empty(); });
        f = std::move(g_frames.front());
        g_frames.pop_front();
    }
    return Py_BuildValue("(ln)", f.id, (Py_ssize_t)f.samples.size());
}

void start_producer(int n)
{
    std::thread([n] {
        for (int i = 0; i < n; i++)
            producer_push(Frame{std::vector<double>(256, 0.5), i});
        try {
            ok_notify_observer(Frame{{1.0}, -1});
            ok_notify_observer_rethrow(Frame{{1.0}, -2});
            bad_notify_observer_manual(Frame{{}, -3});
            bad_lookup_frame("x");
        } catch (const std::exception &) {
            // reported by the native pool's logger
        }
    }).detach();
}

static PyMethodDef feat_methods[] = {
    {"energies", ok_energies, METH_NOARGS, nullptr},
    {"energies_fast", bad_energies, METH_NOARGS, nullptr},
    {"frame_count", bad_frame_count, METH_NOARGS, nullptr},
    {"wait_frame", bad_wait_frame, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}
};

static PyModuleDef feat_module = {PyModuleDef_HEAD_INIT, "_features", nullptr, -1, feat_methods};
PyMODINIT_FUNC PyInit__features(void) { return PyModule_Create(&feat_module); }
