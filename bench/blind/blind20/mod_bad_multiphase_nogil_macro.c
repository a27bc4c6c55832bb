/* missing-mod-gil: the Py_mod_gil slot is guarded by Py_NOGIL, the macro
 * of the old "nogil" fork.  Real free-threaded CPython defines
 * Py_GIL_DISABLED instead, so the slot is compiled out. */
#include <Python.h>
#include "ft_fixture.h"

static int
tokenizer_exec(PyObject *module)
{
    return PyModule_AddStringConstant(module, "VERSION", "2.1");
}

static PyModuleDef_Slot tokenizer_slots[] = {
    {Py_mod_exec, tokenizer_exec},
#ifdef Py_NOGIL
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef tokenizer_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bad_tokenizer",
    .m_size = 0,
    .m_slots = tokenizer_slots,
};

// BAD: missing-mod-gil Py_mod_gil slot only under #ifdef Py_NOGIL (never defined by CPython), so it is absent on 3.13t+
PyMODINIT_FUNC
PyInit_bad_tokenizer(void)
{
    return PyModuleDef_Init(&tokenizer_def);
}
