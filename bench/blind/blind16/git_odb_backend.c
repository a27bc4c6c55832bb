/*
 * pygit2-style custom ODB backend.  A Python object implements the
 * backend methods; a C git_odb_backend embedded in the Python object
 * forwards libgit2's calls to it.  libgit2 calls the backend from
 * git_odb_read / git_revwalk_next / git_commit_lookup, which this module
 * calls with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include <stdlib.h>

/* ---- minimal libgit2 declarations (<git2.h>) ---- */
typedef struct git_odb git_odb;
typedef struct git_odb_object git_odb_object;
typedef struct git_repository git_repository;
typedef struct git_revwalk git_revwalk;
typedef struct git_commit git_commit;
typedef struct git_odb_backend git_odb_backend;
typedef struct git_oid { unsigned char id[20]; } git_oid;
typedef enum {
    GIT_OBJECT_ANY = -2, GIT_OBJECT_INVALID = -1, GIT_OBJECT_COMMIT = 1,
    GIT_OBJECT_TREE = 2, GIT_OBJECT_BLOB = 3, GIT_OBJECT_TAG = 4
} git_object_t;
typedef int (*git_odb_foreach_cb)(const git_oid *id, void *payload);

#define GIT_OK 0
#define GIT_ERROR -1
#define GIT_ENOTFOUND -3
#define GIT_EAMBIGUOUS -5
#define GIT_ITEROVER -31
#define GIT_ODB_BACKEND_VERSION 1
#define GIT_OID_RAWSZ 20
#define GIT_OID_HEXSZ 40

struct git_odb_backend {
    unsigned int version;
    git_odb *odb;
    int (*read)(void **, size_t *, git_object_t *, git_odb_backend *, const git_oid *);
    int (*read_prefix)(git_oid *, void **, size_t *, git_object_t *,
                       git_odb_backend *, const git_oid *, size_t);
    int (*read_header)(size_t *, git_object_t *, git_odb_backend *, const git_oid *);
    int (*write)(git_odb_backend *, const git_oid *, const void *, size_t, git_object_t);
    void *writestream;
    void *readstream;
    int (*exists)(git_odb_backend *, const git_oid *);
    int (*exists_prefix)(git_oid *, git_odb_backend *, const git_oid *, size_t);
    int (*refresh)(git_odb_backend *);
    int (*foreach)(git_odb_backend *, git_odb_foreach_cb cb, void *payload);
    void *writepack;
    int (*writemidx)(git_odb_backend *);
    int (*freshen)(git_odb_backend *, const git_oid *);
    void (*free)(git_odb_backend *);
};

int git_odb_init_backend(git_odb_backend *backend, unsigned int version);
void *git_odb_backend_data_alloc(git_odb_backend *backend, size_t len);
void git_odb_backend_data_free(git_odb_backend *backend, void *data);
int git_odb_new(git_odb **out);
int git_odb_add_backend(git_odb *odb, git_odb_backend *backend, int priority);
void git_odb_free(git_odb *db);
int git_odb_read(git_odb_object **out, git_odb *db, const git_oid *id);
int git_odb_exists(git_odb *db, const git_oid *id);
int git_odb_read_header(size_t *len_out, git_object_t *type_out, git_odb *db, const git_oid *id);
int git_odb_foreach(git_odb *db, git_odb_foreach_cb cb, void *payload);
void git_odb_object_free(git_odb_object *object);
size_t git_odb_object_size(git_odb_object *object);
const void *git_odb_object_data(git_odb_object *object);
int git_repository_wrap_odb(git_repository **out, git_odb *odb);
int git_revwalk_new(git_revwalk **out, git_repository *repo);
int git_revwalk_push(git_revwalk *walk, const git_oid *id);
int git_revwalk_next(git_oid *out, git_revwalk *walk);
void git_revwalk_free(git_revwalk *walk);
int git_commit_lookup(git_commit **commit, git_repository *repo, const git_oid *id);
void git_commit_free(git_commit *commit);
int git_oid_fmt(char *out, const git_oid *id);
int git_oid_cpy(git_oid *out, const git_oid *src);

/* ---- module objects ---- */
typedef struct {
    PyObject_HEAD
    git_odb_backend backend;      /* embedded; libgit2 gets &self->backend */
    PyObject *py_impl;            /* object with read/write/exists methods */
    int cache_hits;
} OdbBackend;

typedef struct {
    PyObject_HEAD
    git_odb *odb;
    git_repository *repo;
} Odb;

