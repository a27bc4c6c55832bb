// An extension module imported by Debian's /usr/bin/python3 (libpython linked statically into the
// executable, so LD_PRELOAD alone sees none of the module's calls). One method builds its result inside its
// Py_BEGIN_ALLOW_THREADS block; the other does it right.
// trace-shape: extension
#include <Python.h>

static long checksum(const char *p, long n)
{
    long s = 0;
    for (long i = 0; i < n; i++) s = s * 31 + p[i];
    return s;
}

static PyObject *digest_wrong(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *result;
    Py_BEGIN_ALLOW_THREADS
    long s = checksum(view.buf, view.len);
    result = PyLong_FromLong(s); // expect-trace{{api-without-gil}}
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return result;
}

static PyObject *digest_right(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    long s;
    Py_BEGIN_ALLOW_THREADS
    s = checksum(view.buf, view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromLong(s);
}

static PyObject *run(PyObject *self, PyObject *unused)
{
    PyObject *data = PyBytes_FromString("frame data");
    for (int i = 0; i < 100; i++) {
        PyObject *a = digest_right(self, data), *b = digest_wrong(self, data);
        Py_XDECREF(a);
        Py_XDECREF(b);
    }
    Py_DECREF(data);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"run", run, METH_NOARGS, "exercise both digests"},
    {"digest_wrong", digest_wrong, METH_O, NULL},
    {"digest_right", digest_right, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ext_allow_threads", NULL, -1, methods};
PyMODINIT_FUNC PyInit_ext_allow_threads(void) { return PyModule_Create(&module); }
