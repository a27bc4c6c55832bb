/*
 * _docpack: compress documents with zlib (custom allocators for memory
 * accounting) and parse XML manifests with expat.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

/* --- zlib (zlib.h) declarations --- */
typedef unsigned char Bytef;
typedef unsigned int uInt;
typedef unsigned long uLong;
typedef void *voidpf;
typedef voidpf (*alloc_func)(voidpf opaque, uInt items, uInt size);
typedef void (*free_func)(voidpf opaque, voidpf address);
struct internal_state;
typedef struct z_stream_s {
    const Bytef *next_in; uInt avail_in; uLong total_in;
    Bytef *next_out; uInt avail_out; uLong total_out;
    const char *msg; struct internal_state *state;
    alloc_func zalloc; free_func zfree; voidpf opaque;
    int data_type; uLong adler; uLong reserved;
} z_stream;
typedef z_stream *z_streamp;
#define ZLIB_VERSION "1.2.13"
#define Z_OK 0
#define Z_STREAM_END 1
#define Z_FINISH 4
#define Z_DEFAULT_COMPRESSION (-1)
int deflateInit_(z_streamp strm, int level, const char *version, int stream_size);
#define deflateInit(strm, level) deflateInit_((strm), (level), ZLIB_VERSION, (int)sizeof(z_stream))
int deflate(z_streamp strm, int flush);
int deflateEnd(z_streamp strm);
uLong deflateBound(z_streamp strm, uLong sourceLen);
uLong compressBound(uLong sourceLen);
int compress2(Bytef *dest, uLong *destLen, const Bytef *source, uLong sourceLen, int level);

/* --- expat (expat.h) declarations --- */
typedef struct XML_ParserStruct *XML_Parser;
typedef char XML_Char;
typedef void (*XML_StartElementHandler)(void *userData, const XML_Char *name, const XML_Char **atts);
typedef void (*XML_EndElementHandler)(void *userData, const XML_Char *name);
enum XML_Status { XML_STATUS_ERROR = 0, XML_STATUS_OK = 1, XML_STATUS_SUSPENDED = 2 };
XML_Parser XML_ParserCreate(const XML_Char *encoding);
void XML_SetUserData(XML_Parser parser, void *userData);
void XML_SetElementHandler(XML_Parser parser, XML_StartElementHandler start, XML_EndElementHandler end);
enum XML_Status XML_Parse(XML_Parser parser, const char *s, int len, int isFinal);
void XML_StopParser(XML_Parser parser, int resumable);
void XML_ParserFree(XML_Parser parser);

typedef struct { size_t live; size_t peak; } mem_account;

// BAD: api-without-gil,thread-entry-without-gil  zlib allocator uses PyMem_Malloc, but deflateInit/deflate/deflateEnd run it inside the released region of pack_tracked
static voidpf bad_zalloc_pymem(voidpf opaque, uInt items, uInt size)
{
    mem_account *acct = (mem_account *)opaque;
    size_t n = (size_t)items * size;
    void *p = PyMem_Malloc(n + sizeof(size_t));
    if (p == NULL)
        return NULL;
    *(size_t *)p = n;
    acct->live += n;
    if (acct->live > acct->peak)
        acct->peak = acct->live;
    return (char *)p + sizeof(size_t);
}

static void
zfree_pymem(voidpf opaque, voidpf address)
{
    mem_account *acct = (mem_account *)opaque;
    size_t *hdr = (size_t *)address - 1;
    acct->live -= *hdr;
    PyMem_Free(hdr);
}

// OK: zlib allocator called without the GIL uses PyMem_RawMalloc, which is documented as safe without the GIL
static voidpf ok_zalloc_raw(voidpf opaque, uInt items, uInt size)
{
    mem_account *acct = (mem_account *)opaque;
    size_t n = (size_t)items * size;
    void *p = PyMem_RawMalloc(n + sizeof(size_t));
    if (p == NULL)
        return NULL;
    *(size_t *)p = n;
    __atomic_add_fetch(&acct->live, n, __ATOMIC_RELAXED);
    if (acct->live > acct->peak)
        acct->peak = acct->live;
    return (char *)p + sizeof(size_t);
}

