/*
 * fetchmod: HTTP downloads through libcurl.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

/* --- libcurl (curl/curl.h) prototypes --- */
typedef void CURL;
typedef enum { CURLE_OK = 0, CURLE_WRITE_ERROR = 23, CURLE_ABORTED_BY_CALLBACK = 42 } CURLcode;
typedef enum {
    CURLOPT_WRITEDATA = 10001,
    CURLOPT_URL = 10002,
    CURLOPT_XFERINFODATA = 10057,
    CURLOPT_WRITEFUNCTION = 20011,
    CURLOPT_XFERINFOFUNCTION = 20219,
    CURLOPT_NOPROGRESS = 43,
    CURLOPT_FOLLOWLOCATION = 52,
} CURLoption;
typedef long long curl_off_t;
CURL *curl_easy_init(void);
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...);
CURLcode curl_easy_perform(CURL *curl);
void curl_easy_cleanup(CURL *curl);
const char *curl_easy_strerror(CURLcode);

typedef struct {
    PyObject *chunks;      /* list of bytes */
    PyObject *progress;    /* callable(dlnow, dltotal) -> bool, or NULL */
    char *buf;
    size_t len, cap;
} download;

// BAD: api-without-gil,thread-entry-without-gil  write callback runs inside curl_easy_perform, which fetch_into_list calls with the GIL released
static size_t bad_write_to_list(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    download *d = (download *)userdata;
    size_t n = size * nmemb;
    PyObject *chunk = PyBytes_FromStringAndSize(ptr, (Py_ssize_t)n);
    if (chunk == NULL)
        return 0;
    if (PyList_Append(d->chunks, chunk) < 0) {
        Py_DECREF(chunk);
        return 0;
    }
    Py_DECREF(chunk);
    return n;
}

// OK: write callback runs without the GIL but only touches a malloc'd C buffer, no Python API
static size_t ok_write_to_buffer(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    download *d = (download *)userdata;
    size_t n = size * nmemb;
    if (d->len + n > d->cap) {
        size_t ncap = d->cap ? d->cap : 16384;
        while (ncap < d->len + n)
            ncap *= 2;
        char *nb = realloc(d->buf, ncap);
        if (nb == NULL)
            return 0;          /* curl reports CURLE_WRITE_ERROR */
        d->buf = nb;
        d->cap = ncap;
    }
    memcpy(d->buf + d->len, ptr, n);
    d->len += n;
    return n;
}

// OK: progress callback invoked from the released curl_easy_perform takes the GIL and releases it on both outcomes
static int ok_xferinfo(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    download *d = (download *)clientp;
    int abort_transfer = 0;
    (void)ultotal; (void)ulnow;
    if (d->progress == NULL)
        return 0;
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(d->progress, "LL", (long long)dlnow,
                                        (long long)dltotal);
    if (r == NULL) {
        PyErr_WriteUnraisable(d->progress);
        abort_transfer = 1;
    } else {
        abort_transfer = PyObject_IsTrue(r) == 0;
        Py_DECREF(r);
    }
    PyGILState_Release(gs);
    return abort_transfer;
}

PyObject *
fetch_into_list(PyObject *mod, PyObject *args)
{
    const char *url;
    download d = {0};
    CURLcode rc;
    if (!PyArg_ParseTuple(args, "s", &url))
        return NULL;
    CURL *h = curl_easy_init();
    if (h == NULL)
        return PyErr_NoMemory();
    d.chunks = PyList_New(0);
    if (d.chunks == NULL) {
        curl_easy_cleanup(h);
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bad_write_to_list);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(h);
    Py_END_ALLOW_THREADS
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        Py_DECREF(d.chunks);
        PyErr_SetString(PyExc_OSError, curl_easy_strerror(rc));
        return NULL;
    }
    (void)mod;
    return d.chunks;
}

// OK: perform runs with the GIL released; the bytes object is built only after Py_END_ALLOW_THREADS
static PyObject *
ok_fetch_bytes(PyObject *mod, PyObject *args)
{
    const char *url;
    PyObject *progress = NULL, *result = NULL;
    download d = {0};
    CURLcode rc;
    if (!PyArg_ParseTuple(args, "s|O", &url, &progress))
        return NULL;
    d.progress = (progress == Py_None) ? NULL : progress;
    CURL *h = curl_easy_init();
    if (h == NULL)
        return PyErr_NoMemory();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ok_write_to_buffer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, ok_xferinfo);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &d);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    Py_END_ALLOW_THREADS
    if (rc == CURLE_OK)
        result = PyBytes_FromStringAndSize(d.buf ? d.buf : "", (Py_ssize_t)d.len);
    else if (rc == CURLE_ABORTED_BY_CALLBACK && PyErr_Occurred())
        result = NULL;
    else
        PyErr_SetString(PyExc_OSError, curl_easy_strerror(rc));
    free(d.buf);
    (void)mod;
    return result;
}

// BAD: blocking-with-gil  curl_easy_perform does the whole network transfer while the GIL is held
static PyObject *
bad_fetch_status_only(PyObject *mod, PyObject *args)
{
    const char *url;
    download d = {0};
    if (!PyArg_ParseTuple(args, "s", &url))
        return NULL;
    CURL *h = curl_easy_init();
    if (h == NULL)
        return PyErr_NoMemory();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ok_write_to_buffer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    free(d.buf);
    (void)mod;
    if (rc != CURLE_OK) {
        PyErr_SetString(PyExc_OSError, curl_easy_strerror(rc));
        return NULL;
    }
    return PyLong_FromSize_t(d.len);
}

// BAD: api-without-gil,allow-threads-leak  on a transfer error it raises and returns while the thread state is still saved
static PyObject *
bad_fetch_to_file(PyObject *mod, PyObject *args)
{
    const char *url, *path;
    download d = {0};
    if (!PyArg_ParseTuple(args, "ss", &url, &path))
        return NULL;
    CURL *h = curl_easy_init();
    if (h == NULL)
        return PyErr_NoMemory();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ok_write_to_buffer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);

    PyThreadState *ts = PyEval_SaveThread();
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        free(d.buf);
        PyErr_SetString(PyExc_OSError, curl_easy_strerror(rc));
        return NULL;
    }
    FILE *f = fopen(path, "wb");
    size_t wrote = f ? fwrite(d.buf, 1, d.len, f) : 0;
    if (f)
        fclose(f);
    free(d.buf);
    PyEval_RestoreThread(ts);
    (void)mod;
    if (f == NULL || wrote != d.len)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    return PyLong_FromSize_t(wrote);
}

static PyMethodDef fetch_methods[] = {
    {"fetch_into_list", fetch_into_list, METH_VARARGS, NULL},
    {"fetch_bytes", ok_fetch_bytes, METH_VARARGS, NULL},
    {"fetch_status_only", bad_fetch_status_only, METH_VARARGS, NULL},
    {"fetch_to_file", bad_fetch_to_file, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef fetchmod = {PyModuleDef_HEAD_INIT, "fetchmod", NULL, -1, fetch_methods};
PyMODINIT_FUNC PyInit_fetchmod(void) { return PyModule_Create(&fetchmod); }
