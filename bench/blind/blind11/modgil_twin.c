#include <Python.h>
#include "ft_api.h"

/* Built twice: the pure accelerator and the debug variant with tracing. */

static PyObject *
helper_twin_add(PyObject *module, PyObject *args)
{
    long a, b;
    if (!PyArg_ParseTuple(args, "ll:add", &a, &b)) {
        return NULL;
    }
    return PyLong_FromLong(a + b);
}

static PyObject *
helper_twin_trace(PyObject *module, PyObject *arg)
{
    PyObject *r = PyObject_Repr(arg);
    if (r == NULL) {
        return NULL;
    }
    PySys_FormatStderr("trace: %U\n", r);
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyMethodDef twin_a_methods[] = {
    {"add", helper_twin_add, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMethodDef twin_b_methods[] = {
    {"add", helper_twin_add, METH_VARARGS, NULL},
    {"trace", helper_twin_trace, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyModuleDef_Slot twin_a_slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL}
};

static PyModuleDef_Slot twin_b_slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL}
};

static struct PyModuleDef twin_a_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ok_twin_a",
    .m_methods = twin_a_methods,
    .m_slots = twin_a_slots,
};

static struct PyModuleDef twin_b_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bad_twin_b",
    .m_methods = twin_b_methods,
    .m_slots = twin_b_slots,
};

PyMODINIT_FUNC
PyInit_ok_twin_a(void)
{
    return PyModuleDef_Init(&twin_a_module);
}

PyMODINIT_FUNC
PyInit_bad_twin_b(void)
{
    return PyModuleDef_Init(&twin_b_module);
}
