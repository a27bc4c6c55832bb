// Blocking by deviance for the project's own helpers: a function of the run that calls nothing the rules know
// (it touches the pages of a memory map, spins on a shared word), which the project runs with the GIL released
// at two or more sites and held at fewer, is taken to block where it holds the GIL (lmdb 0.97 fixed a missed
// release around its preload() in Transaction.pop).
#include <Python.h>
#include <stddef.h>

// Reads one byte of every page, so that the page faults happen here.
static void preload(const void *data, size_t size)
{
    volatile char sink;
    for (size_t i = 0; i < size; i += 4096)
        sink = ((const volatile char *)data)[i];
    (void)sink;
}

// Cheap: released around once, held at two sites: no evidence it blocks.
static size_t round_up(size_t n)
{
    return (n + 4095) & ~(size_t)4095;
}

typedef struct { PyObject_HEAD const char *data; size_t size; } View;

static PyObject *ok_value(PyObject *op, PyObject *unused)
{
    View *v = (View *)op;
    Py_BEGIN_ALLOW_THREADS
    preload(v->data, v->size);
    Py_END_ALLOW_THREADS
    return PyBytes_FromStringAndSize(v->data, (Py_ssize_t)v->size);
}

static PyObject *ok_item(PyObject *op, PyObject *unused)
{
    View *v = (View *)op;
    size_t n;
    Py_BEGIN_ALLOW_THREADS
    preload(v->data, v->size);
    n = round_up(v->size);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("y#n", v->data, (Py_ssize_t)v->size, (Py_ssize_t)n);
}

static PyObject *ok_replace(PyObject *op, PyObject *unused)
{
    View *v = (View *)op;
    Py_BEGIN_ALLOW_THREADS
    preload(v->data, v->size);
    Py_END_ALLOW_THREADS
    return PyLong_FromSize_t(round_up(v->size));
}

static PyObject *bad_pop(PyObject *op, PyObject *unused)
{
    View *v = (View *)op;
    preload(v->data, v->size);              // expect-warning{{preload() (the project releases the GIL around it at deviance_project_helpers.c:29) may block while this thread holds the GIL}} [blocking-with-gil]
    return PyBytes_FromStringAndSize(v->data, (Py_ssize_t)v->size);
}

static PyObject *ok_capacity(PyObject *op, PyObject *unused)
{
    View *v = (View *)op;
    size_t n;
    Py_BEGIN_ALLOW_THREADS
    n = round_up(v->size);
    Py_END_ALLOW_THREADS
    return PyLong_FromSize_t(n + round_up(v->size / 2));
}

static PyMethodDef methods[] = {
    {"ok_value", ok_value, METH_NOARGS, NULL},
    {"ok_item", ok_item, METH_NOARGS, NULL},
    {"ok_replace", ok_replace, METH_NOARGS, NULL},
    {"bad_pop", bad_pop, METH_NOARGS, NULL},
    {"ok_capacity", ok_capacity, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
