// Python API calls made inside the released region: list building, raising, object calls.
#include <Python.h>

extern int scan_dir(const char *path, char names[][64], int max);

PyObject *bad_list_append_inside(PyObject *self, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL)
        return NULL;
    char names[32][64];
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    int n = scan_dir(path, names, 32);
    for (int i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(names[i]);   // expect-error{{PyUnicode_FromString() needs the GIL}} [api-without-gil]
        PyList_Append(out, s);                          // expect-error{{PyList_Append() needs the GIL}} [api-without-gil]
        Py_DECREF(s);                                   // expect-error{{needs the GIL}} [api-without-gil]
    }
    Py_END_ALLOW_THREADS
    return out;
}

PyObject *bad_raise_inside(PyObject *self, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL)
        return NULL;
    char names[8][64];
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = scan_dir(path, names, 8);
    if (n < 0)
        PyErr_SetString(PyExc_FileNotFoundError, path);  // expect-error{{PyErr_SetString() needs the GIL}} [api-without-gil]
    Py_END_ALLOW_THREADS
    if (n < 0)
        return NULL;
    return PyLong_FromLong(n);
}

PyObject *bad_error_check_inside(PyObject *self, PyObject *cb)
{
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    if (PyErr_Occurred())           // expect-error{{needs the GIL}} [api-without-gil]
        failed = 1;
    Py_END_ALLOW_THREADS
    if (failed)
        return NULL;
    return PyObject_CallNoArgs(cb);
}

PyObject *ok_collect_then_build(PyObject *self, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL)
        return NULL;
    char names[32][64];
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = scan_dir(path, names, 32);
    Py_END_ALLOW_THREADS
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(names[i]);
        if (s == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, s);
    }
    return out;
}
