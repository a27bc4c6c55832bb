/* pyexpat-style parser: XML_Parse is called on an in-memory buffer with the
 * GIL held (it does no I/O), so the handlers it calls synchronously already
 * hold the GIL and may call Python directly. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <expat.h>

typedef struct {
    PyObject_HEAD
    XML_Parser parser;
    PyObject *start_handler;
    PyObject *end_handler;
    int in_callback;
} XMLParserObject;

static void
flag_error(XMLParserObject *self)
{
    XML_StopParser(self->parser, XML_FALSE);
}

/* OK: start-element handler; runs inside XML_Parse called with the GIL
 * held, so calling Python directly is correct. */
static void
ok_start_element(void *userData, const XML_Char *name, const XML_Char **atts)
{
    XMLParserObject *self = (XMLParserObject *)userData;
    PyObject *attrs, *res;
    int i;

    if (self->start_handler == NULL)
        return;
    attrs = PyDict_New();
    if (attrs == NULL) {
        flag_error(self);
        return;
    }
    for (i = 0; atts[i] != NULL; i += 2) {
        PyObject *v = PyUnicode_FromString(atts[i + 1]);
        if (v == NULL || PyDict_SetItemString(attrs, atts[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(attrs);
            flag_error(self);
            return;
        }
        Py_DECREF(v);
    }
    self->in_callback = 1;
    res = PyObject_CallFunction(self->start_handler, "sO", name, attrs);
    self->in_callback = 0;
    Py_DECREF(attrs);
    if (res == NULL) {
        flag_error(self);
        return;
    }
    Py_DECREF(res);
}

/* OK: end-element handler, same reasoning (GIL held by the caller of
 * XML_Parse). */
static void
ok_end_element(void *userData, const XML_Char *name)
{
    XMLParserObject *self = (XMLParserObject *)userData;
    PyObject *res;

    if (self->end_handler == NULL)
        return;
    res = PyObject_CallFunction(self->end_handler, "s", name);
    if (res == NULL) {
        flag_error(self);
        return;
    }
    Py_DECREF(res);
}

/* OK: Parse(data) -- registers the handlers and feeds the buffer with the
 * GIL held (CPU-only, in-memory). */
static PyObject *
ok_xmlparse_Parse(XMLParserObject *self, PyObject *args)
{
    const char *data;
    Py_ssize_t len;
    int isfinal = 0;
    enum XML_Status st;

    if (!PyArg_ParseTuple(args, "y#|p:Parse", &data, &len, &isfinal))
        return NULL;
    if (len > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "chunk too large");
        return NULL;
    }

    XML_SetUserData(self->parser, self);
    XML_SetElementHandler(self->parser, ok_start_element, ok_end_element);

    st = XML_Parse(self->parser, data, (int)len, isfinal);
    if (PyErr_Occurred())
        return NULL;
    if (st == XML_STATUS_ERROR) {
        PyErr_Format(PyExc_ValueError, "%s: line %lu",
                     XML_ErrorString(XML_GetErrorCode(self->parser)),
                     (unsigned long)XML_GetCurrentLineNumber(self->parser));
        return NULL;
    }
    return PyLong_FromLong(st);
}

static PyMethodDef xmlparse_methods[] = {
    {"Parse", (PyCFunction)ok_xmlparse_Parse, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
