// Two functions, each with a parser of its own in a local struct: the handler set on one parser is run by that
// function's XML_Parse alone. One parses with the GIL held (its handler may build Python objects), the other
// releases the GIL around XML_Parse and its handler touches no Python. Neither handler runs without the GIL
// through the other function's parser.
#include <Python.h>

typedef struct XML_ParserStruct *XML_Parser;
typedef char XML_Char;
typedef void (*XML_StartElementHandler)(void *ud, const XML_Char *name, const XML_Char **atts);
typedef void (*XML_EndElementHandler)(void *ud, const XML_Char *name);
XML_Parser XML_ParserCreate(const XML_Char *encoding);
void XML_SetUserData(XML_Parser p, void *ud);
void XML_SetElementHandler(XML_Parser p, XML_StartElementHandler start, XML_EndElementHandler end);
int XML_Parse(XML_Parser p, const char *s, int len, int is_final);
void XML_ParserFree(XML_Parser p);

typedef struct { PyObject *entries; XML_Parser parser; long count; } ctx_t;

static void on_start_with_gil(void *ud, const XML_Char *name, const XML_Char **atts)
{
    ctx_t *c = ud;
    PyObject *s = PyUnicode_FromString(name);
    if (s != NULL) { PyList_Append(c->entries, s); Py_DECREF(s); }
}

static void on_start_count(void *ud, const XML_Char *name, const XML_Char **atts) { ((ctx_t *)ud)->count++; }
static void on_end(void *ud, const XML_Char *name) {}

PyObject *ok_parse_with_gil(PyObject *mod, PyObject *arg)
{
    ctx_t c = {0};
    const char *doc = PyBytes_AsString(arg);
    if (doc == NULL || (c.entries = PyList_New(0)) == NULL)
        return NULL;
    c.parser = XML_ParserCreate(NULL);
    XML_SetUserData(c.parser, &c);
    XML_SetElementHandler(c.parser, on_start_with_gil, on_end);
    XML_Parse(c.parser, doc, (int)PyBytes_GET_SIZE(arg), 1);
    XML_ParserFree(c.parser);
    return c.entries;
}

PyObject *ok_count_without_gil(PyObject *mod, PyObject *arg)
{
    ctx_t c = {0};
    const char *doc = PyBytes_AsString(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    if (doc == NULL)
        return NULL;
    c.parser = XML_ParserCreate(NULL);
    XML_SetUserData(c.parser, &c);
    XML_SetElementHandler(c.parser, on_start_count, on_end);
    Py_BEGIN_ALLOW_THREADS
    XML_Parse(c.parser, doc, (int)n, 1);
    XML_ParserFree(c.parser);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(c.count);
}
