// pycurl's shape: a handle attached to a multi handle saves its thread state in the multi's field, a lone handle
// in its own, and the restore macro chooses by the same test. The library call between them is given the
// library's handle, not the object, so it cannot change which field the test picks: every path restores the
// state it saved. (A Python API call between them could run code that changes it, and is treated as such.)
#include <Python.h>

typedef struct { PyObject_HEAD PyThreadState *state; } Multi;
typedef struct { PyObject_HEAD void *handle; Multi *multi; PyThreadState *state; } Easy;
int curl_easy_pause(void *handle, int bitmask);
int curl_easy_perform(void *handle);

#define BEGIN_ALLOW_THREADS_EASY(self)                      \
    do {                                                    \
        if ((self)->multi != NULL)                          \
            (self)->multi->state = PyEval_SaveThread();     \
        else                                                \
            (self)->state = PyEval_SaveThread();            \
    } while (0)

#define END_ALLOW_THREADS_EASY(self)                        \
    do {                                                    \
        if ((self)->multi != NULL) {                        \
            PyEval_RestoreThread((self)->multi->state);     \
            (self)->multi->state = NULL;                    \
        } else {                                            \
            PyEval_RestoreThread((self)->state);            \
            (self)->state = NULL;                           \
        }                                                   \
    } while (0)

static PyObject *ok_pause(Easy *self, PyObject *arg)
{
    int rc, mask = (int)PyLong_AsLong(arg);
    if (mask == -1 && PyErr_Occurred())
        return NULL;
    BEGIN_ALLOW_THREADS_EASY(self);
    rc = curl_easy_pause(self->handle, mask);
    END_ALLOW_THREADS_EASY(self);
    if (rc != 0)
        return PyErr_Format(PyExc_RuntimeError, "pause failed: %d", rc);
    Py_RETURN_NONE;
}

static PyObject *ok_perform(Easy *self, PyObject *noargs)
{
    int rc;
    BEGIN_ALLOW_THREADS_EASY(self);
    rc = curl_easy_perform(self->handle);
    END_ALLOW_THREADS_EASY(self);
    return PyLong_FromLong(rc);
}

static PyMethodDef Easy_methods[] = {
    {"pause", (PyCFunction)ok_pause, METH_O, NULL},
    {"perform", (PyCFunction)ok_perform, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
