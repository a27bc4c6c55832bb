// A switch that takes the GIL before dispatching: one case forgets the release.
#include <Python.h>

enum cmd { CMD_PING, CMD_GET, CMD_SET, CMD_CLOSE };

int bad_missing_in_one_case(PyObject *store, enum cmd c, const char *key)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *v;
    switch (c) {
    case CMD_PING:
        PyGILState_Release(st);
        return 0;
    case CMD_GET:
        v = PyMapping_GetItemString(store, key);
        if (v == NULL)
            return -1;      // expect-error{{is not released}} [ensure-leak]
        Py_DECREF(v);
        PyGILState_Release(st);
        return 1;
    case CMD_SET:
        PyGILState_Release(st);
        return 2;
    default:
        break;
    }
    return -1;  // expect-error{{is not released}} [ensure-leak]
}

int bad_fallthrough_into_return(int c, PyObject *o)
{
    PyGILState_STATE st = PyGILState_Ensure();
    switch (c) {
    case 0:
        Py_INCREF(o);
        /* fall through */
    case 1:
        PyGILState_Release(st);
        return 0;
    case 2:
        Py_DECREF(o);
        return 2;   // expect-error{{is not released}} [ensure-leak]
    }
    PyGILState_Release(st);
    return 0;
}

int ok_every_case_releases(int c)
{
    PyGILState_STATE st = PyGILState_Ensure();
    switch (c) {
    case 0: PyGILState_Release(st); return 0;
    case 1: PyGILState_Release(st); return 1;
    default: PyGILState_Release(st); return 2;
    }
}
