/* python-ldap style option handling.  OpenLDAP's ldap_set_option /
 * ldap_get_option take the library-global options mutex (and for TLS
 * options may initialise the global TLS context) when the handle is NULL;
 * on a real connection handle they only touch per-connection state. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define LDAP_DEPRECATED 0
#include <ldap.h>

typedef struct {
    PyObject_HEAD
    LDAP *ld;
    PyThreadState *_save;
    int valid;
} LDAPObject;

static PyObject *LDAPexception_class;

static PyObject *
ldap_error_from_code(int rc)
{
    PyErr_Format(LDAPexception_class ? LDAPexception_class
                                     : PyExc_RuntimeError,
                 "LDAP error %d: %s", rc, ldap_err2string(rc));
    return NULL;
}

static int
option_value_to_ptr(int option, PyObject *value, int *intval, void **ptr)
{
    const char *strval;

    switch (option) {
    case LDAP_OPT_DEBUG_LEVEL:
    case LDAP_OPT_PROTOCOL_VERSION:
    case LDAP_OPT_SIZELIMIT:
    case LDAP_OPT_TIMELIMIT:
    case LDAP_OPT_X_TLS_REQUIRE_CERT:
        *intval = (int)PyLong_AsLong(value);
        if (*intval == -1 && PyErr_Occurred())
            return -1;
        *ptr = intval;
        return 0;
    case LDAP_OPT_X_TLS_CACERTFILE:
    case LDAP_OPT_URI:
        strval = PyUnicode_AsUTF8(value);
        if (strval == NULL)
            return -1;
        *ptr = (void *)strval;
        return 0;
    default:
        PyErr_Format(PyExc_ValueError, "unknown option %d", option);
        return -1;
    }
}

/* BAD: self == NULL means "global option"; the GIL is only released for a
 * connection object, so the global (mutex-taking) call runs with the GIL. */
static int
bad_LDAP_set_option(LDAPObject *self, int option, PyObject *value)
{
    LDAP *ld;
    PyThreadState *save = NULL;
    int intval = 0, res;
    void *ptr = NULL;

    ld = self ? self->ld : NULL;

    if (option_value_to_ptr(option, value, &intval, &ptr) < 0)
        return -1;

    if (self != NULL)
        save = PyEval_SaveThread();
    res = ldap_set_option(ld, option, ptr);
    if (self != NULL)
        PyEval_RestoreThread(save);

    if (res != LDAP_OPT_SUCCESS) {
        ldap_error_from_code(res);
        return -1;
    }
    return 0;
}

/* OK: same shape, but the GIL is released exactly when the handle is NULL
 * (global options); the per-connection call is quick and stays held. */
static int
ok_LDAP_set_option(LDAPObject *self, int option, PyObject *value)
{
    LDAP *ld;
    PyThreadState *save = NULL;
    int intval = 0, res;
    void *ptr = NULL;

    ld = self ? self->ld : NULL;

    if (option_value_to_ptr(option, value, &intval, &ptr) < 0)
        return -1;

    if (ld == NULL)
        save = PyEval_SaveThread();
    res = ldap_set_option(ld, option, ptr);
    if (ld == NULL)
        PyEval_RestoreThread(save);

    if (res != LDAP_OPT_SUCCESS) {
        ldap_error_from_code(res);
        return -1;
    }
    return 0;
}

/* BAD: module-level get_option() passes a NULL handle (global mutex) while
 * holding the GIL. */
static PyObject *
bad_l_ldap_get_option(PyObject *module, PyObject *args)
{
    int option, intval = 0, res;

    if (!PyArg_ParseTuple(args, "i:get_option", &option))
        return NULL;

    res = ldap_get_option(NULL, option, &intval);
    if (res != LDAP_OPT_SUCCESS)
        return ldap_error_from_code(res);
    return PyLong_FromLong(intval);
}

/* OK: global get_option() with the GIL released around the NULL-handle
 * call. */
static PyObject *
ok_l_ldap_get_option_released(PyObject *module, PyObject *args)
{
    int option, intval = 0, res;

    if (!PyArg_ParseTuple(args, "i:get_option", &option))
        return NULL;

    Py_BEGIN_ALLOW_THREADS
    res = ldap_get_option(NULL, option, &intval);
    Py_END_ALLOW_THREADS

    if (res != LDAP_OPT_SUCCESS)
        return ldap_error_from_code(res);
    return PyLong_FromLong(intval);
}

/* OK: the handle is checked non-NULL first, so this is a per-connection
 * ldap_get_option, which is cheap and may run with the GIL held. */
static PyObject *
ok_LDAPObject_get_option(LDAPObject *self, PyObject *args)
{
    int option, intval = 0, res;

    if (!PyArg_ParseTuple(args, "i:get_option", &option))
        return NULL;
    if (self->ld == NULL || !self->valid) {
        PyErr_SetString(PyExc_RuntimeError, "LDAP connection invalid");
        return NULL;
    }

    res = ldap_get_option(self->ld, option, &intval);
    if (res != LDAP_OPT_SUCCESS)
        return ldap_error_from_code(res);
    return PyLong_FromLong(intval);
}

/* Python-visible wrappers: module-level set_option passes self == NULL. */
static PyObject *
l_ldap_set_option(PyObject *module, PyObject *args)
{
    int option;
    PyObject *value;

    if (!PyArg_ParseTuple(args, "iO:set_option", &option, &value))
        return NULL;
    if (bad_LDAP_set_option(NULL, option, value) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
l_ldap_set_option_fixed(PyObject *module, PyObject *args)
{
    int option;
    PyObject *value;

    if (!PyArg_ParseTuple(args, "iO:set_option", &option, &value))
        return NULL;
    if (ok_LDAP_set_option(NULL, option, value) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
LDAPObject_set_option(LDAPObject *self, PyObject *args)
{
    int option;
    PyObject *value;

    if (!PyArg_ParseTuple(args, "iO:set_option", &option, &value))
        return NULL;
    if (ok_LDAP_set_option(self, option, value) < 0)
        return NULL;
    if (bad_LDAP_set_option(self, option, value) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef LDAPObject_methods[] = {
    {"get_option", (PyCFunction)ok_LDAPObject_get_option, METH_VARARGS, NULL},
    {"set_option", (PyCFunction)LDAPObject_set_option, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMethodDef ldap_module_methods[] = {
    {"set_option", l_ldap_set_option, METH_VARARGS, NULL},
    {"set_option_fixed", l_ldap_set_option_fixed, METH_VARARGS, NULL},
    {"get_option", bad_l_ldap_get_option, METH_VARARGS, NULL},
    {"get_option_released", ok_l_ldap_get_option_released, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
