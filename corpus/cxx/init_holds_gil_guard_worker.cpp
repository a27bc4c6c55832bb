// gilcheck-args: -std=c++17 -I../include
// A C++ host whose worker takes the GIL with a guard (gil_scoped_acquire): starting it while the main thread
// still holds the GIL from Py_Initialize() deadlocks at the join.
#include "pybind11_mini.h"
#include <thread>

static void guard_worker()
{
    py::gil_scoped_acquire gil;
    PyRun_SimpleString("pass");
}

int bad_guard_main()
{
    Py_Initialize();
    std::thread t(guard_worker);          // expect-error{{thread 'guard_worker' takes the GIL}} [init-holds-gil]
    t.join();                             // expect-warning{{may block}} [blocking-with-gil]
    return Py_FinalizeEx();
}

int ok_guard_main()
{
    Py_Initialize();
    PyThreadState *ts = PyEval_SaveThread();
    std::thread t(guard_worker);
    t.join();
    PyEval_RestoreThread(ts);
    return Py_FinalizeEx();
}
