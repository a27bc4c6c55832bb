// Calls documented as safe without the GIL may appear inside a released region: raw memory, thread-local
// storage, the thread and lock layer, PyGILState_Check(), Py_IsInitialized(), PyOS_snprintf().
#include <Python.h>
#include <string.h>

extern int compress(const char *in, size_t n, char *out, size_t cap);

PyObject *ok_compress(PyObject *self, PyObject *arg)
{
    char *data;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(arg, &data, &size) < 0)
        return NULL;
    char *out = NULL;
    int n = -1;
    size_t cap = (size_t)size + 64;
    Py_BEGIN_ALLOW_THREADS
    out = PyMem_RawMalloc(cap);
    if (out != NULL) {
        n = compress(data, (size_t)size, out, cap);
        if (n < 0) {
            PyMem_RawFree(out);
            out = NULL;
        }
    }
    Py_END_ALLOW_THREADS
    if (out == NULL)
        return PyErr_NoMemory();
    PyObject *res = PyBytes_FromStringAndSize(out, n);
    PyMem_RawFree(out);
    return res;
}

static Py_tss_t cache_key = Py_tss_NEEDS_INIT;

void ok_tls_and_locks(PyThread_type_lock lock, char *msg, size_t len)
{
    Py_BEGIN_ALLOW_THREADS
    if (PyThread_tss_is_created(&cache_key)) {
        void *cached = PyThread_tss_get(&cache_key);
        if (cached == NULL)
            PyThread_tss_set(&cache_key, msg);
    }
    PyThread_acquire_lock(lock, WAIT_LOCK);
    PyOS_snprintf(msg, len, "thread %lu", PyThread_get_thread_ident());
    PyThread_release_lock(lock);
    Py_END_ALLOW_THREADS
}

int ok_check_inside_block(void)
{
    int held_inside = -1;
    Py_BEGIN_ALLOW_THREADS
    held_inside = PyGILState_Check();
    if (!Py_IsInitialized())
        held_inside = -2;
    Py_END_ALLOW_THREADS
    return held_inside;
}

void ok_raw_realloc_loop(size_t rounds)
{
    char *buf = NULL;
    size_t cap = 0;
    Py_BEGIN_ALLOW_THREADS
    for (size_t i = 0; i < rounds; i++) {
        char *bigger = PyMem_RawRealloc(buf, cap + 256);
        if (bigger == NULL)
            break;
        buf = bigger;
        memset(buf + cap, 0, 256);
        cap += 256;
    }
    PyMem_RawFree(buf);
    Py_END_ALLOW_THREADS
}
