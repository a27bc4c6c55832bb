/*
 * _ingest.c -- document ingestion helpers of a search-indexing package:
 * Expat streaming parser, libarchive listing of archives read from Python
 * file objects, and zstd compression of stored blobs.
 *
 * Expat and libarchive call their handlers synchronously on the thread
 * that runs XML_Parse() / archive_read_*(); whether the GIL is held there
 * depends on the caller, noted at each registration.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- expat.h (subset) ------------------------------------------------ */
typedef struct XML_ParserStruct *XML_Parser;
typedef char XML_Char;
enum XML_Status { XML_STATUS_ERROR = 0, XML_STATUS_OK = 1, XML_STATUS_SUSPENDED = 2 };
enum XML_Error { XML_ERROR_NONE, XML_ERROR_NO_MEMORY, XML_ERROR_SYNTAX };
typedef void (*XML_StartElementHandler)(void *userData, const XML_Char *name,
                                        const XML_Char **atts);
typedef void (*XML_EndElementHandler)(void *userData, const XML_Char *name);
typedef void (*XML_CharacterDataHandler)(void *userData, const XML_Char *s, int len);
XML_Parser XML_ParserCreate(const XML_Char *encoding);
void XML_ParserFree(XML_Parser parser);
void XML_SetUserData(XML_Parser parser, void *userData);
void XML_SetElementHandler(XML_Parser parser, XML_StartElementHandler start,
                           XML_EndElementHandler end);
void XML_SetCharacterDataHandler(XML_Parser parser, XML_CharacterDataHandler handler);
enum XML_Status XML_Parse(XML_Parser parser, const char *s, int len, int isFinal);
enum XML_Error XML_GetErrorCode(XML_Parser parser);
const char *XML_ErrorString(enum XML_Error code);

/* ---- archive.h (subset) ---------------------------------------------- */
struct archive;
struct archive_entry;
typedef ssize_t la_ssize_t;
typedef la_ssize_t archive_read_callback(struct archive *, void *_client_data,
                                         const void **_buffer);
typedef int archive_open_callback(struct archive *, void *_client_data);
typedef int archive_close_callback(struct archive *, void *_client_data);
#define ARCHIVE_EOF 1
#define ARCHIVE_OK 0
#define ARCHIVE_FATAL (-30)
struct archive *archive_read_new(void);
int archive_read_support_filter_all(struct archive *);
int archive_read_support_format_all(struct archive *);
int archive_read_open(struct archive *, void *_client_data, archive_open_callback *,
                      archive_read_callback *, archive_close_callback *);
int archive_read_next_header(struct archive *, struct archive_entry **);
int archive_read_data_skip(struct archive *);
const char *archive_entry_pathname(struct archive_entry *);
const char *archive_error_string(struct archive *);
int archive_read_free(struct archive *);

/* ---- zstd.h (subset) ------------------------------------------------- */
size_t ZSTD_compressBound(size_t srcSize);
size_t ZSTD_compress(void *dst, size_t dstCapacity, const void *src, size_t srcSize,
                     int compressionLevel);
unsigned ZSTD_isError(size_t code);
const char *ZSTD_getErrorName(size_t code);

/* ---------------------------------------------------------------------- */

static PyObject *IngestError;

/* ===== Expat ===== */

struct feed_ctx {           /* incremental parser fed from Python */
    XML_Parser parser;
    PyObject *events;       /* list of ("start", name, attrs) / ("end", name) */
};

struct bulk_ctx {           /* whole-file parser, runs without the GIL */
    XML_Parser parser;
    unsigned long elements;
    PyObject *texts;        /* list of str */
};

