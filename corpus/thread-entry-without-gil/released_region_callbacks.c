// Callbacks handed to a C library inside a region where the GIL is released: the library calls them back
// synchronously, on the same thread, still without the GIL.
#include <Python.h>
#include <stdlib.h>

extern int solver_run(int n, int (*progress)(int step, void *ctx), void *ctx);
struct decode_opts { int flags; void (*on_frame)(int frame, void *ctx); void *ctx; };
extern int decoder_run(const char *path, struct decode_opts *opts);

static int bad_progress(int step, void *ctx)
{
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "i", step);  // expect-error{{handed to solver_run() at released_region_callbacks.c:49 while the GIL is released there}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

static int ok_progress_takes_gil(int step, void *ctx)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "i", step);
    Py_XDECREF(r);
    PyGILState_Release(st);
    return 0;
}

static void bad_on_frame(int frame, void *ctx)
{
    PyObject *n = PyLong_FromLong(frame);  // expect-error{{handed to decoder_run() at released_region_callbacks.c:67 while the GIL is released there}} [thread-entry-without-gil]
    Py_XDECREF(n);
}

static int ok_compare_ints(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int ok_progress_with_gil(int step, void *ctx)
{
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "i", step);  // called with the GIL held (below)
    Py_XDECREF(r);
    return 0;
}

static PyObject *solve(PyObject *self, PyObject *cb)
{
    int r, r2;
    Py_BEGIN_ALLOW_THREADS
    r = solver_run(100, bad_progress, cb);
    r2 = solver_run(100, ok_progress_takes_gil, cb);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(r + r2);
}

static PyObject *solve_held(PyObject *self, PyObject *cb)
{
    return PyLong_FromLong(solver_run(100, ok_progress_with_gil, cb));
}

static PyObject *decode(PyObject *self, PyObject *args)
{
    struct decode_opts opts = {0};
    opts.on_frame = bad_on_frame;
    opts.ctx = args;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = decoder_run("in.bin", &opts);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(r);
}

static PyObject *sort_values(PyObject *self, PyObject *args)
{
    int values[4] = {3, 1, 2, 0};
    Py_BEGIN_ALLOW_THREADS
    qsort(values, 4, sizeof values[0], ok_compare_ints);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(values[0]);
}
