// lz4's stream module (false alarm fixed 2026-12-07): a strategy table whose getter is one of two functions,
// a working one that only returns a field, and a stub that raises NotImplementedError. A function that returns
// a value does something: the pointer stays unknown, and the stub's Python call is not read into a released
// region that calls the getter.
#include <Python.h>
#include <string.h>

typedef struct ctx ctx_t;
typedef struct { char *(*get_work_buffer)(const ctx_t *); } ops_t;
struct ctx { const ops_t *ops; char page[2][4096]; int index; };

static char *double_buffer_page(const ctx_t *c)
{
    return (char *)c->page[c->index];
}

static char *ring_buffer_position(const ctx_t *c)
{
    (void)c;
    PyErr_Format(PyExc_NotImplementedError, "Buffer strategy not implemented: ring_buffer");
    return NULL;
}

static const ops_t double_buffer_ops = { double_buffer_page };
static const ops_t ring_buffer_ops = { ring_buffer_position };

int compress_block(const char *src, int n, char *dst, int cap);

static PyObject *ok_compress(ctx_t *c, PyObject *arg)
{
    Py_buffer in;
    int out;
    char dst[8192];
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    memcpy(c->ops->get_work_buffer(c), in.buf, (size_t)in.len);
    Py_BEGIN_ALLOW_THREADS
    out = compress_block(c->ops->get_work_buffer(c), (int)in.len, dst, (int)sizeof dst);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    return PyBytes_FromStringAndSize(dst, out < 0 ? 0 : out);
}

const ops_t *pick(int ring) { return ring ? &ring_buffer_ops : &double_buffer_ops; }
