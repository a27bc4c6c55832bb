/* missing-mod-gil (ok twin): multi-phase module that declares
 * Py_MOD_GIL_NOT_USED. */
#include <Python.h>
#include "ft_fixture.h"

typedef struct {
    PyObject *registry;
} bloom_state;

static int
bloom_exec(PyObject *module)
{
    bloom_state *st = (bloom_state *)PyModule_GetState(module);
    st->registry = PyDict_New();
    if (st->registry == NULL) {
        return -1;
    }
    return PyModule_AddIntConstant(module, "DEFAULT_BITS", 1 << 16);
}

static int
bloom_traverse(PyObject *module, visitproc visit, void *arg)
{
    bloom_state *st = (bloom_state *)PyModule_GetState(module);
    Py_VISIT(st->registry);
    return 0;
}

static int
bloom_clear(PyObject *module)
{
    bloom_state *st = (bloom_state *)PyModule_GetState(module);
    Py_CLEAR(st->registry);
    return 0;
}

static PyModuleDef_Slot bloom_slots[] = {
    {Py_mod_exec, bloom_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL},
};

static struct PyModuleDef bloom_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ok_bloom",
    .m_doc = "bloom filter",
    .m_size = sizeof(bloom_state),
    .m_slots = bloom_slots,
    .m_traverse = bloom_traverse,
    .m_clear = bloom_clear,
};

// OK: multi-phase slots include {Py_mod_gil, Py_MOD_GIL_NOT_USED}
PyMODINIT_FUNC
PyInit_ok_bloom(void)
{
    return PyModuleDef_Init(&bloom_def);
}
