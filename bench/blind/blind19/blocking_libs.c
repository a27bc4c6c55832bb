/*
 * blocking_libs.c -- "assetdb" extension module: an SQLite asset index,
 * HTTP downloads through libcurl and zlib-compressed asset blobs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- SQLite (sqlite3.h) ----------------------------------------------- */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef long long sqlite3_int64;
#define SQLITE_OK 0
#define SQLITE_ROW 100
#define SQLITE_DONE 101
int sqlite3_prepare_v2(sqlite3 *db, const char *zSql, int nByte, sqlite3_stmt **ppStmt, const char **pzTail);
int sqlite3_step(sqlite3_stmt *);
int sqlite3_finalize(sqlite3_stmt *pStmt);
sqlite3_int64 sqlite3_column_int64(sqlite3_stmt *, int iCol);
const unsigned char *sqlite3_column_text(sqlite3_stmt *, int iCol);
const char *sqlite3_errmsg(sqlite3 *);

/* ---- libcurl (curl/curl.h) -------------------------------------------- */
typedef void CURL;
typedef void CURLM;
typedef enum { CURLE_OK = 0 } CURLcode;
typedef enum { CURLM_OK = 0 } CURLMcode;
typedef enum {
    CURLOPT_WRITEDATA = 10001,
    CURLOPT_URL = 10002,
    CURLOPT_WRITEFUNCTION = 20011,
} CURLoption;
struct curl_waitfd {
    int fd;
    short events;
    short revents;
};
typedef size_t (*curl_write_callback)(char *buffer, size_t size, size_t nitems, void *outstream);
CURL *curl_easy_init(void);
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...);
CURLcode curl_easy_perform(CURL *curl);
void curl_easy_cleanup(CURL *curl);
const char *curl_easy_strerror(CURLcode);
CURLM *curl_multi_init(void);
CURLMcode curl_multi_add_handle(CURLM *multi_handle, CURL *curl_handle);
CURLMcode curl_multi_remove_handle(CURLM *multi_handle, CURL *curl_handle);
CURLMcode curl_multi_perform(CURLM *multi_handle, int *running_handles);
CURLMcode curl_multi_poll(CURLM *multi_handle, struct curl_waitfd extra_fds[], unsigned int extra_nfds,
                          int timeout_ms, int *ret);
CURLMcode curl_multi_cleanup(CURLM *multi_handle);
const char *curl_multi_strerror(CURLMcode);

/* ---- zlib (zlib.h) ---------------------------------------------------- */
typedef unsigned char Bytef;
typedef unsigned long uLong;
typedef uLong uLongf;
#define Z_OK 0
int compress2(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen, int level);
uLong compressBound(uLong sourceLen);

/* ----------------------------------------------------------------------- */

static sqlite3 *g_db; /* opened with SQLITE_OPEN_FULLMUTEX */

struct membuf {
    char *data;
    size_t len, cap;
};

/* Requires the GIL. */
static PyObject *db_error(const char *what)
{
    PyErr_Format(PyExc_RuntimeError, "%s: %s", what, sqlite3_errmsg(g_db));
    return NULL;
}

