/* critical-section-mismatch: a small graph library whose edge operations
 * lock two node objects.  Mismatched Begin/End pairs. */
#include <Python.h>
#include "ft_fixture.h"

typedef struct {
    PyObject_HEAD
    PyObject *edges;        /* list of neighbour nodes */
    PyObject *attrs;        /* dict */
    Py_ssize_t degree;
} NodeObject;

// BAD: critical-section-mismatch two-object section begun with PyCriticalSection2_Begin but closed with the one-object PyCriticalSection_End
static int
bad_node_link(NodeObject *a, NodeObject *b)
{
    int rc;
    PyCriticalSection2 cs2;
    PyCriticalSection2_Begin(&cs2, (PyObject *)a, (PyObject *)b);
    rc = PyList_Append(a->edges, (PyObject *)b);
    if (rc == 0) {
        rc = PyList_Append(b->edges, (PyObject *)a);
    }
    a->degree++;
    b->degree++;
    PyCriticalSection_End(&cs2._cs_base);   /* should be PyCriticalSection2_End */
    return rc;
}

// OK: PyCriticalSection2_Begin paired with PyCriticalSection2_End
static int
ok_node_link(NodeObject *a, NodeObject *b)
{
    int rc;
    PyCriticalSection2 cs2;
    PyCriticalSection2_Begin(&cs2, (PyObject *)a, (PyObject *)b);
    rc = PyList_Append(a->edges, (PyObject *)b);
    if (rc == 0) {
        rc = PyList_Append(b->edges, (PyObject *)a);
    }
    a->degree++;
    b->degree++;
    PyCriticalSection2_End(&cs2);
    return rc;
}

// BAD: critical-section-mismatch one-object section closed with PyCriticalSection2_End
static Py_ssize_t
bad_node_degree(NodeObject *n)
{
    Py_ssize_t d;
    PyCriticalSection cs;
    PyCriticalSection_Begin(&cs, (PyObject *)n);
    d = n->degree;
    PyCriticalSection2_End((PyCriticalSection2 *)&cs);
    return d;
}

// OK: one-object section with matching End, result read inside
static Py_ssize_t
ok_node_degree(NodeObject *n)
{
    Py_ssize_t d;
    PyCriticalSection cs;
    PyCriticalSection_Begin(&cs, (PyObject *)n);
    d = n->degree;
    PyCriticalSection_End(&cs);
    return d;
}

// BAD: critical-section-mismatch type-check failure jumps to the shared exit, which Ends a section that was never begun
static PyObject *
bad_node_set_attr(NodeObject *n, PyObject *name, PyObject *value)
{
    PyObject *res = NULL;
    PyCriticalSection cs;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "attribute name must be str");
        goto done;                  /* cs not begun on this path */
    }
    PyCriticalSection_Begin(&cs, (PyObject *)n);
    if (PyDict_SetItem(n->attrs, name, value) == 0) {
        res = Py_NewRef(Py_None);
    }
done:
    PyCriticalSection_End(&cs);
    return res;
}

// OK: argument check happens before the section, shared exit only reached with the section begun
static PyObject *
ok_node_set_attr(NodeObject *n, PyObject *name, PyObject *value)
{
    PyObject *res = NULL;
    PyCriticalSection cs;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "attribute name must be str");
        return NULL;
    }
    PyCriticalSection_Begin(&cs, (PyObject *)n);
    if (PyDict_SetItem(n->attrs, name, value) < 0) {
        goto done;
    }
    res = Py_NewRef(Py_None);
done:
    PyCriticalSection_End(&cs);
    return res;
}

// BAD: critical-section-mismatch nested sections ended out of order (outer End before inner End)
static int
bad_node_copy_attrs(NodeObject *dst, NodeObject *src)
{
    int rc;
    PyCriticalSection outer, inner;
    PyCriticalSection_Begin(&outer, (PyObject *)dst);
    PyCriticalSection_Begin(&inner, dst->attrs);
    rc = PyDict_Update(dst->attrs, src->attrs);
    PyCriticalSection_End(&outer);
    PyCriticalSection_End(&inner);
    return rc;
}

// OK: nested sections ended innermost first
static int
ok_node_copy_attrs(NodeObject *dst, NodeObject *src)
{
    int rc;
    PyCriticalSection outer, inner;
    PyCriticalSection_Begin(&outer, (PyObject *)dst);
    PyCriticalSection_Begin(&inner, dst->attrs);
    rc = PyDict_Update(dst->attrs, src->attrs);
    PyCriticalSection_End(&inner);
    PyCriticalSection_End(&outer);
    return rc;
}

// BAD: critical-section-mismatch,critical-section-leak inner Py_BEGIN_CRITICAL_SECTION2 closed by Py_END_CRITICAL_SECTION (ends the outer section instead)
static int
bad_node_relink(NodeObject *hub, NodeObject *a, NodeObject *b)
{
    int rc = 0;
    Py_BEGIN_CRITICAL_SECTION(hub);
    hub->degree++;
    Py_BEGIN_CRITICAL_SECTION2(a, b);
    rc = PyList_Append(a->edges, (PyObject *)b);
    Py_END_CRITICAL_SECTION();      /* typo: should be Py_END_CRITICAL_SECTION2() */
    Py_END_CRITICAL_SECTION();
    return rc;
}

// OK: two-object macro section nested inside a one-object macro section, each closed by its own END
static int
ok_node_relink(NodeObject *hub, NodeObject *a, NodeObject *b)
{
    int rc = 0;
    Py_BEGIN_CRITICAL_SECTION(hub);
    hub->degree++;
    Py_BEGIN_CRITICAL_SECTION2(a, b);
    rc = PyList_Append(a->edges, (PyObject *)b);
    Py_END_CRITICAL_SECTION2();
    Py_END_CRITICAL_SECTION();
    return rc;
}

static PyMutex graph_ids_mutex = {0};
static uint64_t graph_next_id = 1;

// OK: PyCriticalSection_BeginMutex is closed by the ordinary PyCriticalSection_End
static uint64_t
ok_graph_next_id(void)
{
    uint64_t id;
    PyCriticalSection cs;
    PyCriticalSection_BeginMutex(&cs, &graph_ids_mutex);
    id = graph_next_id++;
    PyCriticalSection_End(&cs);
    return id;
}
