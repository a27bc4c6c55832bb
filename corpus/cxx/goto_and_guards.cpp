// gilcheck-args: -std=c++17 -I../include
// A goto out of a release scope re-acquires the GIL; one that stays inside it does not.
#include "pybind11_mini.h"

extern int step(int);

int python_at_label_inside_release_scope(PyObject *o, int n) {
    py::gil_scoped_release nogil;
    if (step(n) < 0)
        goto fail;
    return 0;
fail:
    Py_DECREF(o);       // expect-error{{needs the GIL}} [api-without-gil]
    return -1;
}
