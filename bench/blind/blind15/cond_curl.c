/* pycurl-style callbacks.  self->state is the thread state saved by
 * perform() before it released the GIL; it is NULL when no perform is in
 * progress (e.g. curl calls a callback from curl_easy_cleanup), in which
 * case the callback cannot (and must not) run Python code. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "fakelibs.h"

typedef struct {
    PyObject_HEAD
    CURL *handle;
    PyThreadState *state;
    PyObject *w_cb;
    PyObject *h_cb;
    PyObject *r_cb;
    PyObject *xferinfo_cb;
} CurlObject;

/* Returns 1 and takes the GIL if a perform is in progress, else 0. */
static int
acquire_thread(const CurlObject *self, PyThreadState **state)
{
    if (self == NULL || self->state == NULL) {
        *state = NULL;
        return 0;
    }
    *state = self->state;
    PyEval_AcquireThread(*state);
    return 1;
}

static void
release_thread(PyThreadState *state)
{
    PyEval_ReleaseThread(state);
}

#define DECLARE_THREAD_STATE PyThreadState *tmp_state
#define ACQUIRE_THREAD() acquire_thread(self, &tmp_state)
#define RELEASE_THREAD() release_thread(tmp_state)

/* BAD: ignores acquire_thread()'s result and calls Python (and releases)
 * even when the GIL was not taken. */
static size_t
bad_write_callback(char *ptr, size_t size, size_t nmemb, void *stream)
{
    CurlObject *self = (CurlObject *)stream;
    PyThreadState *st;
    PyObject *res;
    size_t ret = 0;
    size_t total = size * nmemb;

    acquire_thread(self, &st);
    res = PyObject_CallFunction(self->w_cb, "y#", ptr, (Py_ssize_t)total);
    if (res == NULL) {
        PyErr_Print();
    }
    else {
        ret = (res == Py_None) ? total : (size_t)PyLong_AsSsize_t(res);
        Py_DECREF(res);
    }
    release_thread(st);
    return ret;
}

/* OK: bails out when acquire_thread() reports the GIL was not taken. */
static size_t
ok_write_callback(char *ptr, size_t size, size_t nmemb, void *stream)
{
    CurlObject *self = (CurlObject *)stream;
    PyThreadState *st;
    PyObject *res;
    size_t ret = 0;
    size_t total = size * nmemb;

    if (!acquire_thread(self, &st))
        return 0;
    res = PyObject_CallFunction(self->w_cb, "y#", ptr, (Py_ssize_t)total);
    if (res == NULL) {
        PyErr_Print();
    }
    else {
        ret = (res == Py_None) ? total : (size_t)PyLong_AsSsize_t(res);
        Py_DECREF(res);
    }
    release_thread(st);
    return ret;
}

/* BAD: macro form; ACQUIRE_THREAD()'s result is discarded. */
static size_t
bad_header_callback(char *ptr, size_t size, size_t nmemb, void *stream)
{
    CurlObject *self = (CurlObject *)stream;
    DECLARE_THREAD_STATE;
    PyObject *res;
    size_t total = size * nmemb;

    ACQUIRE_THREAD();
    res = PyObject_CallFunction(self->h_cb, "y#", ptr, (Py_ssize_t)total);
    if (res == NULL) {
        PyErr_Print();
        total = 0;
    }
    else {
        Py_DECREF(res);
    }
    RELEASE_THREAD();
    return total;
}

/* OK: macro form with the result checked. */
static size_t
ok_header_callback(char *ptr, size_t size, size_t nmemb, void *stream)
{
    CurlObject *self = (CurlObject *)stream;
    DECLARE_THREAD_STATE;
    PyObject *res;
    size_t total = size * nmemb;

    if (!ACQUIRE_THREAD())
        return total;
    res = PyObject_CallFunction(self->h_cb, "y#", ptr, (Py_ssize_t)total);
    if (res == NULL) {
        PyErr_Print();
        total = 0;
    }
    else {
        Py_DECREF(res);
    }
    RELEASE_THREAD();
    return total;
}

/* BAD: the acquire is checked, but the result object is Py_DECREF'd after
 * release_thread(), i.e. without the GIL. */
static size_t
bad_read_callback(char *ptr, size_t size, size_t nmemb, void *stream)
{
    CurlObject *self = (CurlObject *)stream;
    PyThreadState *st;
    PyObject *res = NULL;
    size_t ret = CURL_READFUNC_ABORT;
    size_t total = size * nmemb;

    if (acquire_thread(self, &st)) {
        char *buf;
        Py_ssize_t len;

        res = PyObject_CallFunction(self->r_cb, "n", (Py_ssize_t)total);
        if (res == NULL)
            PyErr_Print();
        else if (PyBytes_AsStringAndSize(res, &buf, &len) == 0 &&
                 (size_t)len <= total) {
            memcpy(ptr, buf, (size_t)len);
            ret = (size_t)len;
        }
        else
            PyErr_Clear();
        release_thread(st);
    }
    Py_XDECREF(res);
    return ret;
}

