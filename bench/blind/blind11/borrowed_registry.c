#include <Python.h>
#include "ft_api.h"

/* Process-wide codec registry. */
static PyObject *codec_registry;    /* dict: name -> codec object */
static PyObject *error_handlers;    /* list of callables */

int
helper_registry_init(void)
{
    codec_registry = PyDict_New();
    if (codec_registry == NULL) {
        return -1;
    }
    error_handlers = PyList_New(0);
    if (error_handlers == NULL) {
        Py_CLEAR(codec_registry);
        return -1;
    }
    return 0;
}

static PyObject *
bad_registry_lookup(PyObject *module, PyObject *name)
{
    PyObject *codec = PyDict_GetItemWithError(codec_registry, name);
    if (codec == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_LookupError, "unknown codec %R", name);
        }
        return NULL;
    }
    return Py_NewRef(codec);
}

static PyObject *
ok_registry_lookup(PyObject *module, PyObject *name)
{
    PyObject *codec;
    int rc = PyDict_GetItemRef(codec_registry, name, &codec);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        PyErr_Format(PyExc_LookupError, "unknown codec %R", name);
        return NULL;
    }
    return codec;
}

static PyObject *
bad_registry_default(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *codec = PyDict_GetItemString(codec_registry, "utf-8");
    if (codec == NULL) {
        Py_RETURN_NONE;
    }
    return PyObject_GetAttrString(codec, "name");
}

static PyObject *
ok_registry_default(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *codec, *name;
    int rc = PyDict_GetItemStringRef(codec_registry, "utf-8", &codec);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    name = PyObject_GetAttrString(codec, "name");
    Py_DECREF(codec);
    return name;
}

static PyObject *
bad_registry_first_handler(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *handler = PyList_GetItem(error_handlers, 0);
    if (handler == NULL) {
        return NULL;
    }
    return PyObject_CallNoArgs(handler);
}

static PyObject *
ok_registry_first_handler(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *handler, *res;

    handler = PyList_GetItemRef(error_handlers, 0);
    if (handler == NULL) {
        return NULL;
    }
    res = PyObject_CallNoArgs(handler);
    Py_DECREF(handler);
    return res;
}

static PyObject *
bad_registry_names(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *names = PyList_New(0);
    PyObject *key, *value;
    Py_ssize_t pos = 0;

    if (names == NULL) {
        return NULL;
    }
    while (PyDict_Next(codec_registry, &pos, &key, &value)) {
        if (PyList_Append(names, key) < 0) {
            Py_DECREF(names);
            return NULL;
        }
    }
    return names;
}

static PyObject *
ok_registry_names(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *names = PyList_New(0);
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int err = 0;

    if (names == NULL) {
        return NULL;
    }
    Py_BEGIN_CRITICAL_SECTION(codec_registry);
    while (PyDict_Next(codec_registry, &pos, &key, &value)) {
        if (PyList_Append(names, key) < 0) {
            err = 1;
            break;
        }
    }
    Py_END_CRITICAL_SECTION();

    if (err) {
        Py_DECREF(names);
        return NULL;
    }
    return names;
}

static PyObject *
ok_registry_lookup_locked(PyObject *module, PyObject *name)
{
    PyObject *codec;

    Py_BEGIN_CRITICAL_SECTION(codec_registry);
    codec = PyDict_GetItem(codec_registry, name);
    Py_XINCREF(codec);
    Py_END_CRITICAL_SECTION();

    if (codec == NULL) {
        Py_RETURN_NONE;
    }
    return codec;
}

static PyObject *
bad_registry_register(PyObject *module, PyObject *args)
{
    PyObject *name, *codec, *existing;

    if (!PyArg_ParseTuple(args, "UO:register", &name, &codec)) {
        return NULL;
    }
    existing = PyDict_SetDefault(codec_registry, name, codec);
    if (existing == NULL) {
        return NULL;
    }
    return PyBool_FromLong(existing == codec);
}

static PyObject *
ok_registry_register(PyObject *module, PyObject *args)
{
    PyObject *name, *codec, *existing;
    int rc;

    if (!PyArg_ParseTuple(args, "UO:register", &name, &codec)) {
        return NULL;
    }
    rc = PyDict_SetDefaultRef(codec_registry, name, codec, &existing);
    if (rc < 0) {
        return NULL;
    }
    Py_DECREF(existing);
    return PyBool_FromLong(rc == 0);
}

static PyMethodDef registry_methods[] = {
    {"lookup", ok_registry_lookup, METH_O, NULL},
    {"lookup_fast", bad_registry_lookup, METH_O, NULL},
    {"lookup_locked", ok_registry_lookup_locked, METH_O, NULL},
    {"default", ok_registry_default, METH_NOARGS, NULL},
    {"default_fast", bad_registry_default, METH_NOARGS, NULL},
    {"first_handler", ok_registry_first_handler, METH_NOARGS, NULL},
    {"first_handler_fast", bad_registry_first_handler, METH_NOARGS, NULL},
    {"names", ok_registry_names, METH_NOARGS, NULL},
    {"names_fast", bad_registry_names, METH_NOARGS, NULL},
    {"register", ok_registry_register, METH_VARARGS, NULL},
    {"register_fast", bad_registry_register, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

int
helper_registry_add_functions(PyObject *module)
{
    return PyModule_AddFunctions(module, registry_methods);
}
