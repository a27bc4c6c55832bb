/*
 * blocking_syscalls.c -- "netutil" extension module: sockets, pipes,
 * subprocesses, lock files and a native producer thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

struct producer {
    sem_t ready;
    pthread_t thread;
    PyObject *factory; /* owned */
    PyObject *result;  /* owned, handed over through `ready` */
};

static struct producer g_prod;

/* Producer thread: builds the value with the GIL, then posts the semaphore. */
static void *producer_main(void *arg)
{
    struct producer *p = arg;
    PyGILState_STATE st = PyGILState_Ensure();
    p->result = PyObject_CallNoArgs(p->factory);
    if (p->result == NULL)
        PyErr_Print();
    PyGILState_Release(st);
    sem_post(&p->ready);
    return NULL;
}

/* Called with the GIL held by the module's start_producer(). */
int producer_start(PyObject *factory)
{
    if (sem_init(&g_prod.ready, 0, 0) != 0)
        return -1;
    Py_INCREF(factory);
    Py_XSETREF(g_prod.factory, factory);
    if (pthread_create(&g_prod.thread, NULL, producer_main, &g_prod) != 0)
        return -1;
    pthread_detach(g_prod.thread);
    return 0;
}

// BAD: blocking-with-gil recv(MSG_WAITALL) waits for the peer while holding the GIL
static PyObject *bad_net_recv_exact(PyObject *self, PyObject *args)
{
    int fd;
    Py_ssize_t n;
    (void)self;
    if (!PyArg_ParseTuple(args, "in", &fd, &n))
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;

    ssize_t got = recv(fd, PyBytes_AS_STRING(out), (size_t)n, MSG_WAITALL);
    if (got < 0) {
        int err = errno;
        Py_DECREF(out);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (got < n && _PyBytes_Resize(&out, (Py_ssize_t)got) < 0)
        return NULL;
    return out;
}

// OK: MSG_DONTWAIT makes recv() return EAGAIN immediately instead of blocking with the GIL held
static PyObject *ok_net_recv_available(PyObject *self, PyObject *args)
{
    int fd;
    Py_ssize_t n;
    (void)self;
    if (!PyArg_ParseTuple(args, "in", &fd, &n))
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;

    ssize_t got = recv(fd, PyBytes_AS_STRING(out), (size_t)n, MSG_DONTWAIT);
    if (got < 0) {
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK)
            got = 0;
        else {
            Py_DECREF(out);
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    if (got < n && _PyBytes_Resize(&out, (Py_ssize_t)got) < 0)
        return NULL;
    return out;
}

// BAD: blocking-with-gil poll() with an infinite timeout while holding the GIL
static PyObject *bad_net_wait_readable(PyObject *self, PyObject *args)
{
    int fd;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n;
    do {
        n = poll(&pfd, 1, -1);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBool_FromLong((pfd.revents & (POLLIN | POLLHUP)) != 0);
}

// OK: poll() with a zero timeout only samples readiness and never blocks
static PyObject *ok_net_is_readable(PyObject *self, PyObject *args)
{
    int fd;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, 0);
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBool_FromLong(n > 0 && (pfd.revents & (POLLIN | POLLHUP)) != 0);
}

// OK: infinite poll() runs with the GIL released; EINTR re-takes the GIL to run signal handlers
static PyObject *ok_net_wait_readable(PyObject *self, PyObject *args)
{
    int fd;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n, err;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        n = poll(&pfd, 1, -1);
        err = errno;
        Py_END_ALLOW_THREADS
        if (n >= 0)
            break;
        if (err != EINTR) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    return PyBool_FromLong((pfd.revents & (POLLIN | POLLHUP)) != 0);
}

// BAD: blocking-with-gil fread() from a popen() pipe and pclose() wait for the git child while holding the GIL
static PyObject *bad_vcs_head(PyObject *self, PyObject *args)
{
    const char *repo;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &repo))
        return NULL;
    if (strchr(repo, '\'') != NULL) {
        PyErr_SetString(PyExc_ValueError, "unsupported path");
        return NULL;
    }

    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "git -C '%s' rev-parse HEAD 2>/dev/null", repo);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return PyErr_SetFromErrno(PyExc_OSError);

    char buf[128];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    int status = pclose(p);
    if (status != 0 || n < 40) {
        PyErr_Format(PyExc_RuntimeError, "git rev-parse failed for %s", repo);
        return NULL;
    }
    return PyUnicode_FromStringAndSize(buf, 40);
}