static PyObject *
oid_to_py(const git_oid *oid)
{
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_fmt(hex, oid);
    hex[GIT_OID_HEXSZ] = '\0';
    return PyUnicode_FromStringAndSize(hex, GIT_OID_HEXSZ);
}

// BAD: thread-entry-without-gil calls the Python read() method and builds objects with no PyGILState_Ensure
static int
pgit_odb_backend_read(void **ptr, size_t *sz, git_object_t *type,
                      git_odb_backend *_be, const git_oid *oid)
{
    OdbBackend *be = (OdbBackend *)((char *)_be - offsetof(OdbBackend, backend));
    PyObject *py_oid, *result;
    const char *bytes;
    Py_ssize_t len;
    int type_value;
    int err = GIT_ERROR;

    py_oid = oid_to_py(oid);
    if (py_oid == NULL)
        return GIT_ERROR;

    result = PyObject_CallMethod(be->py_impl, "read_cb", "N", py_oid);
    if (result == NULL) {
        if (PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            return GIT_ENOTFOUND;
        }
        return GIT_ERROR;
    }

    if (!PyArg_ParseTuple(result, "iy#", &type_value, &bytes, &len))
        goto done;

    *type = (git_object_t)type_value;
    *sz = (size_t)len;
    *ptr = git_odb_backend_data_alloc(_be, *sz);
    if (*ptr == NULL)
        goto done;
    memcpy(*ptr, bytes, *sz);
    err = GIT_OK;

done:
    Py_DECREF(result);
    return err;
}

// OK: all Python use is between PyGILState_Ensure and PyGILState_Release, error paths go through the release label
static int
pgit_odb_backend_read_prefix(git_oid *oid_out, void **ptr, size_t *sz,
                             git_object_t *type, git_odb_backend *_be,
                             const git_oid *short_id, size_t short_len)
{
    OdbBackend *be = (OdbBackend *)((char *)_be - offsetof(OdbBackend, backend));
    PyGILState_STATE gil;
    PyObject *py_oid = NULL, *result = NULL;
    const char *bytes, *hex;
    Py_ssize_t len, hexlen;
    int type_value;
    int err = GIT_ERROR;
    char buf[GIT_OID_HEXSZ + 1];

    git_oid_fmt(buf, short_id);
    buf[short_len < GIT_OID_HEXSZ ? short_len : GIT_OID_HEXSZ] = '\0';

    gil = PyGILState_Ensure();

    py_oid = PyUnicode_FromString(buf);
    if (py_oid == NULL)
        goto out;

    result = PyObject_CallMethod(be->py_impl, "read_prefix_cb", "O", py_oid);
    if (result == NULL) {
        if (PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            err = GIT_ENOTFOUND;
        } else {
            PyErr_WriteUnraisable(be->py_impl);
        }
        goto out;
    }

    if (!PyArg_ParseTuple(result, "s#iy#", &hex, &hexlen, &type_value, &bytes, &len)) {
        PyErr_WriteUnraisable(be->py_impl);
        goto out;
    }
    if (hexlen != GIT_OID_HEXSZ)
        goto out;

    *type = (git_object_t)type_value;
    *sz = (size_t)len;
    *ptr = git_odb_backend_data_alloc(_be, *sz);
    if (*ptr == NULL)
        goto out;
    memcpy(*ptr, bytes, *sz);
    git_oid_cpy(oid_out, short_id);
    err = GIT_OK;

out:
    Py_XDECREF(result);
    Py_XDECREF(py_oid);
    PyGILState_Release(gil);
    return err;
}

// BAD: api-without-gil builds the oid string with PyUnicode_FromStringAndSize before PyGILState_Ensure is called
static int
pgit_odb_backend_read_header(size_t *len, git_object_t *type,
                             git_odb_backend *_be, const git_oid *oid)
{
    OdbBackend *be = (OdbBackend *)((char *)_be - offsetof(OdbBackend, backend));
    PyGILState_STATE gil;
    PyObject *py_oid, *result;
    Py_ssize_t size;
    int type_value;
    int err = GIT_ERROR;
    char hex[GIT_OID_HEXSZ];

    git_oid_fmt(hex, oid);
    py_oid = PyUnicode_FromStringAndSize(hex, GIT_OID_HEXSZ);  /* GIL not held yet */
    if (py_oid == NULL)
        return GIT_ERROR;

    gil = PyGILState_Ensure();
    result = PyObject_CallMethod(be->py_impl, "read_header_cb", "N", py_oid);
    if (result == NULL) {
        PyErr_Clear();
        goto out;
    }
    if (PyArg_ParseTuple(result, "in", &type_value, &size)) {
        *type = (git_object_t)type_value;
        *len = (size_t)size;
        err = GIT_OK;
    } else {
        PyErr_Clear();
    }
    Py_DECREF(result);
out:
    PyGILState_Release(gil);
    return err;
}

