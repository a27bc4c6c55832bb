#include <Python.h>
#include "ft_api.h"
#include <math.h>

typedef struct {
    PyObject *DomainError;
} fastmath_state;

static PyObject *
helper_fastmath_hypot3(PyObject *module, PyObject *args)
{
    double x, y, z;
    if (!PyArg_ParseTuple(args, "ddd:hypot3", &x, &y, &z)) {
        return NULL;
    }
    return PyFloat_FromDouble(sqrt(x * x + y * y + z * z));
}

static PyObject *
helper_fastmath_rsqrt(PyObject *module, PyObject *arg)
{
    fastmath_state *st = PyModule_GetState(module);
    double x = PyFloat_AsDouble(arg);
    if (x == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (x <= 0.0) {
        PyErr_SetString(st->DomainError, "rsqrt of non-positive value");
        return NULL;
    }
    return PyFloat_FromDouble(1.0 / sqrt(x));
}

static PyMethodDef fastmath_methods[] = {
    {"hypot3", helper_fastmath_hypot3, METH_VARARGS, NULL},
    {"rsqrt", helper_fastmath_rsqrt, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static int
helper_fastmath_exec(PyObject *module)
{
    fastmath_state *st = PyModule_GetState(module);
    st->DomainError = PyErr_NewException("ok_fastmath.DomainError",
                                         PyExc_ValueError, NULL);
    if (st->DomainError == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "DomainError", st->DomainError);
}

static int
helper_fastmath_traverse(PyObject *module, visitproc visit, void *arg)
{
    fastmath_state *st = PyModule_GetState(module);
    Py_VISIT(st->DomainError);
    return 0;
}

static int
helper_fastmath_clear(PyObject *module)
{
    fastmath_state *st = PyModule_GetState(module);
    Py_CLEAR(st->DomainError);
    return 0;
}

static PyModuleDef_Slot fastmath_slots[] = {
    {Py_mod_exec, helper_fastmath_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL}
};

static struct PyModuleDef fastmath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ok_fastmath",
    .m_size = sizeof(fastmath_state),
    .m_methods = fastmath_methods,
    .m_slots = fastmath_slots,
    .m_traverse = helper_fastmath_traverse,
    .m_clear = helper_fastmath_clear,
};

PyMODINIT_FUNC
PyInit_ok_fastmath(void)
{
    return PyModuleDef_Init(&fastmath_module);
}
