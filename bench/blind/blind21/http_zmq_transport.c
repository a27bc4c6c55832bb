/*
 * _transport.c -- HTTP (libcurl easy API) and ZeroMQ transports for a
 * metrics-shipping Python package.  Modelled on pycurl and pyzmq's
 * Cython-generated C.
 *
 * libcurl invokes CURLOPT_WRITEFUNCTION / CURLOPT_XFERINFOFUNCTION
 * synchronously on the thread that calls curl_easy_perform(); every
 * perform below runs inside Py_BEGIN_ALLOW_THREADS unless stated.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- curl/curl.h (subset) -------------------------------------------- */
typedef void CURL;
typedef int CURLcode;
typedef int CURLoption;
typedef long long curl_off_t;
#define CURLE_OK 0
#define CURLOPT_WRITEDATA 10001
#define CURLOPT_URL 10002
#define CURLOPT_WRITEFUNCTION 20011
#define CURLOPT_NOPROGRESS 43
#define CURLOPT_XFERINFODATA 10057
#define CURLOPT_XFERINFOFUNCTION 20219
#define CURLOPT_TIMEOUT_MS 155
typedef size_t (*curl_write_callback)(char *buffer, size_t size, size_t nitems, void *outstream);
typedef int (*curl_xferinfo_callback)(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                                      curl_off_t ultotal, curl_off_t ulnow);
CURL *curl_easy_init(void);
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...);
CURLcode curl_easy_perform(CURL *curl);
void curl_easy_cleanup(CURL *curl);
const char *curl_easy_strerror(CURLcode code);

/* ---- zmq.h (subset) --------------------------------------------------- */
#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2
#define ZMQ_POLLIN 1
typedef struct zmq_pollitem_t {
    void *socket;
    int fd;
    short events;
    short revents;
} zmq_pollitem_t;
int zmq_recv(void *s, void *buf, size_t len, int flags);
int zmq_send(void *s, const void *buf, size_t len, int flags);
int zmq_poll(zmq_pollitem_t *items, int nitems, long timeout);
int zmq_errno(void);
const char *zmq_strerror(int errnum);

/* ---------------------------------------------------------------------- */

static PyObject *TransportError;

struct membuf {
    char *data;
    size_t len;
};

/* Not scored: pure-C write callback growing a raw buffer. */
static size_t
membuf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct membuf *mb = (struct membuf *)userdata;
    size_t n = size * nmemb;
    char *p = PyMem_RawRealloc(mb->data, mb->len + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + mb->len, ptr, n);
    mb->data = p;
    mb->len += n;
    p[mb->len] = '\0';
    return n;
}

struct line_sink {
    PyObject *chunks;     /* list of bytes */
};

// BAD: api-without-gil curl write callback runs synchronously inside curl_easy_perform, which stream_chunks() calls with the GIL released; it creates bytes and appends to a list
static size_t
bad_curl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct line_sink *sink = (struct line_sink *)userdata;
    size_t n = size * nmemb;
    PyObject *chunk = PyBytes_FromStringAndSize(ptr, (Py_ssize_t)n);
    if (chunk == NULL)
        return 0;
    if (PyList_Append(sink->chunks, chunk) < 0) {
        Py_DECREF(chunk);
        return 0;
    }
    Py_DECREF(chunk);
    return n;
}

struct progress_ctx {
    PyObject *callback;   /* callable(dlnow, dltotal) -> bool */
    int aborted;
};

// OK: curl progress callback (called from curl_easy_perform with the GIL released) wraps the Python call in PyGILState_Ensure/Release and checks for signals
static int
ok_curl_xferinfo_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                    curl_off_t ultotal, curl_off_t ulnow)
{
    struct progress_ctx *pc = (struct progress_ctx *)clientp;
    PyGILState_STATE st;
    PyObject *r;
    int abort_transfer = 0;
    (void)ultotal;
    (void)ulnow;

    if (pc->callback == NULL)
        return 0;
    st = PyGILState_Ensure();
    r = PyObject_CallFunction(pc->callback, "LL", (long long)dlnow, (long long)dltotal);
    if (r == NULL || PyErr_CheckSignals() < 0) {
        abort_transfer = 1;      /* exception stays set for the caller */
    }
    else if (r == Py_False) {
        abort_transfer = 1;
    }
    Py_XDECREF(r);
    PyGILState_Release(st);
    if (abort_transfer)
        pc->aborted = 1;
    return abort_transfer;
}