// OK: takes the GIL with PyGILState_Ensure and releases it on both the error and the success return
static int
pgit_odb_backend_write(git_odb_backend *_be, const git_oid *oid,
                       const void *data, size_t sz, git_object_t typ)
{
    OdbBackend *be = (OdbBackend *)((char *)_be - offsetof(OdbBackend, backend));
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *py_oid, *result;

    py_oid = oid_to_py(oid);
    if (py_oid == NULL) {
        PyErr_WriteUnraisable(be->py_impl);
        PyGILState_Release(gil);
        return GIT_ERROR;
    }

    result = PyObject_CallMethod(be->py_impl, "write_cb", "Niy#",
                                 py_oid, (int)typ, (const char *)data, (Py_ssize_t)sz);
    if (result == NULL) {
        PyErr_WriteUnraisable(be->py_impl);
        PyGILState_Release(gil);
        return GIT_ERROR;
    }
    Py_DECREF(result);
    PyGILState_Release(gil);
    return GIT_OK;
}

// BAD: thread-entry-without-gil calls __contains__ through PySequence_Contains and Py_DECREF without the GIL
static int
pgit_odb_backend_exists(git_odb_backend *_be, const git_oid *oid)
{
    OdbBackend *be = (OdbBackend *)((char *)_be - offsetof(OdbBackend, backend));
    PyObject *py_oid;
    int r;

    py_oid = oid_to_py(oid);
    if (py_oid == NULL)
        return GIT_ERROR;
    r = PySequence_Contains(be->py_impl, py_oid);
    Py_DECREF(py_oid);
    if (r < 0) {
        PyErr_Clear();
        return 0;
    }
    return r;
}

// OK: pure C, only bumps a counter and reports not-found, no Python API
static int
pgit_odb_backend_exists_prefix(git_oid *out, git_odb_backend *_be,
                               const git_oid *short_id, size_t len)
{
    OdbBackend *be = (OdbBackend *)((char *)_be - offsetof(OdbBackend, backend));
    (void)out; (void)short_id; (void)len;
    be->cache_hits++;
    return GIT_ENOTFOUND;
}

// OK: pure C, nothing to refresh
static int
pgit_odb_backend_refresh(git_odb_backend *_be)
{
    (void)_be;
    return GIT_OK;
}

// OK: GIL held (PyGILState_Ensure) for the whole iteration; the C callback is invoked with the GIL held, which is allowed
static int
pgit_odb_backend_foreach(git_odb_backend *_be, git_odb_foreach_cb cb, void *payload)
{
    OdbBackend *be = (OdbBackend *)((char *)_be - offsetof(OdbBackend, backend));
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *iter = NULL, *item;
    int err = GIT_OK;

    iter = PyObject_GetIter(be->py_impl);
    if (iter == NULL) {
        err = GIT_ERROR;
        goto exit;
    }
    while ((item = PyIter_Next(iter)) != NULL) {
        git_oid oid;
        Py_buffer view;
        if (PyObject_GetBuffer(item, &view, PyBUF_SIMPLE) < 0) {
            Py_DECREF(item);
            err = GIT_ERROR;
            goto exit;
        }
        if (view.len == GIT_OID_RAWSZ) {
            memcpy(oid.id, view.buf, GIT_OID_RAWSZ);
            err = cb(&oid, payload);
        }
        PyBuffer_Release(&view);
        Py_DECREF(item);
        if (err != 0)
            goto exit;
    }
    if (PyErr_Occurred())
        err = GIT_ERROR;

exit:
    if (err == GIT_ERROR && PyErr_Occurred())
        PyErr_WriteUnraisable(be->py_impl);
    Py_XDECREF(iter);
    PyGILState_Release(gil);
    return err;
}

// BAD: thread-entry-without-gil drops the reference to the Python implementation with Py_CLEAR while the GIL is not held (git_odb_free is called with the GIL released)
static void
pgit_odb_backend_free(git_odb_backend *_be)
{
    OdbBackend *be = (OdbBackend *)((char *)_be - offsetof(OdbBackend, backend));
    Py_CLEAR(be->py_impl);
}

