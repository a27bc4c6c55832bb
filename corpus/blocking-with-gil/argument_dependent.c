// Calls that block only for some arguments (rules: `blocks-when:` / `blocks-unless:`): a non-blocking flag
// (MSG_DONTWAIT, WNOHANG, NI_NUMERICHOST|NI_NUMERICSERV, a zero poll timeout) makes them return at once; libldap's
// option calls take its global lock only for the global options (a NULL handle), as python-ldap 3.2.0's
// module-level set_option did with the GIL held.
#include <Python.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netdb.h>
#include <poll.h>

typedef struct ldap LDAP;
int ldap_set_option(LDAP *ld, int option, const void *invalue);
#define LDAP_OPT_NETWORK_TIMEOUT 0x5005

typedef struct { PyObject_HEAD LDAP *ldap; PyThreadState *save; } Connection;

static PyObject *bad_recv_blocking(PyObject *self, PyObject *arg)
{
    char buf[512];
    int fd = (int)PyLong_AsLong(arg);
    ssize_t n = recv(fd, buf, sizeof buf, 0);                     // expect-warning{{recv() may block while this thread holds the GIL}} [blocking-with-gil]
    return PyBytes_FromStringAndSize(buf, n < 0 ? 0 : n);
}

static PyObject *ok_recv_dontwait(PyObject *self, PyObject *arg)
{
    char buf[512];
    int fd = (int)PyLong_AsLong(arg);
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
    return PyBytes_FromStringAndSize(buf, n < 0 ? 0 : n);
}

static PyObject *ok_reap_children(PyObject *self, PyObject *unused)
{
    int status, reaped = 0;
    while (waitpid(-1, &status, WNOHANG) > 0)
        reaped++;
    return PyLong_FromLong(reaped);
}

static PyObject *bad_wait_child(PyObject *self, PyObject *arg)
{
    int status;
    pid_t pid = (pid_t)PyLong_AsLong(arg);
    if (waitpid(pid, &status, 0) < 0)                             // expect-warning{{waitpid() may block}} [blocking-with-gil]
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(status);
}

static PyObject *ok_numeric_name(PyObject *self, PyObject *unused)
{
    struct sockaddr_storage ss = {0};
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo((struct sockaddr *)&ss, sizeof ss, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        Py_RETURN_NONE;
    return Py_BuildValue("ss", host, serv);
}

static PyObject *bad_reverse_lookup(PyObject *self, PyObject *unused)
{
    struct sockaddr_storage ss = {0};
    char host[NI_MAXHOST];
    if (getnameinfo((struct sockaddr *)&ss, sizeof ss, host, sizeof host, NULL, 0, NI_NAMEREQD) != 0)  // expect-warning{{getnameinfo() may block}} [blocking-with-gil]
        Py_RETURN_NONE;
    return PyUnicode_FromString(host);
}

// With the GIL held for the whole helper, the NULL path is reported inside it.
static PyObject *bad_global_option(PyObject *self, PyObject *arg)
{
    LDAP *ld = self == NULL ? NULL : ((Connection *)self)->ldap;
    struct timeval tv = { 5, 0 };
    if (arg == Py_None)
        ld = NULL;
    return PyLong_FromLong(ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv));   // expect-warning{{ldap_set_option() (it blocks when 'ld' == NULL, as on this path) may block while this thread holds the GIL}} [blocking-with-gil]
}

static PyObject *ok_poll_now(PyObject *self, PyObject *arg)
{
    struct pollfd p = { (int)PyLong_AsLong(arg), POLLIN, 0 };
    return PyBool_FromLong(poll(&p, 1, 0) > 0);
}

// Called with self NULL for the module-level function: the global options, with the GIL held on that path
// (reported at that call, through the helper's summary).
static int set_timeout(Connection *self, const struct timeval *tv)
{
    LDAP *ld = self ? self->ldap : NULL;
    int res;
    if (self)
        self->save = PyEval_SaveThread();
    res = ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, tv);       // the helper's callers hold the GIL or not
    if (self)
        PyEval_RestoreThread(self->save);
    return res;
}

// On a connection handle the option call only writes the handle: fine with the GIL held.
static PyObject *ok_connection_option(PyObject *op, PyObject *unused)
{
    Connection *self = (Connection *)op;
    struct timeval tv = { 5, 0 };
    return PyLong_FromLong(ldap_set_option(self->ldap, LDAP_OPT_NETWORK_TIMEOUT, &tv));
}

static PyObject *module_set_timeout(PyObject *module, PyObject *unused)
{
    struct timeval tv = { 5, 0 };
    return PyLong_FromLong(set_timeout(NULL, &tv));     // expect-warning{{set_timeout() (summary: it calls ldap_set_option()) may block while this thread holds the GIL}} [blocking-with-gil]
}

static PyMethodDef methods[] = {
    {"bad_recv_blocking", bad_recv_blocking, METH_O, NULL},
    {"ok_recv_dontwait", ok_recv_dontwait, METH_O, NULL},
    {"ok_reap_children", ok_reap_children, METH_NOARGS, NULL},
    {"bad_wait_child", bad_wait_child, METH_O, NULL},
    {"ok_numeric_name", ok_numeric_name, METH_NOARGS, NULL},
    {"bad_reverse_lookup", bad_reverse_lookup, METH_NOARGS, NULL},
    {"ok_poll_now", ok_poll_now, METH_O, NULL},
    {"bad_global_option", bad_global_option, METH_O, NULL},
    {"ok_connection_option", ok_connection_option, METH_NOARGS, NULL},
    {"module_set_timeout", module_set_timeout, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