/* Not scored: streaming download, registers bad_curl_write_cb. */
static PyObject *
stream_chunks(PyObject *self, PyObject *args)
{
    const char *url;
    struct line_sink sink;
    CURL *h;
    CURLcode rc;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &url))
        return NULL;
    sink.chunks = PyList_New(0);
    if (sink.chunks == NULL)
        return NULL;
    h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bad_curl_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    Py_END_ALLOW_THREADS
    if (rc != CURLE_OK) {
        Py_DECREF(sink.chunks);
        PyErr_SetString(TransportError, curl_easy_strerror(rc));
        return NULL;
    }
    return sink.chunks;
}

// BAD: blocking-with-gil curl_easy_perform (network I/O, up to a 30 s timeout) is called with the GIL held
static PyObject *
bad_curl_perform_with_gil(PyObject *self, PyObject *args)
{
    const char *url;
    struct membuf mb = {NULL, 0};
    CURL *h;
    CURLcode rc;
    PyObject *res;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &url))
        return NULL;
    h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &mb);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        PyMem_RawFree(mb.data);
        PyErr_SetString(TransportError, curl_easy_strerror(rc));
        return NULL;
    }
    res = PyBytes_FromStringAndSize(mb.data, (Py_ssize_t)mb.len);
    PyMem_RawFree(mb.data);
    return res;
}

// BAD: api-without-gil error path raises TransportError (PyErr_SetString) while still inside the Py_BEGIN_ALLOW_THREADS region
static PyObject *
bad_curl_error_in_region(PyObject *self, PyObject *args)
{
    const char *url;
    struct membuf mb = {NULL, 0};
    CURL *h;
    CURLcode rc;
    int failed = 0;
    PyObject *res;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &url))
        return NULL;
    h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &mb);
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        PyErr_SetString(TransportError, curl_easy_strerror(rc));
        failed = 1;
    }
    curl_easy_cleanup(h);
    Py_END_ALLOW_THREADS
    if (failed) {
        PyMem_RawFree(mb.data);
        return NULL;
    }
    res = PyBytes_FromStringAndSize(mb.data, (Py_ssize_t)mb.len);
    PyMem_RawFree(mb.data);
    return res;
}

// OK: perform runs with the GIL released, with ok_curl_xferinfo_cb as progress hook; the curl error is turned into an exception only after Py_END_ALLOW_THREADS
static PyObject *
ok_curl_fetch(PyObject *self, PyObject *args)
{
    const char *url;
    PyObject *progress = NULL;
    struct membuf mb = {NULL, 0};
    struct progress_ctx pc = {NULL, 0};
    CURL *h;
    CURLcode rc;
    PyObject *res;
    (void)self;
    if (!PyArg_ParseTuple(args, "s|O", &url, &progress))
        return NULL;
    pc.callback = (progress == Py_None) ? NULL : progress;
    h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &mb);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, ok_curl_xferinfo_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &pc);
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    Py_END_ALLOW_THREADS
    if (rc != CURLE_OK) {
        PyMem_RawFree(mb.data);
        if (!(pc.aborted && PyErr_Occurred()))
            PyErr_SetString(TransportError, curl_easy_strerror(rc));
        return NULL;
    }
    res = PyBytes_FromStringAndSize(mb.data ? mb.data : "", (Py_ssize_t)mb.len);
    PyMem_RawFree(mb.data);
    return res;
}

/* ---- ZeroMQ ---------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    void *handle;     /* zmq socket */
} SocketObject;

// BAD: blocking-with-gil zmq_recv with flags 0 blocks until a message arrives while the GIL is held
static PyObject *
bad_zmq_recv_with_gil(SocketObject *self, PyObject *args)
{
    Py_ssize_t maxlen = 65536;
    PyObject *out;
    int n;
    if (!PyArg_ParseTuple(args, "|n", &maxlen))
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, maxlen);
    if (out == NULL)
        return NULL;
    n = zmq_recv(self->handle, PyBytes_AS_STRING(out), (size_t)maxlen, 0);
    if (n < 0) {
        Py_DECREF(out);
        PyErr_SetString(TransportError, zmq_strerror(zmq_errno()));
        return NULL;
    }
    if (n < maxlen && _PyBytes_Resize(&out, n) < 0)
        return NULL;
    return out;
}

