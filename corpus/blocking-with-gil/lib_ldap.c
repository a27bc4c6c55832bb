// LDAP operations that wait for the directory server (rules/libs/ldap.yml) made while holding the GIL, and the
// asynchronous requests, which return a message id at once. The prototypes are declared here.
#include <Python.h>
#include <sys/time.h>

typedef struct ldap LDAP;
typedef struct ldapmsg LDAPMessage;
typedef struct ldapcontrol LDAPControl;
int ldap_initialize(LDAP **ld, const char *uri);
int ldap_simple_bind_s(LDAP *ld, const char *who, const char *passwd);
int ldap_search_ext(LDAP *ld, const char *base, int scope, const char *filter, char **attrs, int attrsonly,
                    LDAPControl **server, LDAPControl **client, struct timeval *timeout, int sizelimit, int *msgid);
int ldap_search_ext_s(LDAP *ld, const char *base, int scope, const char *filter, char **attrs, int attrsonly,
                      LDAPControl **server, LDAPControl **client, struct timeval *timeout, int sizelimit,
                      LDAPMessage **res);
int ldap_result(LDAP *ld, int msgid, int all, struct timeval *timeout, LDAPMessage **result);
int ldap_count_entries(LDAP *ld, LDAPMessage *chain);
int ldap_msgfree(LDAPMessage *lm);
int ldap_unbind_ext_s(LDAP *ld, LDAPControl **server, LDAPControl **client);

#define LDAP_SCOPE_SUBTREE 2

typedef struct { PyObject_HEAD LDAP *ld; } Directory;

static PyObject *bad_bind(PyObject *self, PyObject *args)
{
    Directory *d = (Directory *)self;
    const char *who, *password;
    if (!PyArg_ParseTuple(args, "ss", &who, &password))
        return NULL;
    int rc = ldap_simple_bind_s(d->ld, who, password);    // expect-warning{{ldap_simple_bind_s() may block while this thread holds the GIL}} [blocking-with-gil]
    return PyLong_FromLong(rc);
}

static PyObject *bad_search(PyObject *self, PyObject *args)
{
    Directory *d = (Directory *)self;
    const char *base, *filter;
    if (!PyArg_ParseTuple(args, "ss", &base, &filter))
        return NULL;
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(d->ld, base, LDAP_SCOPE_SUBTREE, filter, NULL, 0, NULL, NULL, NULL, 0, &res);   // expect-warning{{ldap_search_ext_s() may block}} [blocking-with-gil]
    long n = rc == 0 ? ldap_count_entries(d->ld, res) : -1;
    ldap_msgfree(res);
    return PyLong_FromLong(n);
}

/* Sends the request with the GIL (it returns at once), then waits for the answer without it. */
static PyObject *ok_search_async(PyObject *self, PyObject *args)
{
    Directory *d = (Directory *)self;
    const char *base, *filter;
    if (!PyArg_ParseTuple(args, "ss", &base, &filter))
        return NULL;
    int msgid;
    if (ldap_search_ext(d->ld, base, LDAP_SCOPE_SUBTREE, filter, NULL, 0, NULL, NULL, NULL, 0, &msgid) != 0)
        return PyErr_Format(PyExc_RuntimeError, "search failed");
    LDAPMessage *res = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ldap_result(d->ld, msgid, 1, NULL, &res);
    Py_END_ALLOW_THREADS
    long n = rc > 0 ? ldap_count_entries(d->ld, res) : -1;
    ldap_msgfree(res);
    return PyLong_FromLong(n);
}

static PyObject *ok_open_close(PyObject *self, PyObject *arg)
{
    const char *uri = PyUnicode_AsUTF8(arg);
    if (uri == NULL)
        return NULL;
    LDAP *ld = NULL;
    if (ldap_initialize(&ld, uri) != 0)             /* does not connect */
        return PyErr_Format(PyExc_ValueError, "bad URI");
    Py_BEGIN_ALLOW_THREADS
    ldap_unbind_ext_s(ld, NULL, NULL);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef Directory_methods[] = {
    {"bind", bad_bind, METH_VARARGS, NULL},
    {"search", bad_search, METH_VARARGS, NULL},
    {"search_async", ok_search_async, METH_VARARGS, NULL},
    {"open_close", ok_open_close, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
