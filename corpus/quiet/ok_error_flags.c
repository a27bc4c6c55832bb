// Errors recorded in a flag or a status variable while the GIL is held; the GIL is released before the
// flag is acted on, and Python calls happen only after the GIL is taken again.
#include <Python.h>

enum status { ST_OK, ST_NOMEM, ST_IO };

extern int copy_frames(void *dst, const void *src, int n);

int ok_status_after_release(PyObject *cb, int n)
{
    enum status status = ST_OK;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(cb, "i", n);
    if (r == NULL) {
        PyErr_Clear();
        status = ST_IO;
    } else {
        Py_DECREF(r);
    }
    PyGILState_Release(st);

    if (status != ST_OK)
        return -1;
    return n;
}

PyObject *ok_flag_set_without_gil(void *dst, const void *src, int n)
{
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    if (copy_frames(dst, src, n) < 0)
        failed = 1;
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_SetString(PyExc_RuntimeError, "copy failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

int ok_errno_style(void *dst, const void *src, int n)
{
    int err = 0;
    PyThreadState *ts = PyEval_SaveThread();
    err = copy_frames(dst, src, n);
    PyEval_RestoreThread(ts);
    if (err < 0) {
        PyErr_Format(PyExc_OSError, "copy_frames: %d", err);
        return -1;
    }
    return 0;
}

int ok_error_decided_by_gil_flag(PyObject *cb, int foreign)
{
    PyGILState_STATE st;
    int rc = 0;
    if (foreign)
        st = PyGILState_Ensure();
    if (PyCallable_Check(cb) == 0)
        rc = -1;
    else {
        PyObject *r = PyObject_CallNoArgs(cb);
        if (r == NULL)
            rc = -1;
        Py_XDECREF(r);
    }
    if (rc < 0 && PyErr_Occurred())
        PyErr_Print();
    if (foreign)
        PyGILState_Release(st);
    return rc;
}
