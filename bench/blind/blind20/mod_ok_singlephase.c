/* missing-mod-gil (ok twin): single-phase init that declares GIL
 * independence with PyUnstable_Module_SetGIL under #ifdef Py_GIL_DISABLED. */
#include <Python.h>
#include "ft_fixture.h"

static PyObject *
timers_now(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromLong(0);
}

static PyMethodDef timers_methods[] = {
    {"now", timers_now, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef timers_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ok_timers",
    .m_size = -1,
    .m_methods = timers_methods,
};

// OK: single-phase init calls PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) under #ifdef Py_GIL_DISABLED
PyMODINIT_FUNC
PyInit_ok_timers(void)
{
    PyObject *m = PyModule_Create(&timers_def);
    if (m == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    if (PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#endif
    if (PyModule_AddIntConstant(m, "RESOLUTION_NS", 1000) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
