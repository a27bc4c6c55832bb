// libcurl calls that run or wait for transfers (rules/libs/curl.yml) made while holding the GIL, and the calls
// that return without waiting. The write callback runs inside curl_easy_perform() on the calling thread: with
// the transfer made without the GIL, the callback takes the GIL itself. The prototypes are declared here.
#include <Python.h>
#include <stddef.h>

typedef void CURL;
typedef void CURLM;
typedef int CURLcode;
typedef int CURLMcode;
struct curl_waitfd;
CURLcode curl_easy_setopt(CURL *handle, int option, ...);
CURLcode curl_easy_perform(CURL *handle);
CURLcode curl_easy_recv(CURL *handle, void *buffer, size_t buflen, size_t *n);
CURLMcode curl_multi_perform(CURLM *multi, int *running);
CURLMcode curl_multi_poll(CURLM *multi, struct curl_waitfd *extra, unsigned int extra_nfds, int timeout_ms,
                          int *numfds);

#define CURLOPT_URL 10002
#define CURLOPT_WRITEFUNCTION 20011
#define CURLOPT_WRITEDATA 10001
#define CURLE_AGAIN 81

typedef struct { PyObject_HEAD CURL *easy; CURLM *multi; PyObject *chunks; } Transfer;

static PyObject *bad_fetch(PyObject *self, PyObject *arg)
{
    Transfer *t = (Transfer *)self;
    const char *url = PyUnicode_AsUTF8(arg);
    if (url == NULL)
        return NULL;
    curl_easy_setopt(t->easy, CURLOPT_URL, url);
    CURLcode rc = curl_easy_perform(t->easy);       // expect-warning{{curl_easy_perform() may block while this thread holds the GIL}} [blocking-with-gil]
    return PyLong_FromLong(rc);
}

/* Drives a multi handle from Python, but waits for its sockets with the GIL held. */
static PyObject *bad_run_multi(PyObject *self, PyObject *unused)
{
    Transfer *t = (Transfer *)self;
    int running = 1;
    while (running) {
        if (curl_multi_perform(t->multi, &running) != 0)
            return PyErr_Format(PyExc_RuntimeError, "multi failed");
        if (running)
            curl_multi_poll(t->multi, NULL, 0, 1000, NULL);   // expect-warning{{curl_multi_poll() may block}} [blocking-with-gil]
    }
    Py_RETURN_NONE;
}

static size_t ok_on_data(char *data, size_t size, size_t n, void *user)
{
    Transfer *t = user;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *b = PyBytes_FromStringAndSize(data, (Py_ssize_t)(size * n));
    int rc = b != NULL ? PyList_Append(t->chunks, b) : -1;
    Py_XDECREF(b);
    PyGILState_Release(st);
    return rc == 0 ? size * n : 0;
}

static PyObject *ok_fetch_into_list(PyObject *self, PyObject *arg)
{
    Transfer *t = (Transfer *)self;
    const char *url = PyUnicode_AsUTF8(arg);
    if (url == NULL)
        return NULL;
    curl_easy_setopt(t->easy, CURLOPT_URL, url);
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, ok_on_data);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    CURLcode rc;
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(t->easy);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(rc);
}

/* One step of the multi interface and a read on a CONNECT_ONLY connection: neither waits. */
static PyObject *ok_step(PyObject *self, PyObject *unused)
{
    Transfer *t = (Transfer *)self;
    int running = 0;
    if (curl_multi_perform(t->multi, &running) != 0)
        return PyErr_Format(PyExc_RuntimeError, "multi failed");
    char buf[512];
    size_t got = 0;
    CURLcode rc = curl_easy_recv(t->easy, buf, sizeof buf, &got);
    if (rc == CURLE_AGAIN)
        return PyLong_FromLong(running);
    return PyBytes_FromStringAndSize(buf, (Py_ssize_t)got);
}

static PyMethodDef Transfer_methods[] = {
    {"fetch", bad_fetch, METH_O, NULL},
    {"run_multi", bad_run_multi, METH_NOARGS, NULL},
    {"fetch_into_list", ok_fetch_into_list, METH_O, NULL},
    {"step", ok_step, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
