/*
 * _fasthash.c -- xxHash binding plus a log sink shared by Python code and
 * native threads of the same package.  Mostly correct code whose GIL
 * handling is conditional, split across helpers or otherwise unusual.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* ---- xxhash.h (subset) ------------------------------------------------ */
typedef unsigned long long XXH64_hash_t;
typedef enum { XXH_OK = 0, XXH_ERROR } XXH_errorcode;
typedef struct XXH3_state_s XXH3_state_t;
XXH64_hash_t XXH3_64bits(const void *input, size_t length);
XXH3_state_t *XXH3_createState(void);
XXH_errorcode XXH3_freeState(XXH3_state_t *statePtr);
XXH_errorcode XXH3_64bits_reset(XXH3_state_t *statePtr);
XXH_errorcode XXH3_64bits_update(XXH3_state_t *statePtr, const void *input, size_t length);
XXH64_hash_t XXH3_64bits_digest(const XXH3_state_t *statePtr);

#define OFFLOAD_THRESHOLD (64 * 1024)
#define CHUNK (1 << 20)

struct log_sink {
    PyObject *handler;     /* logging.Handler-like object with .emit(str) */
};

static struct log_sink g_sink;

// OK: from_native is never modified, so the Release runs exactly on the paths that called Ensure; Python callers already hold the GIL
void
ok_correlated_flag_release(struct log_sink *s, const char *msg, int from_native)
{
    PyGILState_STATE st = PyGILState_LOCKED;
    PyObject *r;
    if (from_native)
        st = PyGILState_Ensure();
    r = PyObject_CallMethod(s->handler, "emit", "s", msg);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    if (from_native)
        PyGILState_Release(st);
}

// OK: PyGILState_Check decides once whether this thread must acquire; the same saved flag guards the Release
void
ok_gilstate_check_conditional(struct log_sink *s, const char *msg)
{
    int need_gil = !PyGILState_Check();
    PyGILState_STATE st = PyGILState_LOCKED;
    PyObject *r;
    if (need_gil)
        st = PyGILState_Ensure();
    r = PyObject_CallMethod(s->handler, "emit", "s", msg);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    if (need_gil)
        PyGILState_Release(st);
}

// BAD: release-without-ensure,ensure-leak the restore condition is inverted: when the thread already held the GIL it releases a state it never ensured, and when it had to Ensure it never releases
void
bad_inverted_gil_check(struct log_sink *s, const char *msg)
{
    int had_gil = PyGILState_Check();
    PyGILState_STATE st = PyGILState_LOCKED;
    PyObject *r;
    if (!had_gil)
        st = PyGILState_Ensure();
    r = PyObject_CallMethod(s->handler, "emit", "s", msg);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    if (had_gil)
        PyGILState_Release(st);
}

// OK: the GIL is released only for large buffers, and the restore is guarded by the same unchanged flag
static PyObject *
ok_conditional_offload(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    XXH64_hash_t h;
    PyThreadState *ts = NULL;
    int offload;
    (void)self;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    offload = view.len >= OFFLOAD_THRESHOLD;
    if (offload)
        ts = PyEval_SaveThread();
    h = XXH3_64bits(view.buf, (size_t)view.len);
    if (offload)
        PyEval_RestoreThread(ts);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(h);
}

