/* missing-mod-gil: multi-phase module whose slot table declares
 * multiple-interpreter support but never says whether it needs the GIL,
 * so a free-threaded interpreter re-enables the GIL on import. */
#include <Python.h>
#include "ft_fixture.h"

typedef struct {
    PyObject *registry;
} hashring_state;

static int
hashring_exec(PyObject *module)
{
    hashring_state *st = (hashring_state *)PyModule_GetState(module);
    st->registry = PyDict_New();
    if (st->registry == NULL) {
        return -1;
    }
    return PyModule_AddIntConstant(module, "REPLICAS", 160);
}

static int
hashring_traverse(PyObject *module, visitproc visit, void *arg)
{
    hashring_state *st = (hashring_state *)PyModule_GetState(module);
    Py_VISIT(st->registry);
    return 0;
}

static int
hashring_clear(PyObject *module)
{
    hashring_state *st = (hashring_state *)PyModule_GetState(module);
    Py_CLEAR(st->registry);
    return 0;
}

static PyModuleDef_Slot hashring_slots[] = {
    {Py_mod_exec, hashring_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef hashring_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bad_hashring",
    .m_doc = "consistent hashing ring",
    .m_size = sizeof(hashring_state),
    .m_slots = hashring_slots,
    .m_traverse = hashring_traverse,
    .m_clear = hashring_clear,
};

// BAD: missing-mod-gil multi-phase slots (exec + multiple_interpreters) without a Py_mod_gil slot
PyMODINIT_FUNC
PyInit_bad_hashring(void)
{
    return PyModuleDef_Init(&hashring_def);
}
