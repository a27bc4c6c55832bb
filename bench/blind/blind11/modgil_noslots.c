#include <Python.h>
#include "ft_api.h"

static PyObject *
helper_clamp(PyObject *module, PyObject *args)
{
    double x, lo, hi;
    if (!PyArg_ParseTuple(args, "ddd:clamp", &x, &lo, &hi)) {
        return NULL;
    }
    if (x < lo) {
        x = lo;
    }
    else if (x > hi) {
        x = hi;
    }
    return PyFloat_FromDouble(x);
}

static PyMethodDef noslots_methods[] = {
    {"clamp", helper_clamp, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef noslots_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bad_noslots",
    .m_doc = "numeric helpers",
    .m_size = 0,
    .m_methods = noslots_methods,
    .m_slots = NULL,
};

PyMODINIT_FUNC
PyInit_bad_noslots(void)
{
    return PyModuleDef_Init(&noslots_module);
}
