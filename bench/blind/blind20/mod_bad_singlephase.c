/* missing-mod-gil: single-phase init module that never calls
 * PyUnstable_Module_SetGIL. */
#include <Python.h>
#include "ft_fixture.h"

static PyObject *
metrics_now(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromLong(0);
}

static PyMethodDef metrics_methods[] = {
    {"now", metrics_now, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef metrics_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bad_metrics",
    .m_size = -1,
    .m_methods = metrics_methods,
};

// BAD: missing-mod-gil single-phase PyModule_Create without PyUnstable_Module_SetGIL
PyMODINIT_FUNC
PyInit_bad_metrics(void)
{
    PyObject *m = PyModule_Create(&metrics_def);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "RESOLUTION_NS", 1000) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
