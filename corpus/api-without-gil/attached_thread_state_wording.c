// gilcheck-python-version: 3.14
// For a project whose oldest Python is 3.14 or newer (or linted with --free-threading), messages speak of an
// attached thread state, as Python 3.14's documentation does; the rules and their ids are the same.
#include <Python.h>
#include <unistd.h>

static PyObject *bad_decref_while_detached(PyObject *self, PyObject *obj)
{
    Py_BEGIN_ALLOW_THREADS
    Py_DECREF(obj);             // expect-error{{Py_DECREF() needs an attached thread state, but the thread is detached on this path}} [api-without-gil]
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *bad_sleep_attached(PyObject *self, PyObject *unused)
{
    sleep(1);                   // expect-warning{{sleep() may block while this thread is attached}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyObject *ok_sleep_detached(PyObject *self, PyObject *unused)
{
    Py_BEGIN_ALLOW_THREADS
    sleep(1);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"bad_decref_while_detached", bad_decref_while_detached, METH_O, NULL},
    {"bad_sleep_attached", bad_sleep_attached, METH_NOARGS, NULL},
    {"ok_sleep_detached", ok_sleep_detached, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
