// An extension module still carrying Python 2-era GIL set-up calls.
#include <Python.h>

static PyObject *callback_holder;

static struct PyModuleDef legacy_def = { PyModuleDef_HEAD_INIT, "legacy", NULL, -1, NULL };

PyMODINIT_FUNC PyInit_legacy(void)
{
    PyEval_InitThreads();           // expect-warning{{deprecated since Python 3.9}} [deprecated-gil-api]
    PyObject *m = PyModule_Create(&legacy_def);
    if (m == NULL)
        return NULL;
    callback_holder = PyDict_New();
    return m;
}

void bad_start_guard(void)
{
    if (!PyEval_ThreadsInitialized())   // expect-warning{{removed in 3.13}} [deprecated-gil-api]
        PyEval_InitThreads();           // expect-warning{{deprecated since Python 3.9}} [deprecated-gil-api]
}

void ok_modern_check(void)
{
    if (!Py_IsInitialized())
        return;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_CLEAR(callback_holder);
    PyGILState_Release(st);
}
