// A correct extension module: it drops the GIL around its C work, calls back into Python from a thread it
// starts itself (taking the GIL there), and joins that thread without the GIL. Nothing to report.
// trace-shape: extension
#include <Python.h>
#include <pthread.h>

static PyObject *callback;
static long results;

static void *notifier(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        PyGILState_STATE gil = PyGILState_Ensure();
        PyObject *r = PyObject_CallFunction(callback, "i", i);
        if (r) { results += PyLong_AsLong(r); Py_DECREF(r); } else PyErr_Clear();
        PyGILState_Release(gil);
    }
    return NULL;
}

static PyObject *run(PyObject *self, PyObject *unused)
{
    (void)self;
    callback = PyEval_GetBuiltins() ? PyDict_GetItemString(PyEval_GetBuiltins(), "abs") : NULL;
    if (!callback) Py_RETURN_NONE;
    pthread_t t;
    pthread_create(&t, NULL, notifier, NULL);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(t, NULL);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(results);
}

static PyMethodDef methods[] = {{"run", run, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ext_ok_threads", NULL, -1, methods};
PyMODINIT_FUNC PyInit_ext_ok_threads(void) { return PyModule_Create(&module); }
