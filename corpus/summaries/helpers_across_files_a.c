// gilcheck-args: -DPART_A
// A helper that needs its caller's GIL, called from a region that released it.
#include <Python.h>

static void log_event(PyObject *logger, const char *what)
{
    PyObject *r = PyObject_CallMethod(logger, "info", "s", what);
    Py_XDECREF(r);
}

static void log_twice(PyObject *logger, const char *what) { log_event(logger, what); log_event(logger, what); }

extern int compress_block(char *buf, int len);

PyObject *bad_log_without_gil(PyObject *logger, char *buf, int len)
{
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = compress_block(buf, len);
    log_twice(logger, "compressed");    // expect-error{{summary: it calls}} [api-without-gil]
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(n);
}

PyObject *ok_log_after_region(PyObject *logger, char *buf, int len)
{
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = compress_block(buf, len);
    Py_END_ALLOW_THREADS
    log_twice(logger, "compressed");
    return PyLong_FromLong(n);
}