// BAD: blocking-with-gil sqlite3_step() (disk I/O, busy-timeout waits) runs with the GIL held
static PyObject *bad_db_query_all(PyObject *self, PyObject *args)
{
    const char *sql;
    sqlite3_stmt *stmt;
    int rc;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    if (sqlite3_prepare_v2(g_db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return db_error("prepare");

    PyObject *rows = PyList_New(0);
    if (rows == NULL) {
        sqlite3_finalize(stmt);
        return NULL;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        PyObject *row = Py_BuildValue("(Lz)", (long long)sqlite3_column_int64(stmt, 0),
                                      (const char *)sqlite3_column_text(stmt, 1));
        if (row == NULL || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(rows);
            sqlite3_finalize(stmt);
            return NULL;
        }
        Py_DECREF(row);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        Py_DECREF(rows);
        return db_error("step");
    }
    return rows;
}

// OK: prepare/step/finalize run with the GIL released; the GIL is re-taken per row only to build Python objects
static PyObject *ok_db_query_all(PyObject *self, PyObject *args)
{
    const char *sql;
    sqlite3_stmt *stmt = NULL;
    int rc;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;

    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_prepare_v2(g_db, sql, -1, &stmt, NULL);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK)
        return db_error("prepare");

    PyObject *rows = PyList_New(0);
    for (;;) {
        if (rows == NULL)
            break;
        Py_BEGIN_ALLOW_THREADS
        rc = sqlite3_step(stmt);
        Py_END_ALLOW_THREADS
        if (rc != SQLITE_ROW)
            break;
        PyObject *row = Py_BuildValue("(Lz)", (long long)sqlite3_column_int64(stmt, 0),
                                      (const char *)sqlite3_column_text(stmt, 1));
        if (row == NULL || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_CLEAR(rows);
            break;
        }
        Py_DECREF(row);
    }
    Py_BEGIN_ALLOW_THREADS
    sqlite3_finalize(stmt);
    Py_END_ALLOW_THREADS

    if (rows != NULL && rc != SQLITE_DONE) {
        Py_DECREF(rows);
        return db_error("step");
    }
    return rows;
}

// OK: curl write callback that only appends to a C buffer, safe while curl_easy_perform runs without the GIL
static size_t ok_http_write_cbuf(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct membuf *mb = userdata;
    size_t n = size * nmemb;
    if (mb->len + n > mb->cap) {
        size_t cap = mb->cap ? mb->cap : 16384;
        while (cap < mb->len + n)
            cap *= 2;
        char *p = realloc(mb->data, cap);
        if (p == NULL)
            return 0;
        mb->data = p;
        mb->cap = cap;
    }
    memcpy(mb->data + mb->len, ptr, n);
    mb->len += n;
    return n;
}

// BAD: blocking-with-gil curl_easy_perform() does the whole network transfer while holding the GIL
static PyObject *bad_http_get(PyObject *self, PyObject *args)
{
    const char *url;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &url))
        return NULL;
    CURL *h = curl_easy_init();
    if (h == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "curl_easy_init failed");
        return NULL;
    }
    struct membuf mb = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ok_http_write_cbuf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &mb);

    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        free(mb.data);
        PyErr_Format(PyExc_OSError, "curl: %s", curl_easy_strerror(rc));
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(mb.data, (Py_ssize_t)mb.len);
    free(mb.data);
    return out;
}

// OK: curl_easy_perform runs with the GIL released; its write callback (ok_http_write_cbuf) is pure C
static PyObject *ok_http_get(PyObject *self, PyObject *args)
{
    const char *url;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &url))
        return NULL;
    CURL *h = curl_easy_init();
    if (h == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "curl_easy_init failed");
        return NULL;
    }
    struct membuf mb = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ok_http_write_cbuf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &mb);

    CURLcode rc;
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    Py_END_ALLOW_THREADS
    if (rc != CURLE_OK) {
        free(mb.data);
        PyErr_Format(PyExc_OSError, "curl: %s", curl_easy_strerror(rc));
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(mb.data, (Py_ssize_t)mb.len);
    free(mb.data);
    return out;
}

// BAD: api-without-gil,thread-entry-without-gil write callback builds bytes and appends to a list, but it runs inside curl_easy_perform called with the GIL released (bad_http_get_chunks)
static size_t bad_http_write_pylist(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    PyObject *chunks = userdata;
    size_t n = size * nmemb;
    PyObject *b = PyBytes_FromStringAndSize(ptr, (Py_ssize_t)n);
    if (b == NULL || PyList_Append(chunks, b) < 0) {
        Py_XDECREF(b);
        return 0;
    }
    Py_DECREF(b);
    return n;
}

