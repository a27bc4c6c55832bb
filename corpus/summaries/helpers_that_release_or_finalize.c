// Helpers that release the GIL themselves, or finalize, judged at their call sites through their summaries.
#include <Python.h>
static void wait_io(int fd) { Py_BEGIN_ALLOW_THREADS (void)fd; Py_END_ALLOW_THREADS }
static void shutdown_python(void) { Py_FinalizeEx(); }
void bad_nested_via_helper(int fd) {
    Py_BEGIN_ALLOW_THREADS
    wait_io(fd);               // expect-error{{already released on this path}} [nested-release]
    Py_END_ALLOW_THREADS
}
void ok_helper_with_gil(int fd) { wait_io(fd); }
int bad_shutdown(void) {
    Py_Initialize();
    PyThreadState *ts = PyEval_SaveThread();
    shutdown_python();      // expect-error{{called without the GIL}} [finalize-without-gil]
    return 0;
}
int ok_shutdown(void) {
    Py_Initialize();
    PyThreadState *ts = PyEval_SaveThread();
    PyEval_RestoreThread(ts);
    shutdown_python();
    return 0;
}