/* ---- init: fill the embedded vtable ---- */
static int
OdbBackend_init(OdbBackend *self, PyObject *args, PyObject *kwds)
{
    PyObject *impl;

    if (!PyArg_ParseTuple(args, "O", &impl))
        return -1;

    if (git_odb_init_backend(&self->backend, GIT_ODB_BACKEND_VERSION) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "git_odb_init_backend failed");
        return -1;
    }

    Py_INCREF(impl);
    Py_XSETREF(self->py_impl, impl);

    if (PyObject_HasAttrString(impl, "read_cb"))
        self->backend.read = pgit_odb_backend_read;
    if (PyObject_HasAttrString(impl, "read_prefix_cb"))
        self->backend.read_prefix = pgit_odb_backend_read_prefix;
    if (PyObject_HasAttrString(impl, "read_header_cb"))
        self->backend.read_header = pgit_odb_backend_read_header;
    if (PyObject_HasAttrString(impl, "write_cb"))
        self->backend.write = pgit_odb_backend_write;
    if (PySequence_Check(impl))
        self->backend.exists = pgit_odb_backend_exists;
    self->backend.exists_prefix = pgit_odb_backend_exists_prefix;
    self->backend.refresh = pgit_odb_backend_refresh;
    if (PyObject_HasAttrString(impl, "__iter__"))
        self->backend.foreach = pgit_odb_backend_foreach;
    self->backend.free = pgit_odb_backend_free;
    return 0;
}

/* ---- registration: hand the struct to libgit2 ---- */
static PyObject *
Odb_add_backend(Odb *self, PyObject *args)
{
    OdbBackend *backend;
    int priority;
    int err;

    if (!PyArg_ParseTuple(args, "Oi", &backend, &priority))
        return NULL;

    err = git_odb_add_backend(self->odb, &backend->backend, priority);
    if (err != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot add backend");
        return NULL;
    }
    Py_INCREF(backend);   /* libgit2 now refers to it */
    Py_RETURN_NONE;
}

/* ---- drivers: call libgit2 with the GIL released ---- */
static PyObject *
Odb_read(Odb *self, PyObject *py_hex)
{
    git_oid oid;
    git_odb_object *obj = NULL;
    Py_buffer view;
    PyObject *ret;
    int err;

    if (PyObject_GetBuffer(py_hex, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len != GIT_OID_RAWSZ) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "bad oid");
        return NULL;
    }
    memcpy(oid.id, view.buf, GIT_OID_RAWSZ);
    PyBuffer_Release(&view);

    Py_BEGIN_ALLOW_THREADS
    err = git_odb_read(&obj, self->odb, &oid);
    Py_END_ALLOW_THREADS

    if (err == GIT_ENOTFOUND) {
        PyErr_SetString(PyExc_KeyError, "object not found");
        return NULL;
    }
    if (err < 0) {
        PyErr_SetString(PyExc_RuntimeError, "git_odb_read failed");
        return NULL;
    }
    ret = PyBytes_FromStringAndSize(git_odb_object_data(obj),
                                    (Py_ssize_t)git_odb_object_size(obj));
    git_odb_object_free(obj);
    return ret;
}

static PyObject *
Odb_contains(Odb *self, PyObject *py_raw)
{
    git_oid oid;
    char *raw;
    Py_ssize_t len;
    int found;

    if (PyBytes_AsStringAndSize(py_raw, &raw, &len) < 0)
        return NULL;
    if (len != GIT_OID_RAWSZ) {
        PyErr_SetString(PyExc_ValueError, "bad oid");
        return NULL;
    }
    memcpy(oid.id, raw, GIT_OID_RAWSZ);

    Py_BEGIN_ALLOW_THREADS
    found = git_odb_exists(self->odb, &oid);
    Py_END_ALLOW_THREADS

    return PyBool_FromLong(found);
}

static PyObject *
Odb_read_header(Odb *self, PyObject *py_raw)
{
    git_oid oid;
    git_object_t type;
    size_t len;
    char *raw;
    Py_ssize_t rawlen;
    int err;

    if (PyBytes_AsStringAndSize(py_raw, &raw, &rawlen) < 0)
        return NULL;
    if (rawlen != GIT_OID_RAWSZ) {
        PyErr_SetString(PyExc_ValueError, "bad oid");
        return NULL;
    }
    memcpy(oid.id, raw, GIT_OID_RAWSZ);

    Py_BEGIN_ALLOW_THREADS
    err = git_odb_read_header(&len, &type, self->odb, &oid);
    Py_END_ALLOW_THREADS

    if (err < 0) {
        PyErr_SetString(err == GIT_ENOTFOUND ? PyExc_KeyError : PyExc_RuntimeError,
                        "read_header failed");
        return NULL;
    }
    return Py_BuildValue("(in)", (int)type, (Py_ssize_t)len);
}

