// Python objects used after the thread has given its GIL state back. On a thread that started without
// the GIL, the release leaves it without the GIL; in a function whose caller may hold it, it may not.
#include <Python.h>
#include <pthread.h>

static void log_line(PyObject *logger, const char *msg)
{
    PyObject *r = PyObject_CallMethod(logger, "debug", "s", msg);
    Py_XDECREF(r);
}

static void *bad_decref_after_release(void *cb)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs((PyObject *)cb);
    PyGILState_Release(st);
    Py_XDECREF(r);                  // expect-error{{needs the GIL, which is released on this path}} [api-without-gil]
    return NULL;
}

static void *bad_helper_after_release(void *logger)
{
    PyGILState_STATE st = PyGILState_Ensure();
    log_line((PyObject *)logger, "start");
    PyGILState_Release(st);
    log_line((PyObject *)logger, "done");   // expect-error{{summary: it calls}} [api-without-gil]
    return NULL;
}

int bad_type_check_after_save(PyObject *o)
{
    PyThreadState *ts = PyEval_SaveThread();
    int is_list = PyList_Check(o);  // expect-error{{needs the GIL}} [api-without-gil]
    PyEval_RestoreThread(ts);
    return is_list;
}

static void *ok_everything_before_release(void *logger)
{
    PyGILState_STATE st = PyGILState_Ensure();
    log_line((PyObject *)logger, "done");
    PyGILState_Release(st);
    return NULL;
}

/* The caller may already hold the GIL: after the release it still does, so this is not a finding. */
void ok_caller_may_hold_gil(PyObject *cb)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cb);
    PyGILState_Release(st);
    Py_XDECREF(r);
}

void start_threads(PyObject *cb, PyObject *logger)
{
    pthread_t t1, t2, t3;
    pthread_create(&t1, NULL, bad_decref_after_release, cb);
    pthread_create(&t2, NULL, bad_helper_after_release, logger);
    pthread_create(&t3, NULL, ok_everything_before_release, logger);
}
