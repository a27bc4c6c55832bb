/*
 * pyexpat-like parser object.  Expat gets a memory-handling suite (a
 * static const struct of malloc/realloc/free functions) at parser creation
 * and a table of content handlers stored on the object and installed later.
 * Every call into expat (XML_ParserCreate_MM, XML_Parse, XML_ParseBuffer,
 * XML_GetBuffer, XML_ParserFree) is made with the GIL held, exactly like
 * CPython's pyexpat, so the callbacks may use the Python API directly.
 * The only GIL release in this file wraps a plain read(2), which does not
 * call expat.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

/* ---- minimal expat declarations (<expat.h>) ---- */
typedef char XML_Char;
typedef unsigned char XML_Bool;
#define XML_TRUE ((XML_Bool)1)
#define XML_FALSE ((XML_Bool)0)
typedef struct XML_ParserStruct *XML_Parser;
enum XML_Status { XML_STATUS_ERROR = 0, XML_STATUS_OK = 1, XML_STATUS_SUSPENDED = 2 };
enum XML_Error { XML_ERROR_NONE = 0, XML_ERROR_NO_MEMORY = 1 };

typedef struct {
    void *(*malloc_fcn)(size_t size);
    void *(*realloc_fcn)(void *ptr, size_t size);
    void (*free_fcn)(void *ptr);
} XML_Memory_Handling_Suite;

typedef void (*XML_StartElementHandler)(void *userData, const XML_Char *name, const XML_Char **atts);
typedef void (*XML_EndElementHandler)(void *userData, const XML_Char *name);
typedef void (*XML_CharacterDataHandler)(void *userData, const XML_Char *s, int len);
typedef void (*XML_ProcessingInstructionHandler)(void *userData, const XML_Char *target, const XML_Char *data);

XML_Parser XML_ParserCreate_MM(const XML_Char *encoding,
                               const XML_Memory_Handling_Suite *memsuite,
                               const XML_Char *namespaceSeparator);
void XML_ParserFree(XML_Parser parser);
void XML_SetUserData(XML_Parser parser, void *userData);
void XML_SetElementHandler(XML_Parser parser, XML_StartElementHandler start, XML_EndElementHandler end);
void XML_SetCharacterDataHandler(XML_Parser parser, XML_CharacterDataHandler handler);
void XML_SetProcessingInstructionHandler(XML_Parser parser, XML_ProcessingInstructionHandler handler);
enum XML_Status XML_Parse(XML_Parser parser, const char *s, int len, int isFinal);
void *XML_GetBuffer(XML_Parser parser, int len);
enum XML_Status XML_ParseBuffer(XML_Parser parser, int len, int isFinal);
enum XML_Status XML_StopParser(XML_Parser parser, XML_Bool resumable);
enum XML_Error XML_GetErrorCode(XML_Parser parser);
const XML_Char *XML_ErrorString(enum XML_Error code);
unsigned long XML_GetCurrentLineNumber(XML_Parser parser);

/* ---- the parser object ---- */
struct handler_table {
    XML_StartElementHandler start;
    XML_EndElementHandler end;
    XML_CharacterDataHandler chardata;
    XML_ProcessingInstructionHandler pi;
};

typedef struct {
    PyObject_HEAD
    XML_Parser parser;
    const struct handler_table *handlers;
    PyObject *target;        /* object with start/end/data/pi methods */
    PyObject *text_buffer;   /* list of pending text chunks */
    int in_callback;
} XMLParserObject;

// OK: expat is only ever called with the GIL held in this file, so PyObject_Malloc is called with the GIL
static void *
xml_py_malloc(size_t size)
{
    return PyObject_Malloc(size);
}

// OK: expat is only ever called with the GIL held in this file, so PyObject_Realloc is called with the GIL
static void *
xml_py_realloc(void *ptr, size_t size)
{
    return PyObject_Realloc(ptr, size);
}

// OK: expat is only ever called with the GIL held in this file, so PyObject_Free is called with the GIL
static void
xml_py_free(void *ptr)
{
    PyObject_Free(ptr);
}

