/* feedkit: sort/parse/download helpers for an RSS aggregator */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>
#include "ft.h"

/* --- expat (declared locally) --- */
typedef struct XML_ParserStruct *XML_Parser;
typedef char XML_Char;
typedef void (*XML_StartElementHandler)(void *ud, const XML_Char *name, const XML_Char **atts);
typedef void (*XML_EndElementHandler)(void *ud, const XML_Char *name);
XML_Parser XML_ParserCreate(const XML_Char *enc);
void XML_SetUserData(XML_Parser p, void *ud);
void XML_SetElementHandler(XML_Parser p, XML_StartElementHandler s, XML_EndElementHandler e);
int XML_Parse(XML_Parser p, const char *s, int len, int isFinal);
void XML_ParserFree(XML_Parser p);

/* --- libcurl (declared locally) --- */
typedef void CURL;
typedef int CURLcode;
typedef int CURLoption;
typedef long long curl_off_t;
#define CURLOPT_URL 10002
#define CURLOPT_NOPROGRESS 43
#define CURLOPT_XFERINFOFUNCTION 20219
#define CURLOPT_XFERINFODATA 10057
CURL *curl_easy_init(void);
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...);
CURLcode curl_easy_perform(CURL *h);
void curl_easy_cleanup(CURL *h);

typedef struct { PyObject *key; long ts; } Entry;

int bad_cmp_by_key(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    int lt = PyObject_RichCompareBool(x->key, y->key, Py_LT);
    if (lt > 0) return -1;
    return PyObject_RichCompareBool(x->key, y->key, Py_GT) > 0 ? 1 : 0;
}

/* Comparator used by qsort called with the GIL held. */
int ok_cmp_py(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    int lt = PyObject_RichCompareBool(x->key, y->key, Py_LT);
    if (lt > 0) return -1;
    return PyObject_RichCompareBool(x->key, y->key, Py_GT) > 0 ? 1 : 0;
}

static PyObject *helper_sort_entries(PyObject *self, PyObject *seq)
{
    Py_ssize_t n = PyList_Size(seq);
    if (n < 0) return NULL;
    Entry *v = PyMem_Calloc((size_t)n + 1, sizeof(Entry));
    if (!v) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) v[i].key = PyList_GET_ITEM(seq, i);
    Py_BEGIN_ALLOW_THREADS
    qsort(v, (size_t)n, sizeof(Entry), bad_cmp_by_key);
    Py_END_ALLOW_THREADS
    qsort(v, (size_t)n, sizeof(Entry), ok_cmp_py);
    PyObject *out = PyList_New(n);
    if (out) for (Py_ssize_t i = 0; i < n; i++) { Py_INCREF(v[i].key); PyList_SET_ITEM(out, i, v[i].key); }
    PyMem_Free(v);
    return out;
}

void bad_xml_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    PyObject *tags = (PyObject *)ud;
    PyObject *s = PyUnicode_FromString(name);
    if (s) { PyList_Append(tags, s); Py_DECREF(s); }
}

void ok_xml_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *tags = (PyObject *)ud;
    PyObject *s = PyUnicode_FromString(name);
    if (s) { PyList_Append(tags, s); Py_DECREF(s); }
    else PyErr_Clear();
    PyGILState_Release(g);
}

void helper_xml_end(void *ud, const XML_Char *name) { (void)ud; (void)name; }

static PyObject *helper_parse(PyObject *self, PyObject *args)
{
    const char *doc; Py_ssize_t len; int careful;
    if (!PyArg_ParseTuple(args, "y#p", &doc, &len, &careful)) return NULL;
    PyObject *tags = PyList_New(0);
    if (!tags) return NULL;
    XML_Parser p = XML_ParserCreate(NULL);
    XML_SetUserData(p, tags);
    XML_SetElementHandler(p, careful ? ok_xml_start : bad_xml_start, helper_xml_end);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = XML_Parse(p, doc, (int)len, 1);
    Py_END_ALLOW_THREADS
    XML_ParserFree(p);
    if (!rc) { Py_DECREF(tags); PyErr_SetString(PyExc_ValueError, "bad feed"); return NULL; }
    return tags;
}

int bad_curl_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                      curl_off_t ultotal, curl_off_t ulnow)
{
    PyObject *r = PyObject_CallFunction((PyObject *)clientp, "LL", dlnow, dltotal);
    int stop = (r == NULL) || PyObject_IsTrue(r) == 1;
    Py_XDECREF(r);
    return stop;
}

int ok_curl_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                     curl_off_t ultotal, curl_off_t ulnow)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction((PyObject *)clientp, "LL", dlnow, dltotal);
    int stop = 1;
    if (r != NULL) { stop = PyObject_IsTrue(r) == 1; Py_DECREF(r); }
    else PyErr_Clear();
    PyGILState_Release(g);
    return stop;
}

static PyObject *helper_download(PyObject *self, PyObject *args)
{
    const char *url; PyObject *cb; int careful;
    if (!PyArg_ParseTuple(args, "sOp", &url, &cb, &careful)) return NULL;
    CURL *h = curl_easy_init();
    if (!h) return PyErr_NoMemory();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    if (careful)
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, ok_curl_progress);
    else
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, bad_curl_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)cb);
    CURLcode rc;
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(h);
    Py_END_ALLOW_THREADS
    curl_easy_cleanup(h);
    return PyLong_FromLong(rc);
}

static PyMethodDef feed_methods[] = {
    {"sort_entries", helper_sort_entries, METH_O, NULL},
    {"parse", helper_parse, METH_VARARGS, NULL},
    {"download", helper_download, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
static PyModuleDef_Slot feed_slots[] = {
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL}
};
static struct PyModuleDef feed_module = {
    PyModuleDef_HEAD_INIT, "feedkit", NULL, 0, feed_methods, feed_slots
};
PyMODINIT_FUNC PyInit_feedkit(void) { return PyModuleDef_Init(&feed_module); }
