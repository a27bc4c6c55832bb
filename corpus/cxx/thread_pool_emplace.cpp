// gilcheck-args: -std=c++17
// Threads built in place in a container (emplace_back) run their function without the GIL, as std::thread's do.
#include <Python.h>
#include <deque>
#include <thread>
#include <vector>

static void bad_pool_worker(PyObject *cb) {
    PyObject *r = PyObject_CallNoArgs(cb);     // expect-error{{'bad_pool_worker' runs on a thread without it (started by std::thread()}} [thread-entry-without-gil]
    Py_XDECREF(r);
}

static void ok_pool_worker(PyObject *cb) {
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cb);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

static void plain_work(int n) { (void)n; }

void start_pool(PyObject *cb, int n) {
    std::vector<std::thread> pool;
    std::deque<std::thread> more;
    std::vector<int> sizes;
    for (int i = 0; i < n; ++i) {
        pool.emplace_back(bad_pool_worker, cb);
        more.emplace_front(ok_pool_worker, cb);
        sizes.emplace_back(i);
    }
    pool.emplace_back(plain_work, 1);
    Py_BEGIN_ALLOW_THREADS
    for (auto &t : pool) t.join();
    for (auto &t : more) t.join();
    Py_END_ALLOW_THREADS
}