static const XML_Memory_Handling_Suite xml_py_memsuite = {
    .malloc_fcn = xml_py_malloc,
    .realloc_fcn = xml_py_realloc,
    .free_fcn = xml_py_free,
};

static int
flush_text(XMLParserObject *self)
{
    PyObject *sep, *text, *res;

    if (PyList_GET_SIZE(self->text_buffer) == 0)
        return 0;
    sep = PyUnicode_FromStringAndSize("", 0);
    if (sep == NULL)
        return -1;
    text = PyUnicode_Join(sep, self->text_buffer);
    Py_DECREF(sep);
    if (text == NULL)
        return -1;
    if (PyList_SetSlice(self->text_buffer, 0, PY_SSIZE_T_MAX, NULL) < 0) {
        Py_DECREF(text);
        return -1;
    }
    res = PyObject_CallMethod(self->target, "data", "N", text);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

// OK: runs inside XML_Parse, which is always called with the GIL held; builds the attribute dict and calls target.start()
static void
xml_start_element(void *userData, const XML_Char *name, const XML_Char **atts)
{
    XMLParserObject *self = (XMLParserObject *)userData;
    PyObject *attrib = NULL, *res;
    int i;

    if (flush_text(self) < 0)
        goto error;
    attrib = PyDict_New();
    if (attrib == NULL)
        goto error;
    for (i = 0; atts[i] != NULL; i += 2) {
        PyObject *v = PyUnicode_DecodeUTF8(atts[i + 1], (Py_ssize_t)strlen(atts[i + 1]), "strict");
        if (v == NULL || PyDict_SetItemString(attrib, atts[i], v) < 0) {
            Py_XDECREF(v);
            goto error;
        }
        Py_DECREF(v);
    }
    self->in_callback = 1;
    res = PyObject_CallMethod(self->target, "start", "sO", name, attrib);
    self->in_callback = 0;
    Py_DECREF(attrib);
    if (res == NULL)
        goto stop;
    Py_DECREF(res);
    return;

error:
    Py_XDECREF(attrib);
stop:
    XML_StopParser(self->parser, XML_FALSE);
}

// OK: runs inside XML_Parse with the GIL held
static void
xml_end_element(void *userData, const XML_Char *name)
{
    XMLParserObject *self = (XMLParserObject *)userData;
    PyObject *res;

    if (flush_text(self) < 0) {
        XML_StopParser(self->parser, XML_FALSE);
        return;
    }
    res = PyObject_CallMethod(self->target, "end", "s", name);
    if (res == NULL) {
        XML_StopParser(self->parser, XML_FALSE);
        return;
    }
    Py_DECREF(res);
}

// OK: runs inside XML_Parse with the GIL held; appends to a Python list
static void
xml_char_data(void *userData, const XML_Char *s, int len)
{
    XMLParserObject *self = (XMLParserObject *)userData;
    PyObject *chunk = PyUnicode_DecodeUTF8(s, len, "strict");

    if (chunk == NULL || PyList_Append(self->text_buffer, chunk) < 0)
        XML_StopParser(self->parser, XML_FALSE);
    Py_XDECREF(chunk);
}

// OK: redundantly takes the GIL with PyGILState_Ensure/Release (harmless, and correct on every path)
static void
xml_processing_instruction(void *userData, const XML_Char *target, const XML_Char *data)
{
    XMLParserObject *self = (XMLParserObject *)userData;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *res = PyObject_CallMethod(self->target, "pi", "ss", target, data);
    if (res == NULL)
        XML_StopParser(self->parser, XML_FALSE);
    else
        Py_DECREF(res);
    PyGILState_Release(gil);
}

static const struct handler_table default_handlers = {
    .start = xml_start_element,
    .end = xml_end_element,
    .chardata = xml_char_data,
    .pi = xml_processing_instruction,
};

/* ---- create the parser (memory suite handed over) ---- */
static int
XMLParser_init(XMLParserObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *target;
    const char *encoding = NULL;

    if (!PyArg_ParseTuple(args, "O|z", &target, &encoding))
        return -1;

    self->parser = XML_ParserCreate_MM(encoding, &xml_py_memsuite, NULL);
    if (self->parser == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->text_buffer = PyList_New(0);
    if (self->text_buffer == NULL)
        goto fail;
    Py_INCREF(target);
    Py_XSETREF(self->target, target);
    self->handlers = &default_handlers;
    XML_SetUserData(self->parser, self);
    return 0;

fail:
    XML_ParserFree(self->parser);
    self->parser = NULL;
    return -1;
}

/* ---- install the stored handler table ---- */
static void
XMLParser_install_handlers(XMLParserObject *self)
{
    const struct handler_table *h = self->handlers;
    XML_SetElementHandler(self->parser, h->start, h->end);
    XML_SetCharacterDataHandler(self->parser, h->chardata);
    if (h->pi != NULL && PyObject_HasAttrString(self->target, "pi"))
        XML_SetProcessingInstructionHandler(self->parser, h->pi);
}

static PyObject *
set_expat_error(XMLParserObject *self)
{
    enum XML_Error code = XML_GetErrorCode(self->parser);
    if (PyErr_Occurred())
        return NULL;          /* raised by a handler */
    if (code == XML_ERROR_NO_MEMORY)
        return PyErr_NoMemory();
    PyErr_Format(PyExc_SyntaxError, "%s: line %lu", XML_ErrorString(code),
                 XML_GetCurrentLineNumber(self->parser));
    return NULL;
}

/* ---- drive expat, always with the GIL held ---- */
static PyObject *
XMLParser_feed(XMLParserObject *self, PyObject *args)
{
    const char *data;
    Py_ssize_t len;
    int final = 0;

    if (!PyArg_ParseTuple(args, "s#|p", &data, &len, &final))
        return NULL;
    if (len > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "chunk too large");
        return NULL;
    }
    XMLParser_install_handlers(self);
    if (XML_Parse(self->parser, data, (int)len, final) == XML_STATUS_ERROR)
        return set_expat_error(self);
    if (final && flush_text(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
XMLParser_parse_fd(XMLParserObject *self, PyObject *args)
{
    int fd;
    void *buf;
    ssize_t n;
    int saved_errno;

    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    XMLParser_install_handlers(self);

    for (;;) {
        buf = XML_GetBuffer(self->parser, 8192);
        if (buf == NULL)
            return PyErr_NoMemory();

        /* only the system call runs without the GIL; expat is not called here */
        Py_BEGIN_ALLOW_THREADS
        n = read(fd, buf, 8192);
        saved_errno = errno;
        Py_END_ALLOW_THREADS

        if (n < 0) {
            errno = saved_errno;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (XML_ParseBuffer(self->parser, (int)n, n == 0) == XML_STATUS_ERROR)
            return set_expat_error(self);
        if (n == 0)
            break;
    }
    if (flush_text(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static void
XMLParser_dealloc(XMLParserObject *self)
{
    if (self->parser)
        XML_ParserFree(self->parser);   /* calls xml_py_free, GIL held */
    Py_XDECREF(self->target);
    Py_XDECREF(self->text_buffer);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef XMLParser_methods[] = {
    {"feed", (PyCFunction)XMLParser_feed, METH_VARARGS, NULL},
    {"parse_fd", (PyCFunction)XMLParser_parse_fd, METH_VARARGS, NULL},
    {NULL}
};

static PyTypeObject XMLParserType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_xmlfeed.XMLParser",
    .tp_basicsize = sizeof(XMLParserObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)XMLParser_dealloc,
    .tp_methods = XMLParser_methods,
    .tp_init = (initproc)XMLParser_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef xmlfeedmodule = {
    PyModuleDef_HEAD_INIT, "_xmlfeed", NULL, -1, NULL
};

PyMODINIT_FUNC
PyInit__xmlfeed(void)
{
    PyObject *m;
    if (PyType_Ready(&XMLParserType) < 0)
        return NULL;
    m = PyModule_Create(&xmlfeedmodule);
    if (m == NULL)
        return NULL;
    Py_INCREF(&XMLParserType);
    PyModule_AddObject(m, "XMLParser", (PyObject *)&XMLParserType);
    return m;
}
