// A project's own function named like a library call (zlib's compress, SQLite's sqlite3_step) is the
// project's: its summary applies, not the library model's `blocks: true`.
#include <Python.h>

static int compress(unsigned char *dst, unsigned long *dst_len, const unsigned char *src, unsigned long len)
{
    unsigned long n = len < *dst_len ? len : *dst_len;
    for (unsigned long i = 0; i < n; i++)
        dst[i] = src[i] ^ 0x5a;
    *dst_len = n;
    return 0;
}

static PyObject *ok_scramble(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    unsigned char out[64];
    unsigned long n = sizeof out;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    compress(out, &n, view.buf, (unsigned long)view.len);
    PyBuffer_Release(&view);
    return PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)n);
}

static PyMethodDef methods[] = {
    {"scramble", ok_scramble, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
