// Callbacks set on a library handle in one function and run by a call on that kind of handle made with the GIL
// released in another: they start without the GIL and must take it (pycurl 7.45.4 added the missing checks to
// four of its callbacks). libcurl is modelled (rules/libs/curl.yml says which calls run callbacks); expat is
// not, so any other call of its prefix on an XML_Parser may. The prototypes are declared here.
#include <Python.h>
#include <stddef.h>

typedef void CURL;
typedef int CURLcode;
CURLcode curl_easy_setopt(CURL *handle, int option, ...);
CURLcode curl_easy_perform(CURL *handle);
CURLcode curl_easy_getinfo(CURL *handle, int info, ...);
#define CURLOPT_WRITEFUNCTION 20011
#define CURLOPT_HEADERFUNCTION 20079
#define CURLOPT_WRITEDATA 10001

typedef struct XML_ParserStruct *XML_Parser;
typedef void (*XML_CharacterDataHandler)(void *user, const char *s, int len);
void XML_SetCharacterDataHandler(XML_Parser p, XML_CharacterDataHandler h);
int XML_Parse(XML_Parser p, const char *s, int len, int isFinal);

typedef struct { PyObject_HEAD CURL *handle; PyObject *on_data; PyObject *on_header; } Easy;
typedef struct { PyObject_HEAD XML_Parser parser; PyObject *on_text; } Reader;

static size_t bad_write_callback(char *ptr, size_t size, size_t n, void *userdata)
{
    Easy *self = userdata;
    PyObject *r = PyObject_CallFunction(self->on_data, "y#", ptr, (Py_ssize_t)(size * n));   // expect-error{{handed to curl_easy_setopt() at callbacks_run_by_released_calls.c:58, then called back by curl_easy_perform() at callbacks_run_by_released_calls.c:69, where the GIL is released}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return size * n;
}

static size_t ok_header_callback(char *ptr, size_t size, size_t n, void *userdata)
{
    Easy *self = userdata;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(self->on_header, "y#", ptr, (Py_ssize_t)(size * n));
    Py_XDECREF(r);
    PyGILState_Release(g);
    return size * n;
}

static void bad_text_handler(void *user, const char *s, int len)
{
    Reader *self = user;
    PyObject *text = PyUnicode_DecodeUTF8(s, len, "replace");     // expect-error{{handed to XML_SetCharacterDataHandler() at callbacks_run_by_released_calls.c:76, then called back by XML_Parse() at callbacks_run_by_released_calls.c:90}} [thread-entry-without-gil]
    Py_XDECREF(text);
}

static PyObject *set_callbacks(PyObject *op, PyObject *args)
{
    Easy *self = (Easy *)op;
    PyObject *data, *header;
    if (!PyArg_ParseTuple(args, "OO", &data, &header))
        return NULL;
    Py_XSETREF(self->on_data, Py_NewRef(data));
    Py_XSETREF(self->on_header, Py_NewRef(header));
    curl_easy_setopt(self->handle, CURLOPT_WRITEFUNCTION, bad_write_callback);
    curl_easy_setopt(self->handle, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_HEADERFUNCTION, ok_header_callback);
    Py_RETURN_NONE;
}

static PyObject *perform(PyObject *op, PyObject *unused)
{
    Easy *self = (Easy *)op;
    CURLcode rc;
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(self->handle);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(rc);
}

static int reader_init(Reader *self)
{
    XML_SetCharacterDataHandler(self->parser, bad_text_handler);
    return 0;
}

static PyObject *feed(PyObject *op, PyObject *arg)
{
    Reader *self = (Reader *)op;
    Py_buffer view;
    int ok;
    if (reader_init(self) < 0)
        return NULL;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    ok = XML_Parse(self->parser, view.buf, (int)view.len, 0);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"set_callbacks", set_callbacks, METH_VARARGS, NULL},
    {"perform", perform, METH_NOARGS, NULL},
    {"feed", feed, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
