// PyEval_SaveThread() with several exits: one error path restores, others forget to.
#include <Python.h>

struct image { int w, h; unsigned char *pixels; };
extern int decode_png(const char *path, struct image *out);
extern int validate(const struct image *img);

PyObject *bad_decode(PyObject *self, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL)
        return NULL;
    struct image img;
    PyThreadState *ts = PyEval_SaveThread();
    if (decode_png(path, &img) < 0) {
        PyEval_RestoreThread(ts);
        return PyErr_Format(PyExc_ValueError, "cannot decode %s", path);
    }
    if (!validate(&img))
        return NULL;    // expect-error{{thread state 'ts' saved by PyEval_SaveThread() is not restored}} [allow-threads-leak]
    PyEval_RestoreThread(ts);
    return Py_BuildValue("(ii)", img.w, img.h);
}

int bad_end_of_void_like(const char *path, struct image *img)
{
    PyThreadState *ts = PyEval_SaveThread();
    int rc = decode_png(path, img);
    if (rc == 0)
        PyEval_RestoreThread(ts);
    return rc;  // expect-error{{is not restored}} [allow-threads-leak]
}

void bad_release_thread_not_reacquired(PyThreadState *ts, const char *path, struct image *img)
{
    PyEval_ReleaseThread(ts);
    if (decode_png(path, img) < 0)
        return;         // expect-error{{is not restored}} [allow-threads-leak]
    PyEval_AcquireThread(ts);
}

PyObject *ok_decode(PyObject *self, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL)
        return NULL;
    struct image img;
    int rc;
    PyThreadState *ts = PyEval_SaveThread();
    rc = decode_png(path, &img);
    if (rc == 0 && !validate(&img))
        rc = -2;
    PyEval_RestoreThread(ts);
    if (rc < 0)
        return PyErr_Format(PyExc_ValueError, "cannot decode %s (%d)", path, rc);
    return Py_BuildValue("(ii)", img.w, img.h);
}
