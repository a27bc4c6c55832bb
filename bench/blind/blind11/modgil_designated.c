#include <Python.h>
#include "ft_api.h"

typedef struct {
    PyObject *default_encoding;
} codec_state;

static PyObject *
helper_codec_default(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    codec_state *st = PyModule_GetState(module);
    return Py_NewRef(st->default_encoding);
}

static PyMethodDef codec_methods[] = {
    {"default_encoding", helper_codec_default, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static int
helper_codec_exec(PyObject *module)
{
    codec_state *st = PyModule_GetState(module);
    st->default_encoding = PyUnicode_FromString("utf-8");
    return st->default_encoding == NULL ? -1 : 0;
}

static int
helper_codec_traverse(PyObject *module, visitproc visit, void *arg)
{
    codec_state *st = PyModule_GetState(module);
    Py_VISIT(st->default_encoding);
    return 0;
}

static int
helper_codec_clear(PyObject *module)
{
    codec_state *st = PyModule_GetState(module);
    Py_CLEAR(st->default_encoding);
    return 0;
}

static PyModuleDef_Slot codec_slots[] = {
    {.slot = Py_mod_exec, .value = (void *)helper_codec_exec},
    {.slot = Py_mod_multiple_interpreters,
     .value = Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {.slot = Py_mod_gil, .value = Py_MOD_GIL_NOT_USED},
    {.slot = 0, .value = NULL},
};

static struct PyModuleDef codec_module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "ok_designated",
    .m_size = sizeof(codec_state),
    .m_methods = codec_methods,
    .m_slots = codec_slots,
    .m_traverse = helper_codec_traverse,
    .m_clear = helper_codec_clear,
};

PyMODINIT_FUNC
PyInit_ok_designated(void)
{
    return PyModuleDef_Init(&codec_module);
}
