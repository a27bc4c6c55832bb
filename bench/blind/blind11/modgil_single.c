#include <Python.h>
#include "ft_api.h"

static PyObject *ConfigError;

static PyObject *
helper_single_parse(PyObject *module, PyObject *arg)
{
    const char *s = PyUnicode_AsUTF8(arg);
    if (s == NULL) {
        return NULL;
    }
    if (*s == '\0') {
        PyErr_SetString(ConfigError, "empty configuration");
        return NULL;
    }
    return PyUnicode_FromString(s);
}

static PyMethodDef single_methods[] = {
    {"parse", helper_single_parse, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef single_module = {
    PyModuleDef_HEAD_INIT,
    "bad_single",
    "configuration parser",
    -1,
    single_methods,
};

PyMODINIT_FUNC
PyInit_bad_single(void)
{
    PyObject *m = PyModule_Create(&single_module);
    if (m == NULL) {
        return NULL;
    }
    ConfigError = PyErr_NewException("bad_single.ConfigError", NULL, NULL);
    if (ConfigError == NULL
        || PyModule_AddObjectRef(m, "ConfigError", ConfigError) < 0)
    {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
