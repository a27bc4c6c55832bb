/* uWSGI-python-plugin-style GIL primitives behind function pointers.  With
 * threads enabled, up.gil_release/up.gil_get really release/re-take the GIL
 * (the thread state is parked in a pthread key); without threads they are
 * no-ops. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

struct uwsgi_python {
    int threads;
    pthread_key_t upt_gil_key;
    void (*gil_get)(void);
    void (*gil_release)(void);
    int socket_timeout;
};

struct uwsgi_python up;

#define UWSGI_GET_GIL up.gil_get();
#define UWSGI_RELEASE_GIL up.gil_release();

/* OK (primitive): re-takes the GIL with the parked thread state; it leaves
 * the function holding the GIL by design. */
void
ok_gil_real_get(void)
{
    PyEval_RestoreThread((PyThreadState *)pthread_getspecific(up.upt_gil_key));
}

/* OK (primitive): parks the thread state and releases the GIL; leaving the
 * GIL released is its whole purpose. */
void
ok_gil_real_release(void)
{
    pthread_setspecific(up.upt_gil_key, (void *)PyThreadState_Get());
    PyEval_SaveThread();
}

static void
gil_fake_get(void)
{
}

static void
gil_fake_release(void)
{
}

void
uwsgi_python_init_gil(int threads)
{
    up.threads = threads;
    if (threads) {
        pthread_key_create(&up.upt_gil_key, NULL);
        up.gil_get = ok_gil_real_get;
        up.gil_release = ok_gil_real_release;
    }
    else {
        up.gil_get = gil_fake_get;
        up.gil_release = gil_fake_release;
    }
}

/* BAD: the poll() error path returns between UWSGI_RELEASE_GIL and
 * UWSGI_GET_GIL, leaving the GIL released. */
static int
bad_wait_readable(int fd, int timeout_ms)
{
    struct pollfd pfd;
    int ret;

    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;

    UWSGI_RELEASE_GIL
    ret = poll(&pfd, 1, timeout_ms);
    if (ret < 0)
        return -1;
    UWSGI_GET_GIL

    if (ret == 0) {
        PyErr_SetString(PyExc_TimeoutError, "timed out waiting for input");
        return -1;
    }
    return (pfd.revents & POLLIN) ? 1 : 0;
}