/* OK: same read callback with the Py_XDECREF inside the acquired block. */
static size_t
ok_read_callback(char *ptr, size_t size, size_t nmemb, void *stream)
{
    CurlObject *self = (CurlObject *)stream;
    PyThreadState *st;
    PyObject *res = NULL;
    size_t ret = CURL_READFUNC_ABORT;
    size_t total = size * nmemb;

    if (acquire_thread(self, &st)) {
        char *buf;
        Py_ssize_t len;

        res = PyObject_CallFunction(self->r_cb, "n", (Py_ssize_t)total);
        if (res == NULL)
            PyErr_Print();
        else if (PyBytes_AsStringAndSize(res, &buf, &len) == 0 &&
                 (size_t)len <= total) {
            memcpy(ptr, buf, (size_t)len);
            ret = (size_t)len;
        }
        else
            PyErr_Clear();
        Py_XDECREF(res);
        release_thread(st);
    }
    return ret;
}

/* OK: result stored in a variable and tested before any Python call;
 * the not-acquired path jumps past all Python code. */
static int
ok_xferinfo_callback(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                     curl_off_t ultotal, curl_off_t ulnow)
{
    CurlObject *self = (CurlObject *)clientp;
    PyThreadState *st;
    PyObject *res;
    int acquired;
    int ret = 0;

    acquired = acquire_thread(self, &st);
    if (!acquired)
        goto done;

    res = PyObject_CallFunction(self->xferinfo_cb, "LLLL",
                                (long long)dltotal, (long long)dlnow,
                                (long long)ultotal, (long long)ulnow);
    if (res == NULL) {
        PyErr_Print();
        ret = 1;
    }
    else {
        ret = PyObject_IsTrue(res) > 0;
        Py_DECREF(res);
    }
    release_thread(st);
done:
    return ret;
}

static PyObject *
curl_setup(CurlObject *self, PyObject *Py_UNUSED(ignored))
{
    curl_easy_setopt(self->handle, CURLOPT_WRITEFUNCTION, ok_write_callback);
    curl_easy_setopt(self->handle, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_HEADERFUNCTION, ok_header_callback);
    curl_easy_setopt(self->handle, CURLOPT_HEADERDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_READFUNCTION, ok_read_callback);
    curl_easy_setopt(self->handle, CURLOPT_READDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_XFERINFOFUNCTION,
                     ok_xferinfo_callback);
    curl_easy_setopt(self->handle, CURLOPT_XFERINFODATA, self);
    curl_easy_setopt(self->handle, CURLOPT_NOPROGRESS, 0L);
    Py_RETURN_NONE;
}

static PyObject *
curl_setup_legacy(CurlObject *self, PyObject *Py_UNUSED(ignored))
{
    curl_easy_setopt(self->handle, CURLOPT_WRITEFUNCTION, bad_write_callback);
    curl_easy_setopt(self->handle, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_HEADERFUNCTION, bad_header_callback);
    curl_easy_setopt(self->handle, CURLOPT_HEADERDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_READFUNCTION, bad_read_callback);
    curl_easy_setopt(self->handle, CURLOPT_READDATA, self);
    Py_RETURN_NONE;
}

/* OK: publishes the thread state for the callbacks, runs the transfer with
 * the GIL released, and clears the state again after re-acquiring. */
static PyObject *
ok_do_perform(CurlObject *self, PyObject *Py_UNUSED(ignored))
{
    CURLcode res;

    if (self->handle == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "cannot invoke perform - no curl handle");
        return NULL;
    }
    if (self->state != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "perform already running");
        return NULL;
    }

    self->state = PyThreadState_Get();
    Py_BEGIN_ALLOW_THREADS
    res = curl_easy_perform(self->handle);
    Py_END_ALLOW_THREADS
    self->state = NULL;

    if (PyErr_Occurred())
        return NULL;
    if (res != CURLE_OK) {
        PyErr_SetString(PyExc_RuntimeError, curl_easy_strerror(res));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Curl_methods[] = {
    {"setup", (PyCFunction)curl_setup, METH_NOARGS, NULL},
    {"setup_legacy", (PyCFunction)curl_setup_legacy, METH_NOARGS, NULL},
    {"perform", (PyCFunction)ok_do_perform, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};
