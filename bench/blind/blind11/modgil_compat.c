#include <Python.h>
#include "ft_api.h"

static PyObject *
helper_compat_version(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(iii)", 1, 4, 2);
}

static PyObject *
helper_compat_free_threaded(PyObject *module, PyObject *Py_UNUSED(ignored))
{
#ifdef Py_GIL_DISABLED
    Py_RETURN_TRUE;
#else
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef compat_methods[] = {
    {"version", helper_compat_version, METH_NOARGS, NULL},
    {"free_threaded", helper_compat_free_threaded, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static int
helper_compat_exec(PyObject *module)
{
    return PyModule_AddIntConstant(module, "ABI", 3);
}

static PyModuleDef_Slot compat_slots[] = {
    {Py_mod_exec, helper_compat_exec},
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}
};

static struct PyModuleDef compat_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ok_compat",
    .m_size = 0,
    .m_methods = compat_methods,
    .m_slots = compat_slots,
};

PyMODINIT_FUNC
PyInit_ok_compat(void)
{
    return PyModuleDef_Init(&compat_module);
}
