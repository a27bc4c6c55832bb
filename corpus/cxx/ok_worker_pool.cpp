// gilcheck-args: -std=c++17 -I../include
// A C++ worker pool: threads take the GIL with a guard only around Python calls; the owner drops the GIL
// while joining. Raw pairs in C++ code with early returns are all balanced.
#include "pybind11_mini.h"
#include <mutex>
#include <thread>
#include <vector>

namespace {

std::mutex results_mutex;
std::vector<double> results;

double simulate(int seed) {
    double x = seed;
    for (int i = 0; i < 1000; ++i) x = x * 0.999 + 1.0;
    return x;
}

void worker(py::object progress, int seed) {
    double v = simulate(seed);
    {
        std::lock_guard<std::mutex> lock(results_mutex);
        results.push_back(v);
    }
    py::gil_scoped_acquire gil;
    progress.call();
}

}  // namespace

void ok_run_pool(py::object progress, int n) {
    std::vector<std::thread> pool;
    for (int i = 0; i < n; ++i)
        pool.emplace_back(worker, progress, i);
    py::gil_scoped_release nogil;
    for (auto &t : pool)
        t.join();
}

int ok_raw_pair_with_exceptions_disabled(PyObject *cb) {
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cb);
    if (!r) {
        PyErr_Print();
        PyGILState_Release(st);
        return -1;
    }
    Py_DECREF(r);
    PyGILState_Release(st);
    return 0;
}

double ok_compute_without_gil(int seed) {
    double v;
    Py_BEGIN_ALLOW_THREADS
    v = simulate(seed);
    Py_END_ALLOW_THREADS
    return v;
}
