// An extension module starts a detached helper thread that takes the GIL and returns without releasing it.
// The interpreter's own next attempt to take the GIL (inside time.sleep, in CPython's code, not the module's)
// then waits forever: the watchdog sees that wait on the GIL's condition variable inside _PyRuntime, and the
// report names the helper's leaked Ensure.
// trace-shape: extension
// expect-trace-anywhere{{hang}}
// trace-exit: 5
#include <Python.h>
#include <pthread.h>

static void *helper(void *arg)
{
    (void)arg;
    PyGILState_STATE gil = PyGILState_Ensure(); // expect-trace{{ensure-leak-at-exit}}
    PyObject *n = PyLong_FromLong(1);
    Py_XDECREF(n);
    (void)gil;
    return NULL; /* PyGILState_Release(gil) forgotten */
}

static PyObject *run(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &attr, helper, NULL);
    pthread_attr_destroy(&attr);
    /* time.sleep releases the GIL inside the interpreter; the helper takes it and keeps it. */
    PyObject *time = PyImport_ImportModule("time");
    PyObject *r = time ? PyObject_CallMethod(time, "sleep", "d", 0.2) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(time);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"run", run, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ext_detached_thread_leaks_gil", NULL, -1, methods};
PyMODINIT_FUNC PyInit_ext_detached_thread_leaks_gil(void) { return PyModule_Create(&module); }