// BAD: allow-threads-leak,api-without-gil the restore is guarded by `len > OFFLOAD_THRESHOLD`, but the chunk loop consumes len to 0, so a released GIL is never restored and the Python calls after it run without the GIL
static PyObject *
bad_offload_flag_recomputed(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    XXH3_state_t *state;
    const char *p;
    size_t len;
    PyThreadState *ts = NULL;
    XXH64_hash_t h;
    (void)self;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    state = XXH3_createState();
    if (state == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    XXH3_64bits_reset(state);
    p = view.buf;
    len = (size_t)view.len;
    if (len > OFFLOAD_THRESHOLD)
        ts = PyEval_SaveThread();
    while (len > 0) {
        size_t n = len < CHUNK ? len : CHUNK;
        XXH3_64bits_update(state, p, n);
        p += n;
        len -= n;
    }
    if (len > OFFLOAD_THRESHOLD)
        PyEval_RestoreThread(ts);
    h = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(h);
}

enum sink_kind { SINK_TEXT, SINK_JSON, SINK_DROP };

// OK: one Ensure before the switch; every case releases the state before its own return
int
ok_switch_each_case_releases(struct log_sink *s, enum sink_kind kind, const char *msg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r;
    int rc;
    switch (kind) {
    case SINK_TEXT:
        r = PyObject_CallMethod(s->handler, "emit", "s", msg);
        rc = (r != NULL) ? 0 : -1;
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
        PyGILState_Release(st);
        return rc;
    case SINK_JSON:
        r = PyObject_CallMethod(s->handler, "emit_json", "s", msg);
        rc = (r != NULL) ? 0 : -1;
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
        PyGILState_Release(st);
        return rc;
    case SINK_DROP:
    default:
        PyGILState_Release(st);
        return 0;
    }
}

#define CALL_WITH_GIL(stmt)                              \
    do {                                                 \
        PyGILState_STATE gil_state_ = PyGILState_Ensure(); \
        stmt;                                            \
        PyGILState_Release(gil_state_);                  \
    } while (0)

/* Not scored: requires the GIL. */
static void
sink_emit_locked(struct log_sink *s, const char *msg)
{
    PyObject *r = PyObject_CallMethod(s->handler, "emit", "s", msg);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
}

// OK: native flush thread calls the GIL-requiring helper only through the do/while(0) CALL_WITH_GIL wrapper macro
void
ok_call_with_gil_macro(struct log_sink *s, const char *const *lines, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        if (lines[i] == NULL || lines[i][0] == '\0')
            continue;
        CALL_WITH_GIL(sink_emit_locked(s, lines[i]));
    }
}

/* Deferred-DECREF ring: native threads hand objects back without the GIL. */
#define RING 1024
static PyObject *g_decref_ring[RING];
static atomic_uint g_ring_head, g_ring_tail;

// OK: native (GIL-less) thread only stores and compares PyObject* values in a C ring; it never dereferences them, and the ring is drained with the GIL in drain_decref_ring
int
ok_pointer_ring_enqueue(PyObject *obj)
{
    unsigned head, tail;
    if (obj == NULL || obj == Py_None)
        return 0;
    head = atomic_load(&g_ring_head);
    tail = atomic_load(&g_ring_tail);
    if (head - tail >= RING)
        return -1;                       /* full: caller retries later */
    g_decref_ring[head % RING] = obj;
    atomic_store(&g_ring_head, head + 1);
    return 0;
}

/* Not scored: Python-side drain (GIL held). */
static PyObject *
drain_decref_ring(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    unsigned head = atomic_load(&g_ring_head);
    unsigned tail = atomic_load(&g_ring_tail);
    (void)self;
    while (tail != head) {
        Py_DECREF(g_decref_ring[tail % RING]);
        tail++;
    }
    atomic_store(&g_ring_tail, tail);
    Py_RETURN_NONE;
}

struct io_ctx {
    int fd;
    PyThreadState *ts;
};

/* Not scored: paired helpers; begin saves into ctx->ts, end restores it. */
static void
begin_blocking(struct io_ctx *ctx)
{
    ctx->ts = PyEval_SaveThread();
}

static void
end_blocking(struct io_ctx *ctx)
{
    PyEval_RestoreThread(ctx->ts);
    ctx->ts = NULL;
}

// OK: GIL released and reacquired through begin_blocking/end_blocking, which save and restore the same ctx->ts on every path
static PyObject *
ok_split_begin_end_helpers(PyObject *self, PyObject *arg)
{
    struct io_ctx ctx;
    char buf[4096];
    ssize_t n;
    int err;
    XXH64_hash_t h;
    const char *path = PyUnicode_AsUTF8(arg);
    (void)self;
    if (path == NULL)
        return NULL;
    ctx.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (ctx.fd < 0)
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, arg);
    begin_blocking(&ctx);
    n = read(ctx.fd, buf, sizeof buf);
    err = errno;
    close(ctx.fd);
    h = n > 0 ? XXH3_64bits(buf, (size_t)n) : 0;
    end_blocking(&ctx);
    if (n < 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromUnsignedLongLong(h);
}

