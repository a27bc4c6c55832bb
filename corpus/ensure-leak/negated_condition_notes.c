// Path notes name the condition as written by the branch taken: `if (!o)` taken is "o is false".
#include <Python.h>

int store(PyObject *cache, const char *key) {
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *o = PyUnicode_FromString(key);
    if (!o)                             // expect-note@+0{{taking the branch where o is false}}
        return -1;                      // expect-error{{is not released}} [ensure-leak]
    int rc = PyDict_SetItemString(cache, key, o);
    Py_DECREF(o);
    PyGILState_Release(st);
    return rc;
}
