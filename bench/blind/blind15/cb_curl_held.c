/* A "simple get" helper: registers a write callback that takes the GIL via
 * PyGILState_Ensure, and performs the transfer. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "fakelibs.h"

typedef struct {
    PyObject *chunks;   /* list of bytes */
} collect_ctx;

/* OK: takes the GIL (re-entrantly if already held) before appending. */
static size_t
ok_collect_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    collect_ctx *ctx = (collect_ctx *)userdata;
    size_t total = size * nmemb;
    PyGILState_STATE gs;
    PyObject *b;
    int rc = -1;

    gs = PyGILState_Ensure();
    b = PyBytes_FromStringAndSize(data, (Py_ssize_t)total);
    if (b != NULL) {
        rc = PyList_Append(ctx->chunks, b);
        Py_DECREF(b);
    }
    PyGILState_Release(gs);
    return rc == 0 ? total : 0;
}

/* BAD: curl_easy_perform (network transfer) runs with the GIL held. */
static PyObject *
bad_simple_get(PyObject *module, PyObject *args)
{
    const char *url;
    CURL *curl;
    CURLcode rc;
    collect_ctx ctx;
    PyObject *sep, *result;

    if (!PyArg_ParseTuple(args, "s:simple_get", &url))
        return NULL;
    curl = curl_easy_init();
    if (curl == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "curl_easy_init failed");
        return NULL;
    }
    ctx.chunks = PyList_New(0);
    if (ctx.chunks == NULL)
        goto fail;

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ok_collect_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, (void *)&ctx);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);

    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        PyErr_Format(PyExc_OSError, "curl: %s", curl_easy_strerror(rc));
        goto fail;
    }
    curl_easy_cleanup(curl);

    sep = PyBytes_FromStringAndSize("", 0);
    if (sep == NULL) {
        Py_DECREF(ctx.chunks);
        return NULL;
    }
    result = _PyBytes_Join(sep, ctx.chunks);
    Py_DECREF(sep);
    Py_DECREF(ctx.chunks);
    return result;

fail:
    Py_XDECREF(ctx.chunks);
    curl_easy_cleanup(curl);
    return NULL;
}

/* OK: same helper with the transfer released; the callback takes the GIL
 * itself. */
static PyObject *
ok_simple_get(PyObject *module, PyObject *args)
{
    const char *url;
    CURL *curl;
    CURLcode rc;
    collect_ctx ctx;
    PyObject *sep, *result;

    if (!PyArg_ParseTuple(args, "s:simple_get", &url))
        return NULL;
    curl = curl_easy_init();
    if (curl == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "curl_easy_init failed");
        return NULL;
    }
    ctx.chunks = PyList_New(0);
    if (ctx.chunks == NULL)
        goto fail;

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ok_collect_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, (void *)&ctx);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);

    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(curl);
    Py_END_ALLOW_THREADS
    if (rc != CURLE_OK) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_OSError, "curl: %s", curl_easy_strerror(rc));
        goto fail;
    }
    curl_easy_cleanup(curl);

    sep = PyBytes_FromStringAndSize("", 0);
    if (sep == NULL) {
        Py_DECREF(ctx.chunks);
        return NULL;
    }
    result = _PyBytes_Join(sep, ctx.chunks);
    Py_DECREF(sep);
    Py_DECREF(ctx.chunks);
    return result;

fail:
    Py_XDECREF(ctx.chunks);
    curl_easy_cleanup(curl);
    return NULL;
}

static PyMethodDef simpleget_methods[] = {
    {"simple_get", bad_simple_get, METH_VARARGS, NULL},
    {"simple_get_released", ok_simple_get, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
