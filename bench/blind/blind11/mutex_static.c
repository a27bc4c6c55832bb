#include <Python.h>
#include "ft_api.h"
#include <string.h>

#define SYMTAB_SIZE 256

typedef struct {
    uint64_t hash;
    long id;
    int used;
} sym_slot;

static PyMutex symtab_lock;
static sym_slot symtab[SYMTAB_SIZE];
static long symtab_next_id = 1;
static Py_ssize_t symtab_count;

static PyObject *listener;  /* callable or NULL */

static uint64_t
helper_hash_bytes(const char *s, Py_ssize_t n)
{
    uint64_t h = 1469598103934665603ULL;
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static PyObject *
bad_symbol_intern(PyObject *module, PyObject *arg)
{
    Py_ssize_t len, i;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &len);
    uint64_t h;
    long id = 0;

    if (s == NULL) {
        return NULL;
    }
    h = helper_hash_bytes(s, len);

    PyMutex_Lock(&symtab_lock);
    for (i = 0; i < SYMTAB_SIZE; i++) {
        sym_slot *slot = &symtab[(h + i) % SYMTAB_SIZE];
        if (slot->used && slot->hash == h) {
            id = slot->id;
            break;
        }
        if (!slot->used) {
            slot->used = 1;
            slot->hash = h;
            slot->id = id = symtab_next_id++;
            symtab_count++;
            break;
        }
    }
    if (id == 0) {
        PyErr_SetString(PyExc_MemoryError, "symbol table full");
        return NULL;
    }
    PyMutex_Unlock(&symtab_lock);

    return PyLong_FromLong(id);
}

static PyObject *
ok_symbol_intern(PyObject *module, PyObject *arg)
{
    Py_ssize_t len, i;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &len);
    uint64_t h;
    long id = 0;

    if (s == NULL) {
        return NULL;
    }
    h = helper_hash_bytes(s, len);

    PyMutex_Lock(&symtab_lock);
    for (i = 0; i < SYMTAB_SIZE; i++) {
        sym_slot *slot = &symtab[(h + i) % SYMTAB_SIZE];
        if (slot->used && slot->hash == h) {
            id = slot->id;
            break;
        }
        if (!slot->used) {
            slot->used = 1;
            slot->hash = h;
            slot->id = id = symtab_next_id++;
            symtab_count++;
            break;
        }
    }
    PyMutex_Unlock(&symtab_lock);

    if (id == 0) {
        PyErr_SetString(PyExc_MemoryError, "symbol table full");
        return NULL;
    }
    return PyLong_FromLong(id);
}

static PyObject *
ok_symbol_purge(PyObject *module, PyObject *arg)
{
    long below = PyLong_AsLong(arg);
    Py_ssize_t i, removed = 0;

    if (below == -1 && PyErr_Occurred()) {
        return NULL;
    }
    for (i = 0; i < SYMTAB_SIZE; i++) {
        PyMutex_Lock(&symtab_lock);
        if (symtab[i].used && symtab[i].id < below) {
            memset(&symtab[i], 0, sizeof(sym_slot));
            symtab_count--;
            removed++;
        }
        PyMutex_Unlock(&symtab_lock);
    }
    return PyLong_FromSsize_t(removed);
}

static PyObject *
bad_symbol_find_range(PyObject *module, PyObject *args)
{
    long lo, hi;
    Py_ssize_t i, n = 0;

    if (!PyArg_ParseTuple(args, "ll:find_range", &lo, &hi)) {
        return NULL;
    }
    for (i = 0; i < SYMTAB_SIZE; i++) {
        PyMutex_Lock(&symtab_lock);
        if (symtab[i].used && symtab[i].id > hi) {
            break;
        }
        if (symtab[i].used && symtab[i].id >= lo) {
            n++;
        }
        PyMutex_Unlock(&symtab_lock);
    }
    return PyLong_FromSsize_t(n);
}

static PyObject *
ok_symbol_notify(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    PyObject *cb, *res;
    Py_ssize_t count;

    PyMutex_Lock(&symtab_lock);
    cb = Py_XNewRef(listener);
    count = symtab_count;
    PyMutex_Unlock(&symtab_lock);

    if (cb == NULL) {
        Py_RETURN_NONE;
    }
    res = PyObject_CallFunction(cb, "n", count);
    Py_DECREF(cb);
    if (res == NULL) {
        return NULL;
    }
    Py_DECREF(res);

    PyMutex_Lock(&symtab_lock);
    if (symtab_count != count) {
        count = -1;
    }
    PyMutex_Unlock(&symtab_lock);

    return PyBool_FromLong(count >= 0);
}

static PyObject *
bad_symbol_set_listener(PyObject *module, PyObject *cb)
{
    PyObject *old;

    if (cb != Py_None && !PyCallable_Check(cb)) {
        PyErr_SetString(PyExc_TypeError, "listener must be callable");
        goto done;
    }
    PyMutex_Lock(&symtab_lock);
    old = listener;
    listener = (cb == Py_None) ? NULL : Py_NewRef(cb);
    PyMutex_Unlock(&symtab_lock);
    Py_XDECREF(old);
    Py_RETURN_NONE;

done:
    PyMutex_Unlock(&symtab_lock);
    return NULL;
}

static PyObject *
ok_symbol_set_listener(PyObject *module, PyObject *cb)
{
    PyObject *old;

    if (cb != Py_None && !PyCallable_Check(cb)) {
        PyErr_SetString(PyExc_TypeError, "listener must be callable");
        return NULL;
    }
    PyMutex_Lock(&symtab_lock);
    old = listener;
    listener = (cb == Py_None) ? NULL : Py_NewRef(cb);
    PyMutex_Unlock(&symtab_lock);
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyMethodDef symtab_methods[] = {
    {"intern", ok_symbol_intern, METH_O, NULL},
    {"intern_fast", bad_symbol_intern, METH_O, NULL},
    {"purge", ok_symbol_purge, METH_O, NULL},
    {"find_range", bad_symbol_find_range, METH_VARARGS, NULL},
    {"notify", ok_symbol_notify, METH_NOARGS, NULL},
    {"set_listener", ok_symbol_set_listener, METH_O, NULL},
    {"set_listener_checked", bad_symbol_set_listener, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

int
helper_symtab_add_functions(PyObject *module)
{
    return PyModule_AddFunctions(module, symtab_methods);
}
