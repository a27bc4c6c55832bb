// gilcheck-args: -std=c++17 -I../include
// Code after a lambda is still on the enclosing function's path; a lambda started on a thread is a thread entry.
#include "pybind11_mini.h"
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

static std::mutex mu;
static std::condition_variable cv;
static bool ready;

void sort_then_touch(std::vector<int> &v, PyObject *o) {
    py::gil_scoped_release nogil;
    std::sort(v.begin(), v.end(), [](int a, int b) { return a < b; });
    Py_INCREF(o);                           // expect-error{{needs the GIL}} [api-without-gil]
}

void wait_with_gil() {
    PyGILState_STATE st = PyGILState_Ensure();
    std::unique_lock<std::mutex> lk(mu);    // expect-warning{{unique_lock() may block}} [blocking-with-gil]
    cv.wait(lk, [] { return ready; });      // expect-warning{{wait() may block}} [blocking-with-gil]
    PyGILState_Release(st);
}

void start_lambda_thread(PyObject *cb) {
    std::thread t([cb]() {
        PyObject_CallNoArgs(cb);            // expect-error{{'start_lambda_thread::lambda#1' runs on a thread without it}} [thread-entry-without-gil]
    });
    t.detach();
}

void start_named_lambda_thread(PyObject *cb) {
    auto ok = [cb]() {
        py::gil_scoped_acquire gil;
        PyObject_CallNoArgs(cb);
    };
    auto bad = [cb] { Py_DECREF(cb); };     // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    std::thread a(ok), b(bad);
    Py_BEGIN_ALLOW_THREADS
    a.join();
    b.join();
    Py_END_ALLOW_THREADS
}
