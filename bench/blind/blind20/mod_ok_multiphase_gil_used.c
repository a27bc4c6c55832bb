/* missing-mod-gil (ok twin): a module that really does rely on the GIL
 * says so explicitly with Py_MOD_GIL_USED; that is a declaration, not an
 * omission. */
#include <Python.h>
#include "ft_fixture.h"

static int
legacy_exec(PyObject *module)
{
    return PyModule_AddIntConstant(module, "THREADSAFE", 0);
}

static PyModuleDef_Slot legacy_slots[] = {
    {Py_mod_exec, legacy_exec},
    {Py_mod_gil, Py_MOD_GIL_USED},
    {0, NULL},
};

static struct PyModuleDef legacy_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ok_legacy_codec",
    .m_size = 0,
    .m_slots = legacy_slots,
};

// OK: explicit {Py_mod_gil, Py_MOD_GIL_USED} is a deliberate declaration
PyMODINIT_FUNC
PyInit_ok_legacy_codec(void)
{
    return PyModuleDef_Init(&legacy_def);
}
