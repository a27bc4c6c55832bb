/* missing-mod-gil (ok twin): the Py_mod_gil slot is present only under
 * #ifdef Py_GIL_DISABLED, which is exactly the build where it matters. */
#include <Python.h>
#include "ft_fixture.h"

static int
ringbuf_exec(PyObject *module)
{
    return PyModule_AddIntConstant(module, "CAPACITY", 4096);
}

static PyModuleDef_Slot ringbuf_slots[] = {
    {Py_mod_exec, ringbuf_exec},
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef ringbuf_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ok_ringbuf",
    .m_size = 0,
    .m_slots = ringbuf_slots,
};

// OK: Py_mod_gil slot guarded by #ifdef Py_GIL_DISABLED (defined on free-threaded builds)
PyMODINIT_FUNC
PyInit_ok_ringbuf(void)
{
    return PyModuleDef_Init(&ringbuf_def);
}