static void
zfree_raw(voidpf opaque, voidpf address)
{
    mem_account *acct = (mem_account *)opaque;
    size_t *hdr = (size_t *)address - 1;
    __atomic_sub_fetch(&acct->live, *hdr, __ATOMIC_RELAXED);
    PyMem_RawFree(hdr);
}

PyObject *
pack_tracked(PyObject *mod, PyObject *args)
{
    Py_buffer in;
    int raw = 1, rc;
    mem_account acct = {0, 0};
    if (!PyArg_ParseTuple(args, "y*|p", &in, &raw))
        return NULL;
    size_t cap = compressBound((uLong)in.len);
    Bytef *out = PyMem_RawMalloc(cap);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return PyErr_NoMemory();
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = raw ? ok_zalloc_raw : bad_zalloc_pymem;
    zs.zfree = raw ? zfree_raw : zfree_pymem;
    zs.opaque = &acct;
    Py_BEGIN_ALLOW_THREADS
    rc = deflateInit(&zs, Z_DEFAULT_COMPRESSION);
    if (rc == Z_OK) {
        zs.next_in = in.buf; zs.avail_in = (uInt)in.len;
        zs.next_out = out; zs.avail_out = (uInt)cap;
        rc = deflate(&zs, Z_FINISH);
        deflateEnd(&zs);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    PyObject *res = rc == Z_STREAM_END
        ? Py_BuildValue("(y#n)", (const char *)out, (Py_ssize_t)zs.total_out, (Py_ssize_t)acct.peak)
        : (PyErr_Format(PyExc_RuntimeError, "deflate failed: %d", rc), NULL);
    PyMem_RawFree(out);
    (void)mod;
    return res;
}

// BAD: blocking-with-gil  compress2 over a whole document (possibly hundreds of MB) runs with the GIL held
static PyObject *
bad_pack_document(PyObject *mod, PyObject *args)
{
    Py_buffer in;
    int level = 9;
    if (!PyArg_ParseTuple(args, "y*|i", &in, &level))
        return NULL;
    uLong cap = compressBound((uLong)in.len);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    int rc = compress2((Bytef *)PyBytes_AS_STRING(out), &cap, in.buf, (uLong)in.len, level);
    PyBuffer_Release(&in);
    if (rc != Z_OK) {
        Py_DECREF(out);
        PyErr_Format(PyExc_RuntimeError, "compress2 failed: %d", rc);
        return NULL;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)cap) < 0)
        return NULL;
    (void)mod;
    return out;
}

/* ---- XML manifests ---- */

typedef struct {
    PyObject *entries;     /* list of (name, attrs) */
    XML_Parser parser;
    int failed;
} manifest_ctx;

// OK: expat start handler runs synchronously inside XML_Parse, which ok_parse_manifest calls with the GIL held
static void ok_on_start_sync(void *ud, const XML_Char *name, const XML_Char **atts)
{
    manifest_ctx *mc = (manifest_ctx *)ud;
    if (mc->failed)
        return;
    PyObject *attrs = PyDict_New();
    for (int i = 0; attrs != NULL && atts[i] != NULL; i += 2) {
        PyObject *v = PyUnicode_FromString(atts[i + 1]);
        if (v == NULL || PyDict_SetItemString(attrs, atts[i], v) < 0)
            Py_CLEAR(attrs);
        Py_XDECREF(v);
    }
    PyObject *item = attrs ? Py_BuildValue("(sN)", name, attrs) : NULL;
    if (item == NULL || PyList_Append(mc->entries, item) < 0) {
        mc->failed = 1;
        XML_StopParser(mc->parser, 0);
    }
    Py_XDECREF(item);
}

static void
on_end(void *ud, const XML_Char *name)
{
    (void)ud; (void)name;
}

