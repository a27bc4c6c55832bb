// gilcheck-args: -std=c++17 -I../include
// (Also parsed as C++14 by the whole-corpus tests: no C++17 library types here.)
// Standard C++ lock guards lock in their constructor; sleeping holds the GIL as long as it sleeps.
#include "pybind11_mini.h"
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>

static std::mutex mu, other;
static std::shared_timed_mutex table;

void lock_guard_with_gil() {
    py::gil_scoped_acquire gil;
    std::lock_guard<std::mutex> lk(mu);         // expect-warning{{lock_guard() may block}} [blocking-with-gil]
}

void unique_and_scoped_locks_with_gil() {
    PyGILState_STATE st = PyGILState_Ensure();
    {
        std::unique_lock<std::mutex> lk(mu);    // expect-warning{{unique_lock() may block}} [blocking-with-gil]
    }
    {
        std::shared_lock<std::shared_timed_mutex> r(table);   // expect-warning{{shared_lock() may block}} [blocking-with-gil]
    }
    PyGILState_Release(st);
}

void sleeping_with_gil() {
    py::gil_scoped_acquire gil;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));     // expect-warning{{sleep_for() may block}} [blocking-with-gil]
    std::this_thread::sleep_until(std::chrono::steady_clock::now()); // expect-warning{{sleep_until() may block}} [blocking-with-gil]
}

void constructors_that_do_not_lock() {
    py::gil_scoped_acquire gil;
    std::unique_lock<std::mutex> later(mu, std::defer_lock);
    std::unique_lock<std::mutex> maybe(other, std::try_to_lock);
    std::unique_lock<std::mutex> none;
    std::unique_lock<std::mutex> moved(std::move(later));
}

void locking_without_gil() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(mu);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
