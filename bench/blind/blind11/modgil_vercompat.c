#include <Python.h>
#include "ft_api.h"

typedef struct {
    long calls;
} vc_state;

static PyObject *
helper_vc_ping(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString("pong");
}

static PyMethodDef vc_methods[] = {
    {"ping", helper_vc_ping, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static int
helper_vc_exec(PyObject *module)
{
    vc_state *st = PyModule_GetState(module);
    st->calls = 0;
    return 0;
}

static PyModuleDef_Slot vc_slots[] = {
    {Py_mod_exec, helper_vc_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}
};

static struct PyModuleDef vc_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ok_vercompat",
    .m_size = sizeof(vc_state),
    .m_methods = vc_methods,
    .m_slots = vc_slots,
};

PyMODINIT_FUNC
PyInit_ok_vercompat(void)
{
    return PyModuleDef_Init(&vc_module);
}
