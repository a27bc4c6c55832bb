// Sending the contents of a bytes object with the GIL released: the object is kept alive by a reference the
// function owns, and bytes never change, so its buffer and length can be read inside the block.
#include <Python.h>

extern int sock_send_all(int fd, const char *data, Py_ssize_t len);

PyObject *send_chunks(PyObject *self, PyObject *args)
{
    int fd;
    PyObject *chunks;
    if (!PyArg_ParseTuple(args, "iO", &fd, &chunks))
        return NULL;
    PyObject *it = PyObject_GetIter(chunks);
    if (!it)
        return NULL;
    PyObject *chunk;
    int failed = 0;
    while (!failed && (chunk = PyIter_Next(it)) != NULL) {
        if (!PyBytes_Check(chunk)) {
            Py_DECREF(chunk);
            PyErr_SetString(PyExc_TypeError, "chunks must be bytes");
            failed = 1;
            break;
        }
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = sock_send_all(fd, PyBytes_AS_STRING(chunk), PyBytes_GET_SIZE(chunk));
        Py_END_ALLOW_THREADS
        Py_DECREF(chunk);
        if (rc < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            failed = 1;
        }
    }
    Py_DECREF(it);
    if (failed || PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}
