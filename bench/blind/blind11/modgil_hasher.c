#include <Python.h>
#include "ft_api.h"
#include <stdint.h>

typedef struct {
    PyTypeObject *Hasher_Type;
} hasher_state;

typedef struct {
    PyObject_HEAD
    PyMutex mutex;
    uint64_t h;
} HasherObject;

static PyObject *
helper_hasher_update(HasherObject *self, PyObject *arg)
{
    Py_buffer view;
    Py_ssize_t i;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyMutex_Lock(&self->mutex);
    for (i = 0; i < view.len; i++) {
        self->h ^= ((const unsigned char *)view.buf)[i];
        self->h *= 1099511628211ULL;
    }
    PyMutex_Unlock(&self->mutex);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *
helper_hasher_digest(HasherObject *self, PyObject *Py_UNUSED(ignored))
{
    uint64_t h;
    PyMutex_Lock(&self->mutex);
    h = self->h;
    PyMutex_Unlock(&self->mutex);
    return PyLong_FromUnsignedLongLong(h);
}

static PyMethodDef hasher_type_methods[] = {
    {"update", (PyCFunction)helper_hasher_update, METH_O, NULL},
    {"digest", (PyCFunction)helper_hasher_digest, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyType_Slot hasher_type_slots[] = {
    {Py_tp_methods, hasher_type_methods},
    {0, NULL}
};

static PyType_Spec hasher_type_spec = {
    "bad_hasher.FNV64", sizeof(HasherObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE, hasher_type_slots
};

static int
helper_hasher_exec(PyObject *module)
{
    hasher_state *st = PyModule_GetState(module);
    st->Hasher_Type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &hasher_type_spec, NULL);
    if (st->Hasher_Type == NULL) {
        return -1;
    }
    return PyModule_AddType(module, st->Hasher_Type);
}

static PyModuleDef_Slot hasher_slots[] = {
    {Py_mod_exec, helper_hasher_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL}
};

static struct PyModuleDef hasher_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bad_hasher",
    .m_size = sizeof(hasher_state),
    .m_slots = hasher_slots,
};

PyMODINIT_FUNC
PyInit_bad_hasher(void)
{
    return PyModuleDef_Init(&hasher_module);
}
