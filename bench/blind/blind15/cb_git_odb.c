/* A libgit2 object-database backend implemented by a Python object.  The
 * backend's function-pointer fields are filled in and handed to libgit2 with
 * git_odb_add_backend(); Odb.read()/Odb.__contains__ then call
 * git_odb_read()/git_odb_exists() with the GIL released, so the backend
 * callbacks run without the GIL. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <git2.h>
#include <git2/sys/odb_backend.h>

struct pybackend {
    git_odb_backend backend;
    PyObject *py;            /* Python implementation */
};

typedef struct {
    PyObject_HEAD
    git_odb *odb;
} OdbObject;

/* BAD: read callback calls the Python backend without taking the GIL. */
static int
bad_pybackend_read(void **out, size_t *len, git_object_t *type,
                   git_odb_backend *_be, const git_oid *oid)
{
    struct pybackend *be = (struct pybackend *)_be;
    PyObject *res;
    const char *buf;
    Py_ssize_t n;
    int t, err = GIT_ERROR;

    res = PyObject_CallMethod(be->py, "read_cb", "y#",
                              (const char *)oid->id, (Py_ssize_t)GIT_OID_RAWSZ);
    if (res == NULL)
        return GIT_EUSER;
    if (!PyArg_ParseTuple(res, "iy#", &t, &buf, &n))
        goto done;
    *out = git_odb_backend_data_alloc(_be, (size_t)n);
    if (*out == NULL)
        goto done;
    memcpy(*out, buf, (size_t)n);
    *len = (size_t)n;
    *type = (git_object_t)t;
    err = 0;
done:
    Py_DECREF(res);
    return err;
}

/* OK: exists callback takes the GIL before calling the Python backend. */
static int
ok_pybackend_exists(git_odb_backend *_be, const git_oid *oid)
{
    struct pybackend *be = (struct pybackend *)_be;
    PyGILState_STATE gs;
    PyObject *res;
    int r;

    gs = PyGILState_Ensure();
    res = PyObject_CallMethod(be->py, "exists_cb", "y#",
                              (const char *)oid->id, (Py_ssize_t)GIT_OID_RAWSZ);
    if (res == NULL) {
        PyErr_Clear();
        r = 0;
    }
    else {
        r = PyObject_IsTrue(res) == 1;
        Py_DECREF(res);
    }
    PyGILState_Release(gs);
    return r;
}

static void
pybackend_free(git_odb_backend *_be)
{
    struct pybackend *be = (struct pybackend *)_be;
    PyGILState_STATE gs = PyGILState_Ensure();

    Py_CLEAR(be->py);
    PyGILState_Release(gs);
    free(be);
}

static PyObject *
Odb_add_backend(OdbObject *self, PyObject *args)
{
    PyObject *py;
    int priority = 1, err;
    struct pybackend *be;

    if (!PyArg_ParseTuple(args, "O|i:add_backend", &py, &priority))
        return NULL;
    be = calloc(1, sizeof(*be));
    if (be == NULL)
        return PyErr_NoMemory();
    be->backend.version = GIT_ODB_BACKEND_VERSION;
    be->backend.read = bad_pybackend_read;
    be->backend.exists = ok_pybackend_exists;
    be->backend.free = pybackend_free;
    Py_INCREF(py);
    be->py = py;

    err = git_odb_add_backend(self->odb, &be->backend, priority);
    if (err < 0) {
        Py_DECREF(py);
        free(be);
        PyErr_SetString(PyExc_RuntimeError, "git_odb_add_backend failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* OK: lookup driven with the GIL released. */
static PyObject *
ok_Odb_read(OdbObject *self, PyObject *py_hex)
{
    const char *hex;
    git_oid oid;
    git_odb_object *obj = NULL;
    PyObject *ret;
    int err;

    hex = PyUnicode_AsUTF8(py_hex);
    if (hex == NULL)
        return NULL;
    if (git_oid_fromstr(&oid, hex) < 0) {
        PyErr_SetString(PyExc_ValueError, "bad oid");
        return NULL;
    }

    Py_BEGIN_ALLOW_THREADS
    err = git_odb_read(&obj, self->odb, &oid);
    Py_END_ALLOW_THREADS

    if (err == GIT_ENOTFOUND) {
        PyErr_SetObject(PyExc_KeyError, py_hex);
        return NULL;
    }
    if (err < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "git_odb_read failed");
        return NULL;
    }
    ret = Py_BuildValue("(iy#)", (int)git_odb_object_type(obj),
                        (const char *)git_odb_object_data(obj),
                        (Py_ssize_t)git_odb_object_size(obj));
    git_odb_object_free(obj);
    return ret;
}

/* OK: existence check driven with the GIL released. */
static int
ok_Odb_contains(OdbObject *self, PyObject *py_hex)
{
    const char *hex;
    git_oid oid;
    int r;

    hex = PyUnicode_AsUTF8(py_hex);
    if (hex == NULL)
        return -1;
    if (git_oid_fromstr(&oid, hex) < 0) {
        PyErr_SetString(PyExc_ValueError, "bad oid");
        return -1;
    }

    Py_BEGIN_ALLOW_THREADS
    r = git_odb_exists(self->odb, &oid);
    Py_END_ALLOW_THREADS

    return r;
}

static PyMethodDef Odb_methods[] = {
    {"add_backend", (PyCFunction)Odb_add_backend, METH_VARARGS, NULL},
    {"read", (PyCFunction)ok_Odb_read, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static PySequenceMethods Odb_as_sequence = {
    .sq_contains = (objobjproc)ok_Odb_contains,
};
