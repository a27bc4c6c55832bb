// gilcheck-args: -std=c++17
// Braced initializers with nested lists (Cython's --cplus memoryview code has them in every module): libclang
// must not be asked to fold them. Integer constants around them still steer paths.
#include <Python.h>

struct info { const char *name; int dims[4]; char kind; };
struct frame { struct info *type; int depth; const char *fmt; };
enum { MODE_READ = 1, MODE_WRITE = 2 };
static const int kLimit = 4 * sizeof(int);

PyObject *describe(PyObject *self, PyObject *arg) {
    struct info i = {"double", {0}, 'R'};
    struct frame stack[2] = {{&i, 0, "d"}, {nullptr, 1, nullptr}};
    return PyUnicode_FromString(stack[0].type->name);
}

int dispatch(int mode) {
    PyGILState_STATE st = PyGILState_Ensure();
    int r = 0;
    switch (mode) {
    case MODE_READ | MODE_WRITE:
        r = kLimit;
        break;
    case (int)sizeof(struct info) + 1:
        r = 2;
        break;
    default:
        PyGILState_Release(st);
        return -1;
    }
    PyGILState_Release(st);
    return r;
}

int leaks_on_constant_path(void) {
    PyGILState_STATE st = PyGILState_Ensure();
    struct info i = {"x", {1, 2}, 'c'};
    if (kLimit > 0)
        return i.dims[1];   // expect-error{{is not released}} [ensure-leak]
    PyGILState_Release(st);
    return 0;
}
