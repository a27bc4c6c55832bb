// libmemcached calls that wait for the servers (rules/libs/libmemcached.yml) made while holding the GIL, as
// pylibmc 1.0 did in get, delete and flush_all. The prototypes are declared here: the headers are not needed.
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct memcached_st memcached_st;
typedef int memcached_return_t;
#define MEMCACHED_SUCCESS 0
char *memcached_get(memcached_st *ptr, const char *key, size_t key_length, size_t *value_length, uint32_t *flags,
                    memcached_return_t *error);
memcached_return_t memcached_delete(memcached_st *ptr, const char *key, size_t key_length, time_t expiration);
memcached_return_t memcached_flush(memcached_st *ptr, time_t expiration);
memcached_return_t memcached_behavior_set(memcached_st *ptr, int flag, uint64_t data);
const char *memcached_strerror(memcached_st *ptr, memcached_return_t rc);

typedef struct { PyObject_HEAD memcached_st *mc; } Client;

static PyObject *bad_get(PyObject *self, PyObject *arg)
{
    Client *c = (Client *)self;
    Py_ssize_t len;
    const char *key = PyUnicode_AsUTF8AndSize(arg, &len);
    size_t size;
    uint32_t flags;
    memcached_return_t rc;
    if (key == NULL)
        return NULL;
    char *v = memcached_get(c->mc, key, (size_t)len, &size, &flags, &rc);   // expect-warning{{memcached_get() may block while this thread holds the GIL}} [blocking-with-gil]
    if (v == NULL)
        Py_RETURN_NONE;
    PyObject *r = PyBytes_FromStringAndSize(v, (Py_ssize_t)size);
    free(v);
    return r;
}

static PyObject *bad_flush_all(PyObject *self, PyObject *unused)
{
    memcached_return_t rc = memcached_flush(((Client *)self)->mc, 0);      // expect-warning{{memcached_flush() may block}} [blocking-with-gil]
    if (rc != MEMCACHED_SUCCESS)
        return PyErr_Format(PyExc_RuntimeError, "%s", memcached_strerror(((Client *)self)->mc, rc));
    Py_RETURN_TRUE;
}

static PyObject *ok_delete(PyObject *self, PyObject *arg)
{
    Client *c = (Client *)self;
    Py_ssize_t len;
    const char *key = PyUnicode_AsUTF8AndSize(arg, &len);
    memcached_return_t rc;
    if (key == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = memcached_delete(c->mc, key, (size_t)len, 0);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(rc == MEMCACHED_SUCCESS);
}

// Setting a behaviour only writes the client's memory: connections open on the next request.
static PyObject *ok_set_behavior(PyObject *self, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    memcached_behavior_set(((Client *)self)->mc, 1, (uint64_t)v);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"bad_get", bad_get, METH_O, NULL},
    {"bad_flush_all", bad_flush_all, METH_NOARGS, NULL},
    {"ok_delete", ok_delete, METH_O, NULL},
    {"ok_set_behavior", ok_set_behavior, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
