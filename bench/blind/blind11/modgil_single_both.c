#include <Python.h>
#include "ft_api.h"

static PyObject *
helper_both_identity(PyObject *module, PyObject *arg)
{
    return Py_NewRef(arg);
}

static PyMethodDef both_parent_methods[] = {
    {"identity", helper_both_identity, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMethodDef both_sub_methods[] = {
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef both_parent = {
    PyModuleDef_HEAD_INIT, "ok_single_both", NULL, -1, both_parent_methods,
};

static struct PyModuleDef both_sub = {
    PyModuleDef_HEAD_INIT, "ok_single_both._impl", NULL, -1, both_sub_methods,
};

PyMODINIT_FUNC
PyInit_ok_single_both(void)
{
    PyObject *m, *sub;

    m = PyModule_Create(&both_parent);
    if (m == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
#endif
    sub = PyModule_Create(&both_sub);
    if (sub == NULL) {
        Py_DECREF(m);
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(sub, Py_MOD_GIL_NOT_USED);
#endif
    if (PyModule_AddObjectRef(m, "_impl", sub) < 0) {
        Py_DECREF(sub);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(sub);
    return m;
}
