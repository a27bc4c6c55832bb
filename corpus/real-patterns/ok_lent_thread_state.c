// Helpers that run while their caller has released the GIL and keeps the saved thread state where they can
// reach it (a field of a context struct, an out-pointer): they take the GIL back for a moment (to allocate
// with Python's allocator, to set an exception, to run a Python callback) and release it again into the
// same place. For the caller nothing changes: the GIL is still released, the state is where it was.
#include <Python.h>
#include <stdlib.h>

typedef struct {
    int threaded;
    PyThreadState *saved;
    size_t used, size;
    char *buf;
} scan_ctx;

static void ctx_unlock(scan_ctx *ctx)
{
    if (ctx->threaded && !ctx->saved)
        ctx->saved = PyEval_SaveThread();
}

static void ctx_lock(scan_ctx *ctx)
{
    if (ctx->threaded && ctx->saved) {
        PyEval_RestoreThread(ctx->saved);
        ctx->saved = NULL;
    }
}

static void *ctx_grow(scan_ctx *ctx, size_t size)
{
    void *p;
    ctx_lock(ctx);
    p = PyMem_Realloc(ctx->buf, size);
    if (!p)
        PyErr_NoMemory();
    ctx_unlock(ctx);
    return p;
}

static int ctx_push(scan_ctx *ctx, char c)
{
    if (ctx->used == ctx->size) {
        size_t bigger = ctx->size ? ctx->size * 2 : 32;
        char *p;
        if (bigger > (1u << 30)) {
            ctx_lock(ctx);
            PyErr_SetString(PyExc_MemoryError, "scan buffer too large");
            ctx_unlock(ctx);
            return -1;
        }
        p = ctx_grow(ctx, bigger);
        if (!p)
            return -1;
        ctx->buf = p;
        ctx->size = bigger;
    }
    ctx->buf[ctx->used++] = c;
    return 0;
}

static int ctx_push_pair(scan_ctx *ctx, char a, char b)
{
    if (ctx_push(ctx, a) < 0)
        return -1;
    return ctx_push(ctx, b);
}

PyObject *scan_all(PyObject *self, PyObject *arg)
{
    scan_ctx ctx = {1, NULL, 0, 0, NULL};
    const char *text = PyUnicode_AsUTF8(arg);
    int failed = 0;
    if (!text)
        return NULL;
    ctx_unlock(&ctx);
    for (; *text && !failed; text++)
        failed = ctx_push_pair(&ctx, *text, ' ') < 0;
    ctx_lock(&ctx);
    if (failed) {
        PyMem_Free(ctx.buf);
        return NULL;
    }
    PyObject *r = PyBytes_FromStringAndSize(ctx.buf, (Py_ssize_t)ctx.used);
    PyMem_Free(ctx.buf);
    return r;
}

/* The same through an out-pointer: the caller passes the address of its Py_BEGIN_ALLOW_THREADS state. */
extern int wire_send(void *conn, const char *cmd);
extern int wire_is_async(void *conn);
extern int wire_wait_with_callback(void *conn);

int run_locked(void *conn, const char *cmd, PyThreadState **tstate)
{
    int rv;
    if (!wire_is_async(conn)) {
        rv = wire_send(conn, cmd);
    } else {
        PyEval_RestoreThread(*tstate);
        rv = wire_wait_with_callback(conn);
        *tstate = PyEval_SaveThread();
    }
    if (rv < 0) {
        PyEval_RestoreThread(*tstate);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "command failed");
        *tstate = PyEval_SaveThread();
        return -1;
    }
    return 0;
}

int commit(void *conn)
{
    int rv;
    Py_BEGIN_ALLOW_THREADS
    rv = run_locked(conn, "COMMIT", &_save);
    Py_END_ALLOW_THREADS
    return rv;
}

/* A wrapper that gives the caller's thread state back to the interpreter. */
void give_back_thread(PyThreadState *state)
{
    PyEval_ReleaseThread(state);
}

/* Callbacks of a C library that run on the library's threads: a helper fetches the thread state the
   extension stored for this handle and takes the GIL with it; another gives it back afterwards. */
typedef struct { PyThreadState *owner_state; PyObject *on_data; } transfer;

static int take_thread(const transfer *t, PyThreadState **ts)
{
    *ts = t->owner_state;
    if (*ts == NULL)
        return 0;
    PyEval_AcquireThread(*ts);
    return 1;
}

static void drop_thread(PyThreadState *ts)
{
    PyEval_ReleaseThread(ts);
}

size_t on_data(char *data, size_t size, void *userdata)
{
    transfer *t = userdata;
    PyThreadState *ts;
    size_t used = 0;
    if (!take_thread(t, &ts))
        return 0;
    PyObject *r = PyObject_CallFunction(t->on_data, "y#", data, (Py_ssize_t)size);
    if (r != NULL) {
        used = size;
        Py_DECREF(r);
    } else {
        PyErr_Print();
    }
    drop_thread(ts);
    return used;
}
