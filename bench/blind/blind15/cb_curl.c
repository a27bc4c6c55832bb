/* A downloader object.  setup() registers the libcurl callbacks; fetch()
 * drives curl_easy_perform with the GIL released, so every callback runs
 * without the GIL on the calling thread. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "fakelibs.h"

typedef struct {
    PyObject_HEAD
    CURL *curl;
    PyObject *sink;        /* object with .write(bytes) */
    PyObject *headers;     /* list of header lines */
    PyObject *progress;    /* optional callable */
    char errbuf[256];
} DownloaderObject;

/* BAD: CURLOPT_WRITEFUNCTION callback calls Python without taking the
 * GIL although curl_easy_perform is driven with the GIL released. */
static size_t
bad_dl_write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    DownloaderObject *self = (DownloaderObject *)userdata;
    size_t total = size * nmemb;
    PyObject *res;

    res = PyObject_CallMethod(self->sink, "write", "y#", data,
                              (Py_ssize_t)total);
    if (res == NULL)
        return 0;             /* makes curl fail with CURLE_WRITE_ERROR */
    Py_DECREF(res);
    return total;
}

/* OK: header callback takes the GIL with PyGILState_Ensure first. */
static size_t
ok_dl_header_cb(char *data, size_t size, size_t nitems, void *userdata)
{
    DownloaderObject *self = (DownloaderObject *)userdata;
    size_t total = size * nitems;
    PyGILState_STATE gs;
    PyObject *line;
    int rc = -1;

    gs = PyGILState_Ensure();
    line = PyBytes_FromStringAndSize(data, (Py_ssize_t)total);
    if (line != NULL) {
        rc = PyList_Append(self->headers, line);
        Py_DECREF(line);
    }
    PyGILState_Release(gs);
    return rc == 0 ? total : 0;
}

/* OK: progress callback; takes the GIL before touching Python and
 * releases it on both paths. */
static int
ok_dl_progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                  curl_off_t ultotal, curl_off_t ulnow)
{
    DownloaderObject *self = (DownloaderObject *)clientp;
    PyGILState_STATE gs;
    PyObject *res;
    int abort_transfer = 0;

    gs = PyGILState_Ensure();
    if (self->progress == NULL || self->progress == Py_None) {
        PyGILState_Release(gs);
        return 0;
    }
    res = PyObject_CallFunction(self->progress, "LL",
                                (long long)dlnow, (long long)dltotal);
    if (res == NULL)
        abort_transfer = 1;
    else {
        abort_transfer = PyObject_IsTrue(res) == 1;
        Py_DECREF(res);
    }
    PyGILState_Release(gs);
    return abort_transfer;
}

static PyObject *
dl_setup(DownloaderObject *self, PyObject *args)
{
    const char *url;

    if (!PyArg_ParseTuple(args, "s:setup", &url))
        return NULL;
    curl_easy_setopt(self->curl, CURLOPT_URL, url);
    curl_easy_setopt(self->curl, CURLOPT_WRITEFUNCTION, bad_dl_write_cb);
    curl_easy_setopt(self->curl, CURLOPT_WRITEDATA, (void *)self);
    curl_easy_setopt(self->curl, CURLOPT_HEADERFUNCTION, ok_dl_header_cb);
    curl_easy_setopt(self->curl, CURLOPT_HEADERDATA, (void *)self);
    curl_easy_setopt(self->curl, CURLOPT_XFERINFOFUNCTION, ok_dl_progress_cb);
    curl_easy_setopt(self->curl, CURLOPT_XFERINFODATA, (void *)self);
    curl_easy_setopt(self->curl, CURLOPT_NOPROGRESS, 0L);
    Py_RETURN_NONE;
}

/* OK: drives the transfer with the GIL released. */
static PyObject *
ok_dl_fetch(DownloaderObject *self, PyObject *Py_UNUSED(ignored))
{
    CURLcode rc;

    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(self->curl);
    Py_END_ALLOW_THREADS

    if (PyErr_Occurred())
        return NULL;
    if (rc != CURLE_OK) {
        PyErr_Format(PyExc_OSError, "curl: %s", curl_easy_strerror(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Downloader_methods[] = {
    {"setup", (PyCFunction)dl_setup, METH_VARARGS, NULL},
    {"fetch", (PyCFunction)ok_dl_fetch, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};
