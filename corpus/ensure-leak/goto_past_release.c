// goto jumps that skip the label holding PyGILState_Release(): the GIL state leaks on those paths.
#include <Python.h>
#include <stdlib.h>

extern int parse_header(const char *buf, int *len);

int bad_goto_skips_release(PyObject *cb, const char *buf)
{
    int len;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = NULL;
    if (parse_header(buf, &len) < 0)
        goto out;
    r = PyObject_CallFunction(cb, "y#", buf, (Py_ssize_t)len);
    if (r == NULL)
        goto error;
    Py_DECREF(r);
error:
    PyErr_Print();
    PyGILState_Release(st);
out:
    return r ? 0 : -1;  // expect-error{{'st' acquired by PyGILState_Ensure() is not released}} [ensure-leak]
}

int bad_cleanup_label_before_ensure(PyObject *cb, size_t n)
{
    char *tmp = malloc(n);
    if (tmp == NULL)
        goto cleanup;
    PyGILState_STATE st = PyGILState_Ensure();   // expect-note{{GIL acquired here}}
    PyObject *r = PyObject_CallNoArgs(cb);
    if (r == NULL)
        goto cleanup;
    Py_DECREF(r);
    PyGILState_Release(st);
cleanup:
    free(tmp);
    return 0;   // expect-error{{is not released}} [ensure-leak]
}

int ok_goto_to_release(PyObject *cb)
{
    PyGILState_STATE st = PyGILState_Ensure();
    int rc = -1;
    PyObject *r = PyObject_CallNoArgs(cb);
    if (r == NULL)
        goto done;
    Py_DECREF(r);
    rc = 0;
done:
    PyGILState_Release(st);
    return rc;
}

int bad_retry_label_reacquires(PyObject *cb, int tries)
{
    PyGILState_STATE st;
again:
    st = PyGILState_Ensure();   // expect-error{{is overwritten while still held}} [ensure-leak]
    PyObject *r = PyObject_CallNoArgs(cb);
    if (r == NULL && --tries > 0) {
        PyErr_Clear();
        goto again;     /* the previous state is still held when the label runs Ensure again */
    }
    Py_XDECREF(r);
    PyGILState_Release(st);
    return r ? 0 : -1;
}
