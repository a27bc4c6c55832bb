/* An embedding host: a 3D application runs Python node scripts from its render threads.
 * Each entry point below is called on a render worker thread that does not hold the GIL.
 * Two of them have GIL bugs that hang or crash the host; gilcheck finds them. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>

typedef struct {
    PyObject *script;      /* the node's compiled Python callable */
    double inputs[4];
    double output;
} Node;

extern int scene_is_locked(void);
extern void log_error(const char *what);

/* Correct: every path releases the state it ensured. */
int node_evaluate(Node *node)
{
    int rc = -1;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *args = Py_BuildValue("(dddd)", node->inputs[0], node->inputs[1], node->inputs[2], node->inputs[3]);
    if (args == NULL)
        goto done;
    PyObject *result = PyObject_CallObject(node->script, args);
    Py_DECREF(args);
    if (result == NULL) {
        PyErr_Print();
        goto done;
    }
    node->output = PyFloat_AsDouble(result);
    Py_DECREF(result);
    rc = 0;
done:
    PyGILState_Release(gil);
    return rc;
}

/* Bug: the early return when the scene is locked keeps the GIL; every other render thread then hangs. */
int node_refresh(Node *node)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    if (scene_is_locked()) {
        log_error("scene locked, skipping refresh");
        return -1;
    }
    PyObject *r = PyObject_CallMethod(node->script, "refresh", NULL);
    Py_XDECREF(r);
    PyGILState_Release(gil);
    return 0;
}

/* Bug: drops the GIL around the slow bake, but touches a Python object inside the region. */
PyObject *node_bake(PyObject *self, PyObject *samples)
{
    long n = PyList_GET_SIZE(samples);
    double total = 0;
    Py_BEGIN_ALLOW_THREADS
    for (long i = 0; i < n; i++)
        total += PyFloat_AsDouble(PyList_GET_ITEM(samples, i));
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(total);
}

/* Correct: the GIL is only taken when the caller does not already hold it. */
void node_notify(Node *node, const char *event)
{
    const int need_gil = !PyGILState_Check();
    PyGILState_STATE gil;
    if (need_gil)
        gil = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(node->script, "notify", "s", event);
    Py_XDECREF(r);
    if (need_gil)
        PyGILState_Release(gil);
}