// OK: pure C counter; also it is called by the foreach backend with the GIL held
static int
count_cb(const git_oid *id, void *payload)
{
    (void)id;
    ++*(size_t *)payload;
    return 0;
}

static PyObject *
Odb_count(Odb *self, PyObject *noargs)
{
    size_t n = 0;
    int err;
    PyThreadState *ts = PyEval_SaveThread();
    err = git_odb_foreach(self->odb, count_cb, &n);
    PyEval_RestoreThread(ts);
    if (err < 0) {
        PyErr_SetString(PyExc_RuntimeError, "git_odb_foreach failed");
        return NULL;
    }
    return PyLong_FromSize_t(n);
}

/* walk history: libgit2 reads every commit through the backends */
static PyObject *
Odb_walk(Odb *self, PyObject *py_raw)
{
    git_revwalk *walk = NULL;
    git_oid start, oid;
    PyThreadState *ts;
    PyObject *list = NULL, *item;
    char *raw;
    Py_ssize_t len;
    int err;

    if (PyBytes_AsStringAndSize(py_raw, &raw, &len) < 0 || len != GIT_OID_RAWSZ)
        return NULL;
    memcpy(start.id, raw, GIT_OID_RAWSZ);

    if (self->repo == NULL && git_repository_wrap_odb(&self->repo, self->odb) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "wrap odb failed");
        return NULL;
    }
    if (git_revwalk_new(&walk, self->repo) < 0 || git_revwalk_push(walk, &start) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "revwalk failed");
        goto error;
    }

    list = PyList_New(0);
    if (list == NULL)
        goto error;

    for (;;) {
        git_commit *commit = NULL;

        ts = PyEval_SaveThread();
        err = git_revwalk_next(&oid, walk);
        if (err == 0)
            err = git_commit_lookup(&commit, self->repo, &oid);
        PyEval_RestoreThread(ts);

        if (err == GIT_ITEROVER)
            break;
        if (err < 0) {
            PyErr_SetString(PyExc_RuntimeError, "walk failed");
            goto error;
        }
        git_commit_free(commit);
        item = oid_to_py(&oid);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            goto error;
        }
        Py_DECREF(item);
    }
    git_revwalk_free(walk);
    return list;

error:
    Py_XDECREF(list);
    if (walk)
        git_revwalk_free(walk);
    return NULL;
}

static void
Odb_dealloc(Odb *self)
{
    git_odb *odb = self->odb;
    self->odb = NULL;
    /* backends' free() is called from inside git_odb_free */
    Py_BEGIN_ALLOW_THREADS
    if (odb)
        git_odb_free(odb);
    Py_END_ALLOW_THREADS
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Odb_methods[] = {
    {"add_backend", (PyCFunction)Odb_add_backend, METH_VARARGS, NULL},
    {"read", (PyCFunction)Odb_read, METH_O, NULL},
    {"contains", (PyCFunction)Odb_contains, METH_O, NULL},
    {"walk", (PyCFunction)Odb_walk, METH_O, NULL},
    {"read_header", (PyCFunction)Odb_read_header, METH_O, NULL},
    {"count", (PyCFunction)Odb_count, METH_NOARGS, NULL},
    {NULL}
};

static PyTypeObject OdbBackendType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_odb.OdbBackend",
    .tp_basicsize = sizeof(OdbBackend),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_init = (initproc)OdbBackend_init,
    .tp_new = PyType_GenericNew,
};

static int
Odb_init(Odb *self, PyObject *args, PyObject *kwds)
{
    if (git_odb_new(&self->odb) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "git_odb_new failed");
        return -1;
    }
    return 0;
}

static PyTypeObject OdbType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_odb.Odb",
    .tp_basicsize = sizeof(Odb),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Odb_dealloc,
    .tp_methods = Odb_methods,
    .tp_init = (initproc)Odb_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef odbmodule = {
    PyModuleDef_HEAD_INIT, "_odb", NULL, -1, NULL
};

PyMODINIT_FUNC
PyInit__odb(void)
{
    PyObject *m;
    if (PyType_Ready(&OdbBackendType) < 0 || PyType_Ready(&OdbType) < 0)
        return NULL;
    m = PyModule_Create(&odbmodule);
    if (m == NULL)
        return NULL;
    Py_INCREF(&OdbBackendType);
    PyModule_AddObject(m, "OdbBackend", (PyObject *)&OdbBackendType);
    Py_INCREF(&OdbType);
    PyModule_AddObject(m, "Odb", (PyObject *)&OdbType);
    return m;
}