// OK: blocking read()/sleep() happen only in the forked child; the parent writes and waits with the GIL released
static PyObject *ok_spawn_delayed(PyObject *self, PyObject *args)
{
    const char *prog;
    unsigned int delay;
    (void)self;
    if (!PyArg_ParseTuple(args, "sI", &prog, &delay))
        return NULL;

    int sync_pipe[2];
    if (pipe(sync_pipe) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);

    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(sync_pipe[0]);
        close(sync_pipe[1]);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (pid == 0) {
        /* child: single-threaded copy, only async-signal-safe calls until exec */
        char go;
        close(sync_pipe[1]);
        if (read(sync_pipe[0], &go, 1) != 1)
            _exit(126);
        if (delay > 0)
            sleep(delay);
        execlp(prog, prog, (char *)NULL);
        _exit(127);
    }

    int status = 0;
    pid_t r;
    close(sync_pipe[0]);
    Py_BEGIN_ALLOW_THREADS
    (void)!write(sync_pipe[1], "g", 1);
    close(sync_pipe[1]);
    do {
        r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

// BAD: blocking-with-gil sem_wait() for a producer thread that itself needs the GIL to produce the value
static PyObject *bad_producer_get(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    while (sem_wait(&g_prod.ready) != 0) {
        if (errno != EINTR)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *r = g_prod.result;
    g_prod.result = NULL;
    if (r == NULL)
        Py_RETURN_NONE;
    return r;
}

// OK: sem_trywait() never blocks; returns None when the producer has not finished yet
static PyObject *ok_producer_poll(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    if (sem_trywait(&g_prod.ready) != 0) {
        if (errno == EAGAIN || errno == EINTR)
            Py_RETURN_NONE;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *r = g_prod.result;
    g_prod.result = NULL;
    if (r == NULL)
        Py_RETURN_NONE;
    return r;
}

// BAD: blocking-with-gil lock-file retry loop sleeps with usleep() while holding the GIL
static PyObject *bad_lockfile_acquire(PyObject *self, PyObject *args)
{
    const char *path;
    double timeout;
    (void)self;
    if (!PyArg_ParseTuple(args, "sd", &path, &timeout))
        return NULL;

    double waited = 0.0;
    int fd;
    for (;;) {
        fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0)
            break;
        if (errno != EEXIST)
            return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        if (waited >= timeout) {
            PyErr_Format(PyExc_TimeoutError, "lock %s is held", path);
            return NULL;
        }
        usleep(100 * 1000);
        waited += 0.1;
    }
    dprintf(fd, "%ld\n", (long)getpid());
    return PyLong_FromLong(fd);
}

// OK: same retry loop, but each 100 ms sleep is done with the GIL released and signals are checked
static PyObject *ok_lockfile_acquire(PyObject *self, PyObject *args)
{
    const char *path;
    double timeout;
    (void)self;
    if (!PyArg_ParseTuple(args, "sd", &path, &timeout))
        return NULL;

    double waited = 0.0;
    int fd;
    for (;;) {
        fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0)
            break;
        if (errno != EEXIST)
            return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        if (waited >= timeout) {
            PyErr_Format(PyExc_TimeoutError, "lock %s is held", path);
            return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        usleep(100 * 1000);
        Py_END_ALLOW_THREADS
        waited += 0.1;
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    dprintf(fd, "%ld\n", (long)getpid());
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(fd);
}

// OK: the fd is switched to O_NONBLOCK first, so read() with the GIL held stops at EAGAIN instead of blocking
static PyObject *ok_drain_fd(PyObject *self, PyObject *args)
{
    int fd;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;

    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);

    PyObject *chunks = PyList_New(0);
    if (chunks == NULL)
        goto restore;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            PyObject *b = PyBytes_FromStringAndSize(buf, n);
            if (b == NULL || PyList_Append(chunks, b) < 0) {
                Py_XDECREF(b);
                Py_CLEAR(chunks);
                break;
            }
            Py_DECREF(b);
            continue;
        }
        if (n == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        PyErr_SetFromErrno(PyExc_OSError);
        Py_CLEAR(chunks);
        break;
    }
restore:
    fcntl(fd, F_SETFL, flags);
    return chunks;
}

static PyMethodDef netutil_methods[] = {
    {"recv_exact", bad_net_recv_exact, METH_VARARGS, NULL},
    {"recv_available", ok_net_recv_available, METH_VARARGS, NULL},
    {"wait_readable_v1", bad_net_wait_readable, METH_VARARGS, NULL},
    {"wait_readable", ok_net_wait_readable, METH_VARARGS, NULL},
    {"is_readable", ok_net_is_readable, METH_VARARGS, NULL},
    {"vcs_head", bad_vcs_head, METH_VARARGS, NULL},
    {"spawn_delayed", ok_spawn_delayed, METH_VARARGS, NULL},
    {"producer_get", bad_producer_get, METH_NOARGS, NULL},
    {"producer_poll", ok_producer_poll, METH_NOARGS, NULL},
    {"lock_v1", bad_lockfile_acquire, METH_VARARGS, NULL},
    {"lock", ok_lockfile_acquire, METH_VARARGS, NULL},
    {"drain_fd", ok_drain_fd, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef netutil_module = {PyModuleDef_HEAD_INIT, "netutil", NULL, -1, netutil_methods,
                                            NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_netutil(void)
{
    return PyModule_Create(&netutil_module);
}
