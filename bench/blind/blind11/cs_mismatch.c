#include <Python.h>
#include "ft_api.h"

typedef struct NodeObject NodeObject;

struct NodeObject {
    PyObject_HEAD
    NodeObject *prev;
    NodeObject *next;
    PyObject *payload;
    Py_ssize_t generation;
};

typedef struct {
    PyObject_HEAD
    NodeObject *head;
    Py_ssize_t length;
} ChainObject;

static PyTypeObject *Node_Type;

static int
helper_check_node(PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, Node_Type)) {
        PyErr_Format(PyExc_TypeError, "expected Node, got %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    return 0;
}

static PyObject *
bad_chain_link(ChainObject *self, PyObject *args)
{
    NodeObject *a, *b;

    if (!PyArg_ParseTuple(args, "O!O!:link", Node_Type, &a, Node_Type, &b)) {
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION(self);
    Py_BEGIN_CRITICAL_SECTION2(a, b);
    Py_XSETREF(a->next, (NodeObject *)Py_NewRef(b));
    Py_XSETREF(b->prev, (NodeObject *)Py_NewRef(a));
    a->generation++;
    b->generation++;
    Py_END_CRITICAL_SECTION();
    self->length++;
    Py_END_CRITICAL_SECTION();

    Py_RETURN_NONE;
}

static PyObject *
ok_chain_link(ChainObject *self, PyObject *args)
{
    NodeObject *a, *b;

    if (!PyArg_ParseTuple(args, "O!O!:link", Node_Type, &a, Node_Type, &b)) {
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION(self);
    Py_BEGIN_CRITICAL_SECTION2(a, b);
    Py_XSETREF(a->next, (NodeObject *)Py_NewRef(b));
    Py_XSETREF(b->prev, (NodeObject *)Py_NewRef(a));
    a->generation++;
    b->generation++;
    Py_END_CRITICAL_SECTION2();
    self->length++;
    Py_END_CRITICAL_SECTION();

    Py_RETURN_NONE;
}

static PyObject *
bad_chain_set_payload(ChainObject *self, PyObject *args)
{
    NodeObject *node;
    PyObject *payload;

    if (!PyArg_ParseTuple(args, "O!O:set_payload", Node_Type, &node,
                          &payload)) {
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION2(self, node);
    Py_BEGIN_CRITICAL_SECTION(payload);
    Py_XSETREF(node->payload, Py_NewRef(payload));
    node->generation++;
    Py_END_CRITICAL_SECTION2();
    Py_END_CRITICAL_SECTION2();

    Py_RETURN_NONE;
}

static PyObject *
ok_chain_swap_payload(ChainObject *self, PyObject *args)
{
    NodeObject *a, *b;
    PyObject *tmp;

    if (!PyArg_ParseTuple(args, "O!O!:swap", Node_Type, &a, Node_Type, &b)) {
        return NULL;
    }

    Py_BEGIN_CRITICAL_SECTION2(a, b);
    tmp = a->payload;
    a->payload = b->payload;
    b->payload = tmp;
    a->generation++;
    b->generation++;
    Py_END_CRITICAL_SECTION2();

    Py_RETURN_NONE;
}

static PyObject *
bad_chain_unlink(ChainObject *self, PyObject *arg)
{
    NodeObject *node, *next;
    PyCriticalSection2 cs;

    if (helper_check_node(arg) < 0) {
        return NULL;
    }
    node = (NodeObject *)arg;
    next = node->next;
    if (next == NULL) {
        Py_RETURN_NONE;
    }
    Py_INCREF(next);

    PyCriticalSection2_Begin(&cs, (PyObject *)node, (PyObject *)next);
    if (node->next == next) {
        node->next = NULL;
        Py_CLEAR(next->prev);
        node->generation++;
        next->generation++;
        Py_DECREF(next);
    }
    PyCriticalSection_End(&cs._cs_base);

    Py_DECREF(next);
    Py_RETURN_NONE;
}

static PyObject *
ok_chain_unlink(ChainObject *self, PyObject *arg)
{
    NodeObject *node, *next;
    PyCriticalSection2 cs;

    if (helper_check_node(arg) < 0) {
        return NULL;
    }
    node = (NodeObject *)arg;
    next = node->next;
    if (next == NULL) {
        Py_RETURN_NONE;
    }
    Py_INCREF(next);

    PyCriticalSection2_Begin(&cs, (PyObject *)node, (PyObject *)next);
    if (node->next != next) {
        PyCriticalSection2_End(&cs);
        Py_DECREF(next);
        PyErr_SetString(PyExc_RuntimeError, "chain changed during unlink");
        return NULL;
    }
    node->next = NULL;
    Py_CLEAR(next->prev);
    node->generation++;
    next->generation++;
    Py_DECREF(next);
    PyCriticalSection2_End(&cs);

    Py_DECREF(next);
    Py_RETURN_NONE;
}

static PyObject *
bad_chain_push(ChainObject *self, PyObject *arg)
{
    NodeObject *node;
    PyCriticalSection cs;

    if (!PyObject_TypeCheck(arg, Node_Type)) {
        PyErr_SetString(PyExc_TypeError, "expected Node");
        PyCriticalSection_End(&cs);
        return NULL;
    }
    node = (NodeObject *)arg;

    PyCriticalSection_Begin(&cs, (PyObject *)self);
    Py_XSETREF(node->next, self->head);
    self->head = (NodeObject *)Py_NewRef(node);
    self->length++;
    PyCriticalSection_End(&cs);

    Py_RETURN_NONE;
}

static PyObject *
ok_chain_relink_self(ChainObject *self, PyObject *arg)
{
    NodeObject *node;

    if (helper_check_node(arg) < 0) {
        return NULL;
    }
    node = (NodeObject *)arg;

    Py_BEGIN_CRITICAL_SECTION2(node, node);
    Py_CLEAR(node->prev);
    Py_CLEAR(node->next);
    node->generation++;
    Py_END_CRITICAL_SECTION2();

    Py_RETURN_NONE;
}

static PyMethodDef chain_methods[] = {
    {"link", (PyCFunction)ok_chain_link, METH_VARARGS, NULL},
    {"link_fast", (PyCFunction)bad_chain_link, METH_VARARGS, NULL},
    {"set_payload", (PyCFunction)bad_chain_set_payload, METH_VARARGS, NULL},
    {"swap", (PyCFunction)ok_chain_swap_payload, METH_VARARGS, NULL},
    {"unlink", (PyCFunction)ok_chain_unlink, METH_O, NULL},
    {"unlink_fast", (PyCFunction)bad_chain_unlink, METH_O, NULL},
    {"push", (PyCFunction)bad_chain_push, METH_O, NULL},
    {"isolate", (PyCFunction)ok_chain_relink_self, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

PyMethodDef *
helper_chain_methods(PyTypeObject *node_type)
{
    Node_Type = node_type;
    return chain_methods;
}