/* OK: same wait, every path re-takes the GIL before returning or raising. */
static int
ok_wait_readable(int fd, int timeout_ms)
{
    struct pollfd pfd;
    int ret;

    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;

    UWSGI_RELEASE_GIL
    ret = poll(&pfd, 1, timeout_ms);
    UWSGI_GET_GIL

    if (ret < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (ret == 0) {
        PyErr_SetString(PyExc_TimeoutError, "timed out waiting for input");
        return -1;
    }
    return (pfd.revents & POLLIN) ? 1 : 0;
}

/* BAD: the error label raises (PyErr_SetFromErrno) before UWSGI_GET_GIL. */
static PyObject *
bad_wsgi_input_read(PyObject *self, PyObject *args)
{
    Py_ssize_t len = 4096;
    PyObject *buf;
    char *p;
    ssize_t n;

    if (!PyArg_ParseTuple(args, "|n:read", &len))
        return NULL;
    buf = PyBytes_FromStringAndSize(NULL, len);
    if (buf == NULL)
        return NULL;
    p = PyBytes_AS_STRING(buf);

    UWSGI_RELEASE_GIL
    n = read(0, p, (size_t)len);
    if (n < 0)
        goto error;
    UWSGI_GET_GIL

    if (_PyBytes_Resize(&buf, n) < 0)
        return NULL;
    return buf;

error:
    PyErr_SetFromErrno(PyExc_OSError);
    UWSGI_GET_GIL
    Py_DECREF(buf);
    return NULL;
}

/* OK: the error label re-takes the GIL first, then raises. */
static PyObject *
ok_wsgi_input_read(PyObject *self, PyObject *args)
{
    Py_ssize_t len = 4096;
    PyObject *buf;
    char *p;
    ssize_t n;

    if (!PyArg_ParseTuple(args, "|n:read", &len))
        return NULL;
    buf = PyBytes_FromStringAndSize(NULL, len);
    if (buf == NULL)
        return NULL;
    p = PyBytes_AS_STRING(buf);

    UWSGI_RELEASE_GIL
    n = read(0, p, (size_t)len);
    if (n < 0)
        goto error;
    UWSGI_GET_GIL

    if (_PyBytes_Resize(&buf, n) < 0)
        return NULL;
    return buf;

error:
    UWSGI_GET_GIL
    PyErr_SetFromErrno(PyExc_OSError);
    Py_DECREF(buf);
    return NULL;
}

/* BAD: only the finite-timeout branch releases; with timeout <= 0 poll()
 * waits forever with the GIL held. */
static int
bad_wait_input(int fd, int timeout)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
    int ret;

    if (timeout > 0) {
        UWSGI_RELEASE_GIL
        ret = poll(&pfd, 1, timeout * 1000);
        UWSGI_GET_GIL
    }
    else {
        ret = poll(&pfd, 1, -1);
    }
    if (ret < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return ret;
}

/* OK: EINTR retry loop; each iteration releases around poll() and re-takes
 * the GIL before checking signals or leaving. */
static int
ok_wait_input_loop(int fd, int timeout)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
    int ret;

    for (;;) {
        UWSGI_RELEASE_GIL
        ret = poll(&pfd, 1, timeout > 0 ? timeout * 1000 : -1);
        UWSGI_GET_GIL
        if (ret < 0 && errno == EINTR) {
            if (PyErr_CheckSignals() < 0)
                return -1;
            continue;
        }
        break;
    }
    if (ret < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return ret;
}

/* BAD: Py_DECREF of the chunk happens after UWSGI_RELEASE_GIL. */
static int
bad_write_chunk(int fd, PyObject *chunk)
{
    PyObject *bytes;
    const char *p;
    Py_ssize_t len;
    ssize_t w;

    bytes = PyObject_Bytes(chunk);
    if (bytes == NULL)
        return -1;
    p = PyBytes_AS_STRING(bytes);
    len = PyBytes_GET_SIZE(bytes);

    UWSGI_RELEASE_GIL
    w = write(fd, p, (size_t)len);
    Py_DECREF(bytes);
    UWSGI_GET_GIL

    if (w < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/* OK: Py_DECREF moved after UWSGI_GET_GIL. */
static int
ok_write_chunk(int fd, PyObject *chunk)
{
    PyObject *bytes;
    const char *p;
    Py_ssize_t len;
    ssize_t w;

    bytes = PyObject_Bytes(chunk);
    if (bytes == NULL)
        return -1;
    p = PyBytes_AS_STRING(bytes);
    len = PyBytes_GET_SIZE(bytes);

    UWSGI_RELEASE_GIL
    w = write(fd, p, (size_t)len);
    UWSGI_GET_GIL
    Py_DECREF(bytes);

    if (w < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static PyObject *
py_uwsgi_wait_fd_read(PyObject *self, PyObject *args)
{
    int fd, timeout = 0, r;

    if (!PyArg_ParseTuple(args, "i|i:wait_fd_read", &fd, &timeout))
        return NULL;
    r = ok_wait_input_loop(fd, timeout);
    if (r < 0)
        return NULL;
    if (ok_wait_readable(fd, timeout) < 0)
        return NULL;
    return PyBool_FromLong(r);
}

static PyObject *
py_uwsgi_read_chunks(PyObject *self, PyObject *args)
{
    int fd, timeout = 0;
    PyObject *chunk;

    if (!PyArg_ParseTuple(args, "iO|i:read_chunks", &fd, &chunk, &timeout))
        return NULL;
    if (bad_wait_readable(fd, timeout) < 0 || bad_wait_input(fd, timeout) < 0)
        return NULL;
    if (bad_write_chunk(fd, chunk) < 0 || ok_write_chunk(fd, chunk) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef uwsgi_methods[] = {
    {"wait_fd_read", py_uwsgi_wait_fd_read, METH_VARARGS, NULL},
    {"read_chunks", py_uwsgi_read_chunks, METH_VARARGS, NULL},
    {"input_read", bad_wsgi_input_read, METH_VARARGS, NULL},
    {"input_read_fixed", ok_wsgi_input_read, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