// OK: zmq_recv with ZMQ_DONTWAIT returns EAGAIN immediately instead of blocking, so calling it with the GIL held is fine
static PyObject *
ok_zmq_recv_dontwait(SocketObject *self, PyObject *Py_UNUSED(ignored))
{
    char buf[4096];
    int n = zmq_recv(self->handle, buf, sizeof buf, ZMQ_DONTWAIT);
    if (n < 0) {
        int err = zmq_errno();
        if (err == EAGAIN)
            Py_RETURN_NONE;
        PyErr_SetString(TransportError, zmq_strerror(err));
        return NULL;
    }
    if ((size_t)n > sizeof buf)
        n = (int)sizeof buf;      /* message was truncated */
    return PyBytes_FromStringAndSize(buf, n);
}

// BAD: api-without-gil multipart send reads PyList_GET_ITEM / PyBytes_AS_STRING / PyBytes_GET_SIZE of Python objects inside the released region
static PyObject *
bad_zmq_send_frames(SocketObject *self, PyObject *frames)
{
    void *sock = self->handle;
    Py_ssize_t i, n;
    int rc = 0;
    if (!PyList_Check(frames)) {
        PyErr_SetString(PyExc_TypeError, "frames must be a list of bytes");
        return NULL;
    }
    n = PyList_GET_SIZE(frames);
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n && rc >= 0; i++) {
        PyObject *frame = PyList_GET_ITEM(frames, i);
        rc = zmq_send(sock, PyBytes_AS_STRING(frame), (size_t)PyBytes_GET_SIZE(frame),
                      i + 1 < n ? ZMQ_SNDMORE : 0);
    }
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_SetString(TransportError, zmq_strerror(zmq_errno()));
        return NULL;
    }
    Py_RETURN_NONE;
}

// OK: multipart send snapshots the frames into a tuple (own references) and copies pointers/lengths into C arrays with the GIL held; the released region only touches the C arrays
static PyObject *
ok_zmq_send_frames(SocketObject *self, PyObject *frames)
{
    void *sock = self->handle;
    PyObject *tup;
    const char **ptrs;
    size_t *lens;
    Py_ssize_t i, n;
    int rc = 0;

    tup = PySequence_Tuple(frames);       /* private snapshot, holds the refs */
    if (tup == NULL)
        return NULL;
    n = PyTuple_GET_SIZE(tup);
    ptrs = PyMem_Malloc(sizeof(*ptrs) * (size_t)(n ? n : 1));
    lens = PyMem_Malloc(sizeof(*lens) * (size_t)(n ? n : 1));
    if (ptrs == NULL || lens == NULL) {
        PyMem_Free(ptrs);
        PyMem_Free(lens);
        Py_DECREF(tup);
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tup, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "frames must be bytes");
            PyMem_Free(ptrs);
            PyMem_Free(lens);
            Py_DECREF(tup);
            return NULL;
        }
        ptrs[i] = PyBytes_AS_STRING(item);
        lens[i] = (size_t)PyBytes_GET_SIZE(item);
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n && rc >= 0; i++)
        rc = zmq_send(sock, ptrs[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
    Py_END_ALLOW_THREADS
    PyMem_Free(ptrs);
    PyMem_Free(lens);
    Py_DECREF(tup);
    if (rc < 0) {
        PyErr_SetString(TransportError, zmq_strerror(zmq_errno()));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Socket_methods[] = {
    {"recv", (PyCFunction)bad_zmq_recv_with_gil, METH_VARARGS, NULL},
    {"recv_nowait", (PyCFunction)ok_zmq_recv_dontwait, METH_NOARGS, NULL},
    {"send_multipart_fast", (PyCFunction)bad_zmq_send_frames, METH_O, NULL},
    {"send_multipart", (PyCFunction)ok_zmq_send_frames, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMethodDef module_methods[] = {
    {"stream_chunks", stream_chunks, METH_VARARGS, NULL},
    {"get_blocking", bad_curl_perform_with_gil, METH_VARARGS, NULL},
    {"get_legacy", bad_curl_error_in_region, METH_VARARGS, NULL},
    {"get", ok_curl_fetch, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject SocketType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_transport.Socket",
    .tp_basicsize = sizeof(SocketObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = Socket_methods,
};

static struct PyModuleDef transport_module = {
    PyModuleDef_HEAD_INIT, "_transport", NULL, -1, module_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__transport(void)
{
    PyObject *m;
    if (PyType_Ready(&SocketType) < 0)
        return NULL;
    m = PyModule_Create(&transport_module);
    if (m == NULL)
        return NULL;
    TransportError = PyErr_NewException("_transport.TransportError", NULL, NULL);
    PyModule_AddObject(m, "TransportError", TransportError);
    Py_INCREF(&SocketType);
    PyModule_AddObject(m, "Socket", (PyObject *)&SocketType);
    return m;
}
