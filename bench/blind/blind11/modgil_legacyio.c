#include <Python.h>
#include "ft_api.h"
#include <stdio.h>

/* Wraps a non-thread-safe C stdio-based reader; keeps the GIL on purpose. */

static FILE *current_stream;

static PyObject *
helper_legacyio_open(PyObject *module, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL) {
        return NULL;
    }
    if (current_stream != NULL) {
        fclose(current_stream);
    }
    current_stream = fopen(path, "rb");
    if (current_stream == NULL) {
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, arg);
    }
    Py_RETURN_NONE;
}

static PyObject *
helper_legacyio_readline(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    char buf[1024];
    if (current_stream == NULL) {
        PyErr_SetString(PyExc_ValueError, "no stream open");
        return NULL;
    }
    if (fgets(buf, sizeof(buf), current_stream) == NULL) {
        return PyBytes_FromStringAndSize("", 0);
    }
    return PyBytes_FromString(buf);
}

static PyMethodDef legacyio_methods[] = {
    {"open", helper_legacyio_open, METH_O, NULL},
    {"readline", helper_legacyio_readline, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyModuleDef_Slot legacyio_slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_USED},
    {0, NULL}
};

static struct PyModuleDef legacyio_module = {
    PyModuleDef_HEAD_INIT,
    "ok_legacyio",
    "stdio line reader",
    0,
    legacyio_methods,
    legacyio_slots,
    NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit_ok_legacyio(void)
{
    return PyModuleDef_Init(&legacyio_module);
}
