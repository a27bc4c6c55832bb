#include <Python.h>
#include "ft_api.h"

static PyObject *
helper_sub_hello(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString("hello from _speedups");
}

static PyMethodDef parent_methods[] = {
    {NULL, NULL, 0, NULL}
};

static PyMethodDef sub_methods[] = {
    {"hello", helper_sub_hello, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef parent_module = {
    PyModuleDef_HEAD_INIT, "bad_submod", NULL, -1, parent_methods,
};

static struct PyModuleDef sub_module = {
    PyModuleDef_HEAD_INIT, "bad_submod._speedups", NULL, -1, sub_methods,
};

PyMODINIT_FUNC
PyInit_bad_submod(void)
{
    PyObject *m, *sub;

    m = PyModule_Create(&parent_module);
    if (m == NULL) {
        return NULL;
    }
    sub = PyModule_Create(&sub_module);
    if (sub == NULL) {
        Py_DECREF(m);
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(sub, Py_MOD_GIL_NOT_USED);
#endif
    if (PyModule_AddObjectRef(m, "_speedups", sub) < 0) {
        Py_DECREF(sub);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(sub);
    return m;
}
