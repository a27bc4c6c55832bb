// gilcheck-args: -std=c++17 -I../include
// A lambda expression is a value: its body runs when it is called, not where it is written, so a `return`
// inside it does not leave the enclosing function.
#include "pybind11_mini.h"
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <vector>

static std::mutex mu;
static std::condition_variable cv;
static bool ready;

int sort_without_gil(std::vector<int> &v) {
    PyThreadState *ts = PyEval_SaveThread();
    std::sort(v.begin(), v.end(), [](int a, int b) { return a < b; });
    PyEval_RestoreThread(ts);
    return 0;
}

int append_through_lambda(PyObject *list) {
    PyGILState_STATE st = PyGILState_Ensure();
    auto add = [list](long x) { return PyList_Append(list, PyLong_FromLong(x)); };
    int rc = add(1);
    PyGILState_Release(st);
    return rc;
}

void wait_without_gil() {
    py::gil_scoped_release nogil;
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [] { return ready; });
}

int count_matching(const std::vector<int> &v, int limit) {
    py::gil_scoped_release nogil;
    auto pred = [limit](int x) {
        if (x < 0)
            return false;
        return x < limit;
    };
    return (int)std::count_if(v.begin(), v.end(), pred);
}
