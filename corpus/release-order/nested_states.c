// Nested PyGILState_Ensure() calls are legal; their states must be released last-in, first-out.
#include <Python.h>
extern void work(void);

void ok_nested_lifo(void)
{
    PyGILState_STATE outer = PyGILState_Ensure();
    PyGILState_STATE inner = PyGILState_Ensure();
    work();
    PyGILState_Release(inner);
    PyGILState_Release(outer);
}

void bad_outer_released_first(void)
{
    PyGILState_STATE outer = PyGILState_Ensure();
    PyGILState_STATE inner = PyGILState_Ensure();
    work();
    PyGILState_Release(outer);          // expect-warning{{before the more recent state 'inner'}} [release-order]
    PyGILState_Release(inner);
}

void bad_out_of_order_on_error_path(int failed)
{
    PyGILState_STATE a = PyGILState_Ensure();
    PyGILState_STATE b = PyGILState_Ensure();
    if (failed) {
        PyGILState_Release(a);          // expect-warning{{before the more recent state 'b'}} [release-order]
        PyGILState_Release(b);
        return;
    }
    PyGILState_Release(b);
    PyGILState_Release(a);
}