// OK: XML_Parse is CPU-only work on an in-memory buffer and is called with the GIL held, like pyexpat does
static PyObject *
ok_parse_manifest(PyObject *mod, PyObject *args)
{
    const char *doc; Py_ssize_t len;
    manifest_ctx mc = {0};
    if (!PyArg_ParseTuple(args, "s#", &doc, &len))
        return NULL;
    if ((mc.entries = PyList_New(0)) == NULL)
        return NULL;
    mc.parser = XML_ParserCreate("UTF-8");
    if (mc.parser == NULL) {
        Py_DECREF(mc.entries);
        return PyErr_NoMemory();
    }
    XML_SetUserData(mc.parser, &mc);
    XML_SetElementHandler(mc.parser, ok_on_start_sync, on_end);
    enum XML_Status st = XML_Parse(mc.parser, doc, (int)len, 1);
    XML_ParserFree(mc.parser);
    if (mc.failed || st != XML_STATUS_OK) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "malformed manifest");
        Py_CLEAR(mc.entries);
    }
    (void)mod;
    return mc.entries;
}

// BAD: api-without-gil,thread-entry-without-gil  start handler builds Python objects, but parse_manifest_nogil runs XML_Parse with the GIL released
static void bad_on_start_released(void *ud, const XML_Char *name, const XML_Char **atts)
{
    manifest_ctx *mc = (manifest_ctx *)ud;
    (void)atts;
    PyObject *s = PyUnicode_FromString(name);
    if (s == NULL || PyList_Append(mc->entries, s) < 0)
        mc->failed = 1;
    Py_XDECREF(s);
}

PyObject *
parse_manifest_nogil(PyObject *mod, PyObject *args)
{
    const char *doc; Py_ssize_t len;
    manifest_ctx mc = {0};
    enum XML_Status st;
    if (!PyArg_ParseTuple(args, "s#", &doc, &len))
        return NULL;
    if ((mc.entries = PyList_New(0)) == NULL)
        return NULL;
    mc.parser = XML_ParserCreate(NULL);
    if (mc.parser == NULL) {
        Py_DECREF(mc.entries);
        return PyErr_NoMemory();
    }
    XML_SetUserData(mc.parser, &mc);
    XML_SetElementHandler(mc.parser, bad_on_start_released, on_end);
    Py_BEGIN_ALLOW_THREADS
    st = XML_Parse(mc.parser, doc, (int)len, 1);
    XML_ParserFree(mc.parser);
    Py_END_ALLOW_THREADS
    if (mc.failed || st != XML_STATUS_OK) {
        PyErr_SetString(PyExc_ValueError, "malformed manifest");
        Py_CLEAR(mc.entries);
    }
    (void)mod;
    return mc.entries;
}

/* ---- sorting entries by a Python key ---- */

typedef struct { PyObject *key; Py_ssize_t index; } keyed;
static int g_sort_failed;

// OK: qsort comparator calls Python without Ensure because qsort runs it synchronously on the calling thread, which holds the GIL
static int ok_cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (g_sort_failed)
        return 0;
    int lt = PyObject_RichCompareBool(x->key, y->key, Py_LT);
    if (lt < 0) {
        g_sort_failed = 1;
        return 0;
    }
    if (lt)
        return -1;
    int gt = PyObject_RichCompareBool(y->key, x->key, Py_LT);
    if (gt < 0) {
        g_sort_failed = 1;
        return 0;
    }
    return gt ? 1 : (x->index < y->index ? -1 : x->index > y->index);
}

PyObject *
sorted_indices(PyObject *mod, PyObject *keys)
{
    Py_ssize_t n = PySequence_Size(keys);
    if (n < 0)
        return NULL;
    keyed *arr = PyMem_New(keyed, n ? n : 1);
    if (arr == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        arr[i].key = PySequence_GetItem(keys, i);
        arr[i].index = i;
        if (arr[i].key == NULL) {
            while (i-- > 0)
                Py_DECREF(arr[i].key);
            PyMem_Free(arr);
            return NULL;
        }
    }
    g_sort_failed = 0;
    qsort(arr, (size_t)n, sizeof *arr, ok_cmp_keyed);
    PyObject *out = g_sort_failed ? NULL : PyList_New(n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (out != NULL)
            PyList_SET_ITEM(out, i, PyLong_FromSsize_t(arr[i].index));
        Py_DECREF(arr[i].key);
    }
    PyMem_Free(arr);
    (void)mod;
    return out;
}
