/* A bulk tag counter: the whole document is parsed with the GIL released
 * (for speed on large inputs), so every expat handler runs without the GIL
 * and must take it before touching Python objects. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <expat.h>

typedef struct {
    XML_Parser parser;
    PyObject *counts;     /* dict: tag -> int */
    PyObject *text;       /* list of str */
    long depth;
    long max_depth;
    int failed;
} count_ctx;

/* BAD: updates the counts dict with Python API without taking the GIL. */
static void
bad_count_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    count_ctx *ctx = (count_ctx *)ud;
    PyObject *key, *old, *val;
    long n = 0;

    ctx->depth++;
    if (ctx->depth > ctx->max_depth)
        ctx->max_depth = ctx->depth;

    key = PyUnicode_FromString(name);
    if (key == NULL)
        goto error;
    old = PyDict_GetItemWithError(ctx->counts, key);
    if (old != NULL)
        n = PyLong_AsLong(old);
    val = PyLong_FromLong(n + 1);
    if (val == NULL || PyDict_SetItem(ctx->counts, key, val) < 0) {
        Py_XDECREF(val);
        Py_DECREF(key);
        goto error;
    }
    Py_DECREF(val);
    Py_DECREF(key);
    return;

error:
    ctx->failed = 1;
    XML_StopParser(ctx->parser, XML_FALSE);
}

/* OK: pure C end handler: touches only the C struct, no Python API. */
static void
ok_count_end(void *ud, const XML_Char *name)
{
    count_ctx *ctx = (count_ctx *)ud;

    (void)name;
    ctx->depth--;
}

/* OK: character-data handler takes the GIL first. */
static void
ok_count_text(void *ud, const XML_Char *s, int len)
{
    count_ctx *ctx = (count_ctx *)ud;
    PyGILState_STATE gs;
    PyObject *t;

    gs = PyGILState_Ensure();
    t = PyUnicode_DecodeUTF8(s, len, "replace");
    if (t == NULL || PyList_Append(ctx->text, t) < 0) {
        ctx->failed = 1;
        XML_StopParser(ctx->parser, XML_FALSE);
    }
    Py_XDECREF(t);
    PyGILState_Release(gs);
}

/* OK: drives XML_Parse with the GIL released; handlers are responsible for
 * the GIL. */
static PyObject *
ok_count_tags(PyObject *module, PyObject *args)
{
    Py_buffer doc;
    count_ctx ctx;
    enum XML_Status st;
    PyObject *result = NULL;

    if (!PyArg_ParseTuple(args, "y*:count_tags", &doc))
        return NULL;
    if (doc.len > INT_MAX) {
        PyBuffer_Release(&doc);
        PyErr_SetString(PyExc_OverflowError, "document too large");
        return NULL;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.counts = PyDict_New();
    ctx.text = PyList_New(0);
    ctx.parser = XML_ParserCreate("UTF-8");
    if (ctx.counts == NULL || ctx.text == NULL || ctx.parser == NULL) {
        if (ctx.parser == NULL && !PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    XML_SetUserData(ctx.parser, &ctx);
    XML_SetElementHandler(ctx.parser, bad_count_start, ok_count_end);
    XML_SetCharacterDataHandler(ctx.parser, ok_count_text);

    Py_BEGIN_ALLOW_THREADS
    st = XML_Parse(ctx.parser, doc.buf, (int)doc.len, 1);
    Py_END_ALLOW_THREADS

    if (ctx.failed) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "handler failed");
        goto done;
    }
    if (st == XML_STATUS_ERROR) {
        PyErr_SetString(PyExc_ValueError,
                        XML_ErrorString(XML_GetErrorCode(ctx.parser)));
        goto done;
    }
    result = Py_BuildValue("(OOl)", ctx.counts, ctx.text, ctx.max_depth);

done:
    if (ctx.parser != NULL)
        XML_ParserFree(ctx.parser);
    Py_XDECREF(ctx.counts);
    Py_XDECREF(ctx.text);
    PyBuffer_Release(&doc);
    return result;
}

static PyMethodDef tagcount_methods[] = {
    {"count_tags", ok_count_tags, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
