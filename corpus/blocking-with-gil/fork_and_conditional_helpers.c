// A forked child runs a single thread: its blocking calls stall no thread that waits for the GIL. A helper that
// blocks only for a live argument (zstd's POOL_free(NULL) returns at once) does not block when called with NULL.
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct { pthread_t *threads; int count; } POOL_ctx;

static void POOL_free(POOL_ctx *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->count; i++)
        pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    free(pool);
}

static POOL_ctx *POOL_create(int n);

static PyObject *ok_free_null_pool_on_error(PyObject *self, PyObject *args)
{
    POOL_ctx *pool = NULL;
    int workers;
    if (!PyArg_ParseTuple(args, "i", &workers)) {
        POOL_free(pool);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *bad_free_live_pool(PyObject *self, PyObject *args)
{
    POOL_ctx *pool = POOL_create(4);
    POOL_free(pool);  // expect-warning{{POOL_free() (summary: it calls pthread_join()) may block while this thread holds the GIL}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyObject *ok_child_blocks_then_exits(PyObject *self, PyObject *args)
{
    pid_t pid = fork();
    if (pid < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    if (pid == 0) {
        char buf[64];
        sleep(1);
        read(0, buf, sizeof buf);
        _exit(0);
    }
    int status = 0;
    Py_BEGIN_ALLOW_THREADS
    waitpid(pid, &status, 0);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(status);
}

static PyObject *bad_parent_waits_with_gil(PyObject *self, PyObject *args)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status = 0;
    waitpid(pid, &status, 0);  // expect-warning{{waitpid() may block while this thread holds the GIL}} [blocking-with-gil]
    return PyLong_FromLong(status);
}

static PyMethodDef methods[] = {
    {"free_null", ok_free_null_pool_on_error, METH_VARARGS, NULL},
    {"free_live", bad_free_live_pool, METH_VARARGS, NULL},
    {"child", ok_child_blocks_then_exits, METH_VARARGS, NULL},
    {"parent", bad_parent_waits_with_gil, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};