// BAD: api-without-gil releases the GIL around curl_easy_perform whose write callback (bad_http_write_pylist) uses the Python API
static PyObject *bad_http_get_chunks(PyObject *self, PyObject *args)
{
    const char *url;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &url))
        return NULL;
    PyObject *chunks = PyList_New(0);
    if (chunks == NULL)
        return NULL;
    CURL *h = curl_easy_init();
    if (h == NULL) {
        Py_DECREF(chunks);
        PyErr_SetString(PyExc_RuntimeError, "curl_easy_init failed");
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bad_http_write_pylist);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, chunks);

    CURLcode rc;
    Py_BEGIN_ALLOW_THREADS
    rc = curl_easy_perform(h);
    Py_END_ALLOW_THREADS
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        Py_DECREF(chunks);
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_OSError, "curl: %s", curl_easy_strerror(rc));
        return NULL;
    }
    return chunks;
}

// OK: Python-using write callback, invoked only from curl_multi_perform(), which ok_http_multi_fetch calls with the GIL held
static size_t ok_http_multi_write_pylist(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    PyObject *chunks = userdata;
    size_t n = size * nmemb;
    PyObject *b = PyBytes_FromStringAndSize(ptr, (Py_ssize_t)n);
    if (b == NULL || PyList_Append(chunks, b) < 0) {
        Py_XDECREF(b);
        return 0;
    }
    Py_DECREF(b);
    return n;
}

// OK: non-blocking curl_multi_perform runs with the GIL (its callback needs it); only curl_multi_poll waits, with the GIL released
static PyObject *ok_http_multi_fetch(PyObject *self, PyObject *args)
{
    const char *url;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &url))
        return NULL;
    PyObject *chunks = PyList_New(0);
    if (chunks == NULL)
        return NULL;
    CURL *h = curl_easy_init();
    CURLM *m = curl_multi_init();
    if (h == NULL || m == NULL) {
        if (h)
            curl_easy_cleanup(h);
        if (m)
            curl_multi_cleanup(m);
        Py_DECREF(chunks);
        PyErr_SetString(PyExc_RuntimeError, "curl init failed");
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ok_http_multi_write_pylist);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, chunks);
    curl_multi_add_handle(m, h);

    int running = 1;
    CURLMcode mc = CURLM_OK;
    while (running) {
        mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK || PyErr_Occurred() || !running)
            break;
        int numfds = 0;
        Py_BEGIN_ALLOW_THREADS
        mc = curl_multi_poll(m, NULL, 0, 1000, &numfds);
        Py_END_ALLOW_THREADS
        if (mc != CURLM_OK || PyErr_CheckSignals() < 0)
            break;
    }

    curl_multi_remove_handle(m, h);
    curl_easy_cleanup(h);
    curl_multi_cleanup(m);
    if (PyErr_Occurred()) {
        Py_DECREF(chunks);
        return NULL;
    }
    if (mc != CURLM_OK) {
        Py_DECREF(chunks);
        PyErr_Format(PyExc_OSError, "curl: %s", curl_multi_strerror(mc));
        return NULL;
    }
    return chunks;
}

// BAD: blocking-with-gil compress2() over an arbitrarily large caller buffer while holding the GIL
static PyObject *bad_deflate_blob(PyObject *self, PyObject *args)
{
    Py_buffer view;
    int level = 6;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*|i", &view, &level))
        return NULL;

    uLongf dlen = compressBound((uLong)view.len);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)dlen);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int zrc = compress2((Bytef *)PyBytes_AS_STRING(out), &dlen, view.buf, (uLong)view.len, level);
    PyBuffer_Release(&view);
    if (zrc != Z_OK) {
        Py_DECREF(out);
        PyErr_Format(PyExc_RuntimeError, "compress2 failed (%d)", zrc);
        return NULL;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)dlen) < 0)
        return NULL;
    return out;
}