// OK: start-element handler of the incremental parser; its only driver parser_feed() calls XML_Parse with the GIL held, so Python calls here are safe
static void
ok_expat_start_element(void *userData, const XML_Char *name, const XML_Char **atts)
{
    struct feed_ctx *fc = (struct feed_ctx *)userData;
    PyObject *attrs = PyDict_New(), *ev;
    int i;
    if (attrs == NULL)
        return;
    for (i = 0; atts[i] != NULL; i += 2) {
        PyObject *v = PyUnicode_FromString(atts[i + 1]);
        if (v == NULL || PyDict_SetItemString(attrs, atts[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(attrs);
            XML_SetElementHandler(fc->parser, NULL, NULL);  /* stop reporting */
            return;
        }
        Py_DECREF(v);
    }
    ev = Py_BuildValue("(ssN)", "start", name, attrs);
    if (ev != NULL) {
        PyList_Append(fc->events, ev);
        Py_DECREF(ev);
    }
}

/* Not scored: end handler, also only called from parser_feed (GIL held). */
static void
feed_end_element(void *userData, const XML_Char *name)
{
    struct feed_ctx *fc = (struct feed_ctx *)userData;
    PyObject *ev = Py_BuildValue("(ss)", "end", name);
    if (ev != NULL) {
        PyList_Append(fc->events, ev);
        Py_DECREF(ev);
    }
}

/* Not scored: Parser.feed(data) -- GIL held around XML_Parse. */
static PyObject *
parser_feed(PyObject *self, PyObject *args)
{
    struct feed_ctx *fc;
    PyObject *cap;
    const char *data;
    Py_ssize_t len;
    int final = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oy#|p", &cap, &data, &len, &final))
        return NULL;
    fc = PyCapsule_GetPointer(cap, "feed_ctx");
    if (fc == NULL)
        return NULL;
    if (fc->parser == NULL) {
        fc->parser = XML_ParserCreate("UTF-8");
        XML_SetUserData(fc->parser, fc);
        XML_SetElementHandler(fc->parser, ok_expat_start_element, feed_end_element);
    }
    if (XML_Parse(fc->parser, data, (int)len, final) == XML_STATUS_ERROR) {
        PyErr_SetString(IngestError, XML_ErrorString(XML_GetErrorCode(fc->parser)));
        return NULL;
    }
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* Not scored: C-only counter for the bulk parser. */
static void
bulk_start_element(void *userData, const XML_Char *name, const XML_Char **atts)
{
    struct bulk_ctx *bc = (struct bulk_ctx *)userData;
    (void)name;
    (void)atts;
    bc->elements++;
}

// BAD: api-without-gil character-data handler of the bulk parser builds str objects and appends to a list, but extract_text() runs XML_Parse inside Py_BEGIN_ALLOW_THREADS
static void
bad_expat_char_data(void *userData, const XML_Char *s, int len)
{
    struct bulk_ctx *bc = (struct bulk_ctx *)userData;
    PyObject *t = PyUnicode_DecodeUTF8(s, len, "replace");
    if (t == NULL) {
        PyErr_Clear();
        return;
    }
    PyList_Append(bc->texts, t);
    Py_DECREF(t);
}

/* Not scored: mmaps a file and parses it with the GIL released. */
static PyObject *
extract_text(PyObject *self, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    struct bulk_ctx bc;
    struct stat stbuf;
    void *map;
    int fd, status;
    (void)self;
    if (path == NULL)
        return NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &stbuf) < 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    map = mmap(NULL, (size_t)stbuf.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    bc.elements = 0;
    bc.texts = PyList_New(0);
    bc.parser = XML_ParserCreate("UTF-8");
    XML_SetUserData(bc.parser, &bc);
    XML_SetElementHandler(bc.parser, bulk_start_element, NULL);
    XML_SetCharacterDataHandler(bc.parser, bad_expat_char_data);
    Py_BEGIN_ALLOW_THREADS
    status = XML_Parse(bc.parser, map, (int)stbuf.st_size, 1);
    munmap(map, (size_t)stbuf.st_size);
    Py_END_ALLOW_THREADS
    XML_ParserFree(bc.parser);
    if (status == XML_STATUS_ERROR) {
        Py_DECREF(bc.texts);
        PyErr_SetString(IngestError, "malformed XML");
        return NULL;
    }
    return Py_BuildValue("(kN)", bc.elements, bc.texts);
}

/* ===== libarchive over a Python file object ===== */

struct pyfile_client {
    PyObject *fileobj;      /* strong ref */
    PyObject *last_chunk;   /* keeps the buffer handed to libarchive alive */
};

// OK: libarchive read callback runs inside archive_read_next_header/archive_read_free with the GIL released; it takes the GIL to call fileobj.read() and keeps the bytes alive in the client
static la_ssize_t
ok_archive_read_pyfile(struct archive *a, void *client_data, const void **buffer)
{
    struct pyfile_client *c = (struct pyfile_client *)client_data;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *chunk;
    la_ssize_t n;
    (void)a;

    Py_CLEAR(c->last_chunk);          /* libarchive is done with the previous block */
    chunk = PyObject_CallMethod(c->fileobj, "read", "i", 65536);
    if (chunk == NULL || !PyBytes_Check(chunk)) {
        Py_XDECREF(chunk);
        PyErr_Clear();
        PyGILState_Release(st);
        return -1;
    }
    c->last_chunk = chunk;
    *buffer = PyBytes_AS_STRING(chunk);
    n = (la_ssize_t)PyBytes_GET_SIZE(chunk);
    PyGILState_Release(st);
    return n;
}

// BAD: api-without-gil libarchive close callback is invoked from archive_read_free(), which list_members() calls with the GIL released; it DECREFs Python objects without the GIL
static int
bad_archive_close_cb(struct archive *a, void *client_data)
{
    struct pyfile_client *c = (struct pyfile_client *)client_data;
    (void)a;
    Py_CLEAR(c->last_chunk);
    Py_CLEAR(c->fileobj);
    return ARCHIVE_OK;
}

/* Not scored: lists member names with the GIL released. */
static PyObject *
list_members(PyObject *self, PyObject *fileobj)
{
    struct pyfile_client client;
    struct archive *a;
    struct archive_entry *entry;
    char **names = NULL;
    size_t count = 0, cap = 0;
    int rc, failed = 0;
    PyObject *out;
    size_t i;
    (void)self;

    Py_INCREF(fileobj);
    client.fileobj = fileobj;
    client.last_chunk = NULL;
    a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    if (archive_read_open(a, &client, NULL, ok_archive_read_pyfile,
                          bad_archive_close_cb) != ARCHIVE_OK) {
        PyErr_SetString(IngestError, archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
        if (count == cap) {
            char **p = realloc(names, (cap ? cap * 2 : 64) * sizeof *names);
            if (p == NULL) {
                failed = 1;
                break;
            }
            names = p;
            cap = cap ? cap * 2 : 64;
        }
        names[count++] = strdup(archive_entry_pathname(entry));
        archive_read_data_skip(a);
    }
    if (rc != ARCHIVE_EOF)
        failed = 1;
    archive_read_free(a);
    Py_END_ALLOW_THREADS

    out = failed ? NULL : PyList_New((Py_ssize_t)count);
    for (i = 0; i < count; i++) {
        if (out != NULL) {
            PyObject *s = PyUnicode_DecodeFSDefault(names[i] ? names[i] : "");
            if (s == NULL)
                Py_CLEAR(out);
            else
                PyList_SET_ITEM(out, (Py_ssize_t)i, s);
        }
        free(names[i]);
    }
    free(names);
    if (out == NULL && !PyErr_Occurred())
        PyErr_SetString(IngestError, "cannot read archive");
    return out;
}

/* ===== zstd ===== */

// OK: the exported buffer stays acquired across the released region (C pointer view.buf only); PyBuffer_Release and bytes creation happen after the GIL is back
static PyObject *
ok_zstd_compress_buffer(PyObject *self, PyObject *args)
{
    PyObject *src;
    int level = 3;
    Py_buffer view;
    void *dst;
    size_t cap, n = 0;
    PyObject *out;
    (void)self;
    if (!PyArg_ParseTuple(args, "O|i", &src, &level))
        return NULL;
    if (PyObject_GetBuffer(src, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    cap = ZSTD_compressBound((size_t)view.len);
    Py_BEGIN_ALLOW_THREADS
    dst = PyMem_RawMalloc(cap);
    if (dst != NULL)
        n = ZSTD_compress(dst, cap, view.buf, (size_t)view.len, level);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (dst == NULL)
        return PyErr_NoMemory();
    if (ZSTD_isError(n)) {
        PyMem_RawFree(dst);
        PyErr_SetString(IngestError, ZSTD_getErrorName(n));
        return NULL;
    }
    out = PyBytes_FromStringAndSize(dst, (Py_ssize_t)n);
    PyMem_RawFree(dst);
    return out;
}

// BAD: api-without-gil releases the source Py_buffer (PyBuffer_Release calls bf_releasebuffer and DECREFs view.obj) inside the Py_BEGIN_ALLOW_THREADS region
static PyObject *
bad_zstd_compress_buffer(PyObject *self, PyObject *args)
{
    PyObject *src;
    int level = 3;
    Py_buffer view;
    void *dst;
    size_t cap, n = 0;
    PyObject *out;
    (void)self;
    if (!PyArg_ParseTuple(args, "O|i", &src, &level))
        return NULL;
    if (PyObject_GetBuffer(src, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    cap = ZSTD_compressBound((size_t)view.len);
    Py_BEGIN_ALLOW_THREADS
    dst = PyMem_RawMalloc(cap);
    if (dst != NULL)
        n = ZSTD_compress(dst, cap, view.buf, (size_t)view.len, level);
    PyBuffer_Release(&view);          /* source no longer needed */
    Py_END_ALLOW_THREADS
    if (dst == NULL)
        return PyErr_NoMemory();
    if (ZSTD_isError(n)) {
        PyMem_RawFree(dst);
        PyErr_SetString(IngestError, ZSTD_getErrorName(n));
        return NULL;
    }
    out = PyBytes_FromStringAndSize(dst, (Py_ssize_t)n);
    PyMem_RawFree(dst);
    return out;
}

static PyMethodDef module_methods[] = {
    {"parser_feed", parser_feed, METH_VARARGS, NULL},
    {"extract_text", extract_text, METH_O, NULL},
    {"list_members", list_members, METH_O, NULL},
    {"zstd_compress", ok_zstd_compress_buffer, METH_VARARGS, NULL},
    {"zstd_compress_fast", bad_zstd_compress_buffer, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef ingest_module = {
    PyModuleDef_HEAD_INIT, "_ingest", NULL, -1, module_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__ingest(void)
{
    PyObject *m = PyModule_Create(&ingest_module);
    if (m == NULL)
        return NULL;
    IngestError = PyErr_NewException("_ingest.IngestError", NULL, NULL);
    PyModule_AddObject(m, "IngestError", IngestError);
    return m;
}
