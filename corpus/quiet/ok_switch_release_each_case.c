// A dispatcher that takes the GIL once and gives it back in each case of a switch.
#include <Python.h>

enum msg_kind { MSG_TEXT, MSG_NUMBER, MSG_BLOB, MSG_QUIT };

struct msg { enum msg_kind kind; const char *text; long number; const char *data; size_t len; };

int ok_deliver(PyObject *handler, const struct msg *m)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *arg;
    switch (m->kind) {
    case MSG_TEXT:
        arg = PyUnicode_FromString(m->text);
        break;
    case MSG_NUMBER:
        arg = PyLong_FromLong(m->number);
        break;
    case MSG_BLOB:
        arg = PyBytes_FromStringAndSize(m->data, (Py_ssize_t)m->len);
        break;
    case MSG_QUIT:
        PyGILState_Release(st);
        return 1;
    default:
        PyGILState_Release(st);
        return -1;
    }
    if (arg == NULL) {
        PyErr_Print();
        PyGILState_Release(st);
        return -1;
    }
    PyObject *r = PyObject_CallOneArg(handler, arg);
    Py_DECREF(arg);
    Py_XDECREF(r);
    PyGILState_Release(st);
    return r ? 0 : -1;
}

int ok_release_in_every_case(int kind, PyObject *obj)
{
    PyGILState_STATE st = PyGILState_Ensure();
    switch (kind) {
    case 0:
        Py_INCREF(obj);
        PyGILState_Release(st);
        return 0;
    case 1:
    case 2:
        Py_DECREF(obj);
        PyGILState_Release(st);
        return kind;
    case 3: {
        int t = PyObject_IsTrue(obj);
        PyGILState_Release(st);
        return t;
    }
    default:
        PyGILState_Release(st);
        return -1;
    }
}

void ok_switch_inside_allow_threads(int mode, int *out)
{
    Py_BEGIN_ALLOW_THREADS
    switch (mode) {
    case 0: *out = 1; break;
    case 1: *out = 2; /* fall through */
    case 2: *out += 3; break;
    default: *out = -1; break;
    }
    Py_END_ALLOW_THREADS
}
