#include <Python.h>
#include "ft_api.h"
#include <string.h>

#define MAX_HOOKS 64

typedef struct {
    char name[32];
    int priority;
    int enabled;
} hook_entry;

typedef struct {
    PyMutex hooks_mutex;
    PyMutex stats_mutex;
    hook_entry hooks[MAX_HOOKS];
    Py_ssize_t nhooks;
    Py_ssize_t lookups;
    Py_ssize_t failures;
} hooks_state;

static inline hooks_state *
helper_get_state(PyObject *module)
{
    return (hooks_state *)PyModule_GetState(module);
}

static PyObject *
bad_hooks_register(PyObject *module, PyObject *args)
{
    hooks_state *st = helper_get_state(module);
    const char *name;
    int priority = 0;
    Py_ssize_t i;

    if (!PyArg_ParseTuple(args, "s|i:register", &name, &priority)) {
        return NULL;
    }
    if (strlen(name) >= sizeof(st->hooks[0].name)) {
        PyErr_SetString(PyExc_ValueError, "hook name too long");
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION_MUTEX(&st->hooks_mutex);
    for (i = 0; i < st->nhooks; i++) {
        if (strcmp(st->hooks[i].name, name) == 0) {
            PyErr_Format(PyExc_KeyError, "hook %s already registered", name);
            return NULL;
        }
    }
    if (st->nhooks < MAX_HOOKS) {
        hook_entry *e = &st->hooks[st->nhooks++];
        strcpy(e->name, name);
        e->priority = priority;
        e->enabled = 1;
    }
    Py_END_CRITICAL_SECTION();

    Py_RETURN_NONE;
}

static PyObject *
ok_hooks_register(PyObject *module, PyObject *args)
{
    hooks_state *st = helper_get_state(module);
    const char *name;
    int priority = 0;
    int status = 0;
    Py_ssize_t i;

    if (!PyArg_ParseTuple(args, "s|i:register", &name, &priority)) {
        return NULL;
    }
    if (strlen(name) >= sizeof(st->hooks[0].name)) {
        PyErr_SetString(PyExc_ValueError, "hook name too long");
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION_MUTEX(&st->hooks_mutex);
    for (i = 0; i < st->nhooks; i++) {
        if (strcmp(st->hooks[i].name, name) == 0) {
            status = 1;
            break;
        }
    }
    if (status == 0) {
        if (st->nhooks < MAX_HOOKS) {
            hook_entry *e = &st->hooks[st->nhooks++];
            strcpy(e->name, name);
            e->priority = priority;
            e->enabled = 1;
        }
        else {
            status = 2;
        }
    }
    Py_END_CRITICAL_SECTION();

    if (status == 1) {
        PyErr_Format(PyExc_KeyError, "hook %s already registered", name);
        return NULL;
    }
    if (status == 2) {
        PyErr_SetString(PyExc_OverflowError, "too many hooks");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
bad_hooks_pop(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    hooks_state *st = helper_get_state(module);
    PyCriticalSection cs;
    hook_entry last;

    PyCriticalSection_BeginMutex(&cs, &st->hooks_mutex);
    if (st->nhooks == 0) {
        PyErr_SetString(PyExc_IndexError, "pop from empty hook table");
        return NULL;
    }
    last = st->hooks[--st->nhooks];
    PyCriticalSection_End(&cs);

    return Py_BuildValue("(si)", last.name, last.priority);
}

static PyObject *
ok_hooks_pop(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    hooks_state *st = helper_get_state(module);
    PyCriticalSection cs;
    hook_entry last;

    PyCriticalSection_BeginMutex(&cs, &st->hooks_mutex);
    if (st->nhooks == 0) {
        PyCriticalSection_End(&cs);
        PyErr_SetString(PyExc_IndexError, "pop from empty hook table");
        return NULL;
    }
    last = st->hooks[--st->nhooks];
    PyCriticalSection_End(&cs);

    return Py_BuildValue("(si)", last.name, last.priority);
}

static PyObject *
ok_hooks_lookup(PyObject *module, PyObject *arg)
{
    hooks_state *st = helper_get_state(module);
    const char *name = PyUnicode_AsUTF8(arg);
    int priority = -1;
    Py_ssize_t i;

    if (name == NULL) {
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION2_MUTEX(&st->hooks_mutex, &st->stats_mutex);
    st->lookups++;
    for (i = 0; i < st->nhooks; i++) {
        if (st->hooks[i].enabled && strcmp(st->hooks[i].name, name) == 0) {
            priority = st->hooks[i].priority;
            break;
        }
    }
    if (priority < 0) {
        st->failures++;
    }
    Py_END_CRITICAL_SECTION2();

    if (priority < 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(priority);
}

static PyObject *
bad_hooks_disable(PyObject *module, PyObject *arg)
{
    hooks_state *st = helper_get_state(module);
    const char *name = PyUnicode_AsUTF8(arg);
    PyCriticalSection2 cs;
    Py_ssize_t i;

    if (name == NULL) {
        return NULL;
    }

    PyCriticalSection2_BeginMutex(&cs, &st->hooks_mutex, &st->stats_mutex);
    for (i = 0; i < st->nhooks; i++) {
        if (strcmp(st->hooks[i].name, name) == 0) {
            st->hooks[i].enabled = 0;
            goto found;
        }
    }
    st->failures++;
    PyCriticalSection2_End(&cs);
    PyErr_SetObject(PyExc_KeyError, arg);
    return NULL;

found:
    Py_RETURN_NONE;
}

static PyMethodDef hooks_methods[] = {
    {"register", ok_hooks_register, METH_VARARGS, NULL},
    {"register_unchecked", bad_hooks_register, METH_VARARGS, NULL},
    {"pop", ok_hooks_pop, METH_NOARGS, NULL},
    {"pop_unchecked", bad_hooks_pop, METH_NOARGS, NULL},
    {"lookup", ok_hooks_lookup, METH_O, NULL},
    {"disable", bad_hooks_disable, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

int
helper_hooks_add_functions(PyObject *module)
{
    return PyModule_AddFunctions(module, hooks_methods);
}