// OK: compress2 and the PyMem_RawMalloc'd scratch buffer are used only inside the allow-threads block
static PyObject *ok_deflate_blob(PyObject *self, PyObject *args)
{
    Py_buffer view;
    int level = 6;
    int zrc = Z_OK;
    Bytef *dst;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*|i", &view, &level))
        return NULL;

    uLongf dlen = compressBound((uLong)view.len);
    Py_BEGIN_ALLOW_THREADS
    dst = PyMem_RawMalloc(dlen);
    if (dst != NULL)
        zrc = compress2(dst, &dlen, view.buf, (uLong)view.len, level);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);

    if (dst == NULL)
        return PyErr_NoMemory();
    if (zrc != Z_OK) {
        PyMem_RawFree(dst);
        PyErr_Format(PyExc_RuntimeError, "compress2 failed (%d)", zrc);
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize((const char *)dst, (Py_ssize_t)dlen);
    PyMem_RawFree(dst);
    return out;
}

// BAD: api-without-gil PyMem_Malloc/PyMem_Free (GIL-requiring allocator) used inside the allow-threads block
static PyObject *bad_deflate_blob_pymem(PyObject *self, PyObject *args)
{
    Py_buffer view;
    int level = 6;
    int zrc = Z_OK;
    Bytef *dst;
    PyObject *out = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*|i", &view, &level))
        return NULL;

    uLongf dlen = compressBound((uLong)view.len);
    Py_BEGIN_ALLOW_THREADS
    dst = PyMem_Malloc(dlen);
    if (dst != NULL)
        zrc = compress2(dst, &dlen, view.buf, (uLong)view.len, level);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);

    if (dst == NULL)
        return PyErr_NoMemory();
    if (zrc == Z_OK)
        out = PyBytes_FromStringAndSize((const char *)dst, (Py_ssize_t)dlen);
    else
        PyErr_Format(PyExc_RuntimeError, "compress2 failed (%d)", zrc);
    PyMem_Free(dst);
    return out;
}

struct pack_header {
    char magic[4];
    uint32_t version;
    uint32_t nentries;
    uint32_t flags;
    uint64_t index_off;
    char reserved[32];
};

// OK: compress2 on a fixed ~56-byte header is bounded CPU work with no I/O; holding the GIL is fine
static PyObject *ok_pack_header(PyObject *self, PyObject *args)
{
    unsigned int nentries;
    unsigned long long index_off;
    (void)self;
    if (!PyArg_ParseTuple(args, "IK", &nentries, &index_off))
        return NULL;

    struct pack_header hdr;
    memset(&hdr, 0, sizeof hdr);
    memcpy(hdr.magic, "PAK1", 4);
    hdr.version = 3;
    hdr.nentries = nentries;
    hdr.index_off = index_off;

    Bytef dst[128];
    uLongf dlen = sizeof dst;
    if (compress2(dst, &dlen, (const Bytef *)&hdr, sizeof hdr, 9) != Z_OK) {
        PyErr_SetString(PyExc_RuntimeError, "header compression failed");
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)dst, (Py_ssize_t)dlen);
}

static PyMethodDef assetdb_methods[] = {
    {"query_all_v1", bad_db_query_all, METH_VARARGS, NULL},
    {"query_all", ok_db_query_all, METH_VARARGS, NULL},
    {"http_get_v1", bad_http_get, METH_VARARGS, NULL},
    {"http_get", ok_http_get, METH_VARARGS, NULL},
    {"http_get_chunks", bad_http_get_chunks, METH_VARARGS, NULL},
    {"http_multi_fetch", ok_http_multi_fetch, METH_VARARGS, NULL},
    {"deflate_v1", bad_deflate_blob, METH_VARARGS, NULL},
    {"deflate", ok_deflate_blob, METH_VARARGS, NULL},
    {"deflate_v2", bad_deflate_blob_pymem, METH_VARARGS, NULL},
    {"pack_header", ok_pack_header, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef assetdb_module = {PyModuleDef_HEAD_INIT, "assetdb", NULL, -1, assetdb_methods,
                                            NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_assetdb(void)
{
    return PyModule_Create(&assetdb_module);
}
