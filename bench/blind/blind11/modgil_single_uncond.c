#include <Python.h>
#include "ft_api.h"

static PyObject *
helper_crc_update(PyObject *module, PyObject *args)
{
    unsigned long crc;
    Py_buffer buf;
    Py_ssize_t i;
    int k;

    if (!PyArg_ParseTuple(args, "ky*:update", &crc, &buf)) {
        return NULL;
    }
    crc = ~crc & 0xffffffffUL;
    for (i = 0; i < buf.len; i++) {
        crc ^= ((const unsigned char *)buf.buf)[i];
        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320UL & (0UL - (crc & 1)));
        }
    }
    PyBuffer_Release(&buf);
    return PyLong_FromUnsignedLong(~crc & 0xffffffffUL);
}

static PyMethodDef crc_methods[] = {
    {"update", helper_crc_update, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef crc_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ok_single2",
    .m_size = -1,
    .m_methods = crc_methods,
};

PyMODINIT_FUNC
PyInit_ok_single2(void)
{
    PyObject *m = PyModule_Create(&crc_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
