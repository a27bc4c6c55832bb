// gilcheck-args: -std=c++17
// A function started by std::thread starts without the GIL.
#include <Python.h>
#include <thread>

static void bad_worker(PyObject *callback) {
    PyObject *r = PyObject_CallNoArgs(callback);    // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    Py_XDECREF(r);                                  // the same missing acquisition: only the first use is reported
}

static void ok_worker(PyObject *callback) {
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(callback);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

void start_workers(PyObject *callback) {
    std::thread a(bad_worker, callback);
    std::thread b(ok_worker, callback);
    Py_BEGIN_ALLOW_THREADS
    a.join();
    b.join();
    Py_END_ALLOW_THREADS
}
