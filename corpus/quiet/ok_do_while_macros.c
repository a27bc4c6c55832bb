// Project macros written as do { ... } while (0) around the GIL calls.
#include <Python.h>

#define WITH_GIL_BEGIN(st) do { (st) = PyGILState_Ensure(); } while (0)
#define WITH_GIL_END(st)   do { PyGILState_Release(st); } while (0)
#define RAISE_AND_LEAVE(st, exc, msg) \
    do { PyErr_SetString((exc), (msg)); PyGILState_Release(st); return -1; } while (0)
#define NOGIL(stmt) do { PyThreadState *_ts = PyEval_SaveThread(); stmt; PyEval_RestoreThread(_ts); } while (0)

extern int hw_write(int reg, int value);

int ok_set_register(PyObject *owner, int reg, int value)
{
    PyGILState_STATE st;
    int rc;
    WITH_GIL_BEGIN(st);
    if (reg < 0)
        RAISE_AND_LEAVE(st, PyExc_ValueError, "negative register");
    if (owner == Py_None)
        RAISE_AND_LEAVE(st, PyExc_TypeError, "no owner");
    WITH_GIL_END(st);

    rc = hw_write(reg, value);

    WITH_GIL_BEGIN(st);
    if (rc < 0)
        RAISE_AND_LEAVE(st, PyExc_OSError, "write failed");
    WITH_GIL_END(st);
    return 0;
}

PyObject *ok_nogil_statement(PyObject *self, PyObject *args)
{
    int reg, value, rc;
    if (!PyArg_ParseTuple(args, "ii", &reg, &value))
        return NULL;
    NOGIL(rc = hw_write(reg, value));
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

#define CHECK_OR_CLEANUP(cond) do { if (!(cond)) goto cleanup; } while (0)

int ok_macro_goto_cleanup(PyObject *dict, const char *key, long v)
{
    int rc = -1;
    PyObject *val = NULL;
    PyGILState_STATE st;
    WITH_GIL_BEGIN(st);
    val = PyLong_FromLong(v);
    CHECK_OR_CLEANUP(val != NULL);
    CHECK_OR_CLEANUP(PyDict_SetItemString(dict, key, val) == 0);
    rc = 0;
cleanup:
    Py_XDECREF(val);
    WITH_GIL_END(st);
    return rc;
}