// OK: on a read error inside Py_BEGIN_ALLOW_THREADS, Py_BLOCK_THREADS reacquires the GIL before raising and returning (the documented early-exit idiom)
static PyObject *
ok_block_threads_error_exit(PyObject *self, PyObject *args)
{
    int fd;
    XXH3_state_t *state;
    char buf[65536];
    XXH64_hash_t h;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    state = XXH3_createState();
    if (state == NULL)
        return PyErr_NoMemory();
    XXH3_64bits_reset(state);
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            int err = errno;
            XXH3_freeState(state);
            Py_BLOCK_THREADS
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (n == 0)
            break;
        XXH3_64bits_update(state, buf, (size_t)n);
    }
    h = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLongLong(h);
}

struct hash_job {
    char path[4096];
    PyObject *future;      /* object with set_result(int) */
};

// OK: hashing thread does all file I/O and hashing as plain C first and touches Python only after PyGILState_Ensure
static void *
ok_thread_entry_c_work_first(void *arg)
{
    struct hash_job *job = (struct hash_job *)arg;
    XXH3_state_t *state = XXH3_createState();
    XXH64_hash_t h = 0;
    char buf[65536];
    ssize_t n;
    int fd;
    PyGILState_STATE st;
    PyObject *r;

    fd = open(job->path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && state != NULL) {
        XXH3_64bits_reset(state);
        while ((n = read(fd, buf, sizeof buf)) > 0)
            XXH3_64bits_update(state, buf, (size_t)n);
        h = XXH3_64bits_digest(state);
    }
    if (fd >= 0)
        close(fd);
    if (state != NULL)
        XXH3_freeState(state);

    st = PyGILState_Ensure();
    r = PyObject_CallMethod(job->future, "set_result", "K", (unsigned long long)h);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    Py_DECREF(job->future);
    PyGILState_Release(st);
    PyMem_RawFree(job);
    return NULL;
}

/* Not scored */
static PyObject *
hash_file_async(PyObject *self, PyObject *args)
{
    const char *path;
    PyObject *future;
    struct hash_job *job;
    pthread_t tid;
    (void)self;
    if (!PyArg_ParseTuple(args, "sO", &path, &future))
        return NULL;
    job = PyMem_RawCalloc(1, sizeof *job);
    if (job == NULL)
        return PyErr_NoMemory();
    strncpy(job->path, path, sizeof job->path - 1);
    Py_INCREF(future);
    job->future = future;
    if (pthread_create(&tid, NULL, ok_thread_entry_c_work_first, job) != 0) {
        Py_DECREF(future);
        PyMem_RawFree(job);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pthread_detach(tid);
    Py_RETURN_NONE;
}

static PyObject *
set_handler(PyObject *self, PyObject *h)
{
    (void)self;
    Py_INCREF(h);
    Py_XSETREF(g_sink.handler, h);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"xxh3", ok_conditional_offload, METH_O, NULL},
    {"xxh3_stream", bad_offload_flag_recomputed, METH_O, NULL},
    {"xxh3_file_head", ok_split_begin_end_helpers, METH_O, NULL},
    {"xxh3_fd", ok_block_threads_error_exit, METH_VARARGS, NULL},
    {"hash_file_async", hash_file_async, METH_VARARGS, NULL},
    {"drain", drain_decref_ring, METH_NOARGS, NULL},
    {"set_handler", set_handler, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef fasthash_module = {
    PyModuleDef_HEAD_INIT, "_fasthash", NULL, -1, module_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__fasthash(void)
{
    return PyModule_Create(&fasthash_module);
}
