// Callbacks registered with a C library that calls them on its own threads (declared in the rules file):
// each one takes the GIL first.
// gilcheck-rules: ok_library_callbacks.yml
#include <Python.h>
#include <stdint.h>

typedef void (*sample_cb)(const int16_t *frames, int count, void *user);
extern int audio_open(sample_cb cb, void *user);

void ok_on_samples(const int16_t *frames, int count, void *user)
{
    /* Pure C work first, then the GIL for the Python side. */
    long peak = 0;
    for (int i = 0; i < count; i++)
        if (frames[i] > peak)
            peak = frames[i];

    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction((PyObject *)user, "l", peak);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
}

int ok_on_status(int code, void *user)
{
    if (code == 0)
        return 0;                       /* nothing to report: no GIL needed */
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod((PyObject *)user, "on_error", "i", code);
    int rc = r ? 0 : -1;
    Py_XDECREF(r);
    if (rc < 0)
        PyErr_Clear();
    PyGILState_Release(st);
    return rc;
}

PyObject *ok_open(PyObject *self, PyObject *handler)
{
    Py_INCREF(handler);
    if (audio_open(ok_on_samples, handler) < 0) {
        Py_DECREF(handler);
        return PyErr_Format(PyExc_OSError, "cannot open audio");
    }
    Py_RETURN_NONE;
}
