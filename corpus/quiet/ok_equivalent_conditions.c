// The acquire and the release are guarded by conditions that are written differently but always agree:
// a flag computed from a pointer and the pointer test itself, or a count and its comparison with zero.
#include <Python.h>

struct sink { PyObject *cb; };
extern int compute(int);

int ok_flag_from_pointer(struct sink *s, int v)
{
    PyGILState_STATE st;
    const int notify = s != NULL;
    if (notify)
        st = PyGILState_Ensure();
    int r = compute(v);
    if (s != NULL) {
        PyObject *res = PyObject_CallFunction(s->cb, "i", r);
        Py_XDECREF(res);
        PyGILState_Release(st);
    }
    return r;
}

int ok_count_and_test(PyObject **objs, int count)
{
    PyGILState_STATE st;
    const int any = count > 0;
    if (any)
        st = PyGILState_Ensure();
    for (int i = 0; i < count; i++)
        Py_XDECREF(objs[i]);
    if (count > 0)
        PyGILState_Release(st);
    return count;
}
