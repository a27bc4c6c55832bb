// Allocators and callbacks from tables that are only ever run with the GIL held: nothing to report.
// - zlib streams with PyMem allocators whose inflate()/inflateEnd() calls all hold the GIL (small buffers);
// - an ops table whose read callback uses Python, handed to libarchive and driven with the GIL held;
// - a project's own table of functions that no library call is given, called through with the GIL released.
#include <Python.h>
#include <string.h>

typedef void *(*alloc_func)(void *opaque, unsigned items, unsigned size);
typedef void (*free_func)(void *opaque, void *address);
typedef struct z_stream_s {
    const unsigned char *next_in;
    unsigned avail_in;
    unsigned char *next_out;
    unsigned avail_out;
    alloc_func zalloc;
    free_func zfree;
    void *opaque;
} z_stream;
int inflateInit_(z_stream *strm, const char *version, int stream_size);
int inflate(z_stream *strm, int flush);
int inflateEnd(z_stream *strm);

static void *pymem_zalloc(void *opaque, unsigned items, unsigned size)
{
    (void)opaque;
    return PyMem_Malloc((size_t)items * size);
}

static void pymem_zfree(void *opaque, void *address)
{
    (void)opaque;
    PyMem_Free(address);
}

// Small header parsing: the whole stream runs with the GIL held.
static PyObject *peek_header(PyObject *mod, PyObject *arg)
{
    z_stream zs;
    unsigned char out[64];
    char *buf;
    Py_ssize_t len;
    int err;
    if (PyBytes_AsStringAndSize(arg, &buf, &len) < 0)
        return NULL;
    memset(&zs, 0, sizeof(zs));
    zs.zalloc = pymem_zalloc;
    zs.zfree = pymem_zfree;
    if (inflateInit_(&zs, "1.2.13", (int)sizeof(zs)) != 0)
        return PyErr_NoMemory();
    zs.next_in = (const unsigned char *)buf;
    zs.avail_in = (unsigned)(len < 64 ? len : 64);
    zs.next_out = out;
    zs.avail_out = sizeof(out);
    // A few bytes: harmless, but the call does not say how much data it gets (rules/libs/zlib.yml), and every
    // path of the function calls the Python API, so it runs with the GIL held.
    err = inflate(&zs, 2);   // expect-warning{{inflate() may block while this thread holds the GIL}} [blocking-with-gil]
    inflateEnd(&zs);
    return PyLong_FromLong(err);
}

typedef struct { PyObject_HEAD PyObject *sink; } Archive;

struct archive;
typedef long archive_read_callback(struct archive *, void *client, const void **buffer);
int archive_read_set_read_callback(struct archive *, archive_read_callback *);
int archive_read_next_header(struct archive *, void **entry);

static long py_read(struct archive *a, void *client, const void **buffer)
{
    PyObject *data = PyObject_CallMethod((PyObject *)client, "read", NULL);
    (void)a;
    if (data == NULL)
        return -1;
    *buffer = PyBytes_AS_STRING(data);   // kept alive by the caller's reference, as in the real module
    Py_DECREF(data);
    return 0;
}

struct ops { archive_read_callback *read; };
static const struct ops py_ops = { py_read };

// Handed over and run with the GIL held: libarchive calls py_read with the GIL.
static PyObject *next_entry(PyObject *mod, PyObject *cap)
{
    struct archive *a = PyCapsule_GetPointer(cap, "archive");
    void *entry;
    if (a == NULL)
        return NULL;
    archive_read_set_read_callback(a, py_ops.read);
    return PyLong_FromLong(archive_read_next_header(a, &entry));
}

// A project's own dispatch table, called through with the GIL released: its functions are plain C.
struct codec { int (*step)(unsigned char *, size_t); };
static int xor_step(unsigned char *p, size_t n) { while (n--) *p++ ^= 0x5a; return 0; }
static const struct codec xor_codec = { xor_step };

static PyObject *scramble(PyObject *mod, PyObject *arg)
{
    Py_buffer view;
    int r;
    if (PyObject_GetBuffer(arg, &view, PyBUF_WRITABLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    r = xor_codec.step(view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromLong(r);
}
