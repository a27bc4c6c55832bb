// gilcheck-free-threading
// Modules that do not declare Py_mod_gil re-enable the GIL when imported on a free-threaded build. The
// declaration counts when it sits behind a version or Py_GIL_DISABLED test that these headers leave inactive.
#include <Python.h>

#ifndef Py_mod_gil
#define Py_mod_gil 4
#define Py_MOD_GIL_NOT_USED ((void *)1)
int PyUnstable_Module_SetGIL(PyObject *module, void *gil);
#endif

static int exec_counter(PyObject *m) { return PyModule_AddIntConstant(m, "LIMIT", 10); }

static PyModuleDef_Slot counter_slots[] = {
    {Py_mod_exec, exec_counter},
    {0, NULL},
};
static struct PyModuleDef counter_def = { PyModuleDef_HEAD_INIT, "counter", NULL, 0, NULL, counter_slots };

PyMODINIT_FUNC PyInit_counter(void)     // expect-warning{{module 'counter' does not declare Py_mod_gil in its slots 'counter_slots'}} [missing-mod-gil]
{
    return PyModuleDef_Init(&counter_def);
}

static PyModuleDef_Slot gauge_slots[] = {
    {Py_mod_exec, exec_counter},
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};
static struct PyModuleDef gauge_def = {
    PyModuleDef_HEAD_INIT, .m_name = "gauge", .m_size = 0, .m_slots = gauge_slots,
};

PyMODINIT_FUNC PyInit_gauge(void)
{
    return PyModuleDef_Init(&gauge_def);
}

static struct PyModuleDef legacy_def = { PyModuleDef_HEAD_INIT, "legacy", NULL, -1, NULL };

PyMODINIT_FUNC PyInit_legacy(void)      // expect-warning{{(single-phase init) never calls PyUnstable_Module_SetGIL()}} [missing-mod-gil]
{
    PyObject *m = PyModule_Create(&legacy_def);
    return m;
}

static struct PyModuleDef modern_def = { PyModuleDef_HEAD_INIT, "modern", NULL, -1, NULL };

PyMODINIT_FUNC PyInit_modern(void)
{
    PyObject *m = PyModule_Create(&modern_def);
    if (m == NULL)
        return NULL;
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
#endif
    return m;
}
