/* gilbug: a C extension for testing `pytest --gilcheck-trace` (scripts/test-wheel).
 *
 * racy() starts a thread that calls the C API without taking the GIL (the bug the tracer must report:
 * api-without-gil in racy_worker); correct() starts one that takes it with PyGILState_Ensure first. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>

static void *racy_worker(void *arg) {
    (void)arg;
    PyObject *n = PyLong_FromLong(42); /* no GIL on this thread */
    Py_XDECREF(n);
    return NULL;
}

static void *correct_worker(void *arg) {
    (void)arg;
    PyGILState_STATE state = PyGILState_Ensure();
    PyObject *n = PyLong_FromLong(7);
    Py_XDECREF(n);
    PyGILState_Release(state);
    return NULL;
}

static PyObject *run_on_thread(void *(*body)(void *)) {
    pthread_t thread;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pthread_create(&thread, NULL, body, NULL);
    if (rc == 0) pthread_join(thread, NULL);
    Py_END_ALLOW_THREADS
    if (rc != 0) return PyErr_Format(PyExc_OSError, "pthread_create failed: %d", rc);
    Py_RETURN_NONE;
}

static PyObject *racy(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return run_on_thread(racy_worker);
}

static PyObject *correct(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return run_on_thread(correct_worker);
}

static PyMethodDef methods[] = {
    {"racy", racy, METH_NOARGS, "Call the C API on a thread that does not hold the GIL (a bug)."},
    {"correct", correct, METH_NOARGS, "Call the C API on a thread that takes the GIL first."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "gilbug", NULL, -1, methods};

PyMODINIT_FUNC PyInit_gilbug(void) { return PyModule_Create(&module); }
