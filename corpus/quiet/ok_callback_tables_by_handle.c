// Tables of callbacks that only calls on their own handle run: a library's iterator (next/free) is driven by
// lib_iter_next() on that iterator, made here with the GIL held, so the Python-calling callbacks run with it.
// A call elsewhere with the GIL released, on another kind of handle, runs none of them (the library is not
// modelled, and the iterator is not a table it keeps: only handle types pair). Must stay quiet.
#include <Python.h>

typedef struct lib_repo lib_repo;
typedef struct lib_iter lib_iter;
struct lib_iter {
    int (*next)(const char **out, lib_iter *it);
    void (*free)(lib_iter *it);
};
int lib_iter_next(const char **out, lib_iter *it);
void lib_iter_free(lib_iter *it);
int lib_repo_fsck(lib_repo *repo);

typedef struct { lib_iter base; PyObject *source; } py_iter;
typedef struct { PyObject_HEAD lib_repo *repo; py_iter *it; } Repo;

static int ok_iter_next(const char **out, lib_iter *it)
{
    PyObject *item = PyIter_Next(((py_iter *)it)->source);
    if (item == NULL)
        return -1;
    *out = PyUnicode_AsUTF8(item);
    Py_DECREF(item);
    return 0;
}

static void ok_iter_free(lib_iter *it)
{
    Py_XDECREF(((py_iter *)it)->source);
    PyMem_Free(it);
}

PyObject *Repo_start(Repo *self, PyObject *source)
{
    py_iter *it = PyMem_Calloc(1, sizeof *it);
    if (it == NULL)
        return PyErr_NoMemory();
    it->base.next = ok_iter_next;
    it->base.free = ok_iter_free;
    Py_INCREF(source);
    it->source = source;
    self->it = it;
    Py_RETURN_NONE;
}

PyObject *Repo_next_name(Repo *self)
{
    const char *name;
    if (lib_iter_next(&name, &self->it->base) != 0)
        Py_RETURN_NONE;
    return PyUnicode_FromString(name);
}

PyObject *Repo_fsck(Repo *self)
{
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = lib_repo_fsck(self->repo);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(err);
}
