#include <Python.h>
#include "ft_api.h"

static PyObject *TokenizeError;

static PyObject *
helper_tok_count(PyObject *module, PyObject *arg)
{
    Py_ssize_t n = PyUnicode_GetLength(arg), i, words = 0;
    int in_word = 0;
    if (n < 0) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ_CHAR(arg, i);
        if (Py_UNICODE_ISSPACE(ch)) {
            in_word = 0;
        }
        else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    return PyLong_FromSsize_t(words);
}

static PyMethodDef tok_methods[] = {
    {"count", helper_tok_count, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef tok_module = {
    PyModuleDef_HEAD_INIT,
    "ok_single",
    NULL,
    -1,
    tok_methods,
};

PyMODINIT_FUNC
PyInit_ok_single(void)
{
    PyObject *m = PyModule_Create(&tok_module);
    if (m == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
#endif
    TokenizeError = PyErr_NewException("ok_single.TokenizeError", NULL, NULL);
    if (PyModule_AddObjectRef(m, "TokenizeError", TokenizeError) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
