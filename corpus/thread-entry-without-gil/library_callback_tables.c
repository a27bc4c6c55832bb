// Tables of callbacks a library keeps: a custom object-database backend (libgit2's git_odb_backend), filled in
// by one function, handed to the library by another, and run by the library from a third function's call made
// with the GIL released (pygit2 1.20.1). The rules say libgit2 keeps such backends (`callback-tables:`) and which
// calls read objects through them (`runs-callbacks:`). The declarations stand in for <git2/sys/odb_backend.h>.
#include <Python.h>
#include <stdlib.h>

typedef struct git_odb git_odb;
typedef struct git_oid { unsigned char id[20]; } git_oid;
typedef struct git_revwalk git_revwalk;
typedef struct git_odb_backend git_odb_backend;
struct git_odb_backend {
    unsigned int version;
    git_odb *odb;
    int (*read)(void **, size_t *, int *, git_odb_backend *, const git_oid *);
    int (*exists)(git_odb_backend *, const git_oid *);
    void (*free)(git_odb_backend *);
};
int git_odb_add_backend(git_odb *odb, git_odb_backend *backend, int priority);
void *git_odb_backend_data_alloc(git_odb_backend *backend, size_t len);
int git_revwalk_next(git_oid *out, git_revwalk *walk);

typedef struct { git_odb_backend backend; PyObject *py_backend; } py_backend;
typedef struct { PyObject_HEAD git_odb *odb; } Odb;
typedef struct { PyObject_HEAD git_revwalk *walk; } Walker;

// Reads an object by asking the Python backend: libgit2 calls it from git_revwalk_next() below, where the GIL
// is released.
static int bad_backend_exists(git_odb_backend *be, const git_oid *oid)
{
    py_backend *self = (py_backend *)be;
    PyObject *r = PyObject_CallMethod(self->py_backend, "exists_cb", "y#", oid->id, (Py_ssize_t)20);   // expect-error{{handed to git_odb_add_backend() at library_callback_tables.c:84, then called back by git_revwalk_next() at library_callback_tables.c:94, where the GIL is released}} [thread-entry-without-gil]
    int found = r != NULL && PyObject_IsTrue(r);
    Py_XDECREF(r);
    return found;
}

// The same backend's read, written the fixed way: it takes the GIL itself. It also hands its own table back to
// the library (git_odb_backend_data_alloc), which registers nothing.
static int ok_backend_read(void **data, size_t *len, int *type, git_odb_backend *be, const git_oid *oid)
{
    py_backend *self = (py_backend *)be;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(self->py_backend, "read_cb", "y#", oid->id, (Py_ssize_t)20);
    int err = -1;
    char *bytes;
    Py_ssize_t n;
    if (r != NULL && PyBytes_AsStringAndSize(r, &bytes, &n) == 0) {
        *data = git_odb_backend_data_alloc(be, (size_t)n);
        if (*data != NULL) {
            memcpy(*data, bytes, (size_t)n);
            *len = (size_t)n;
            *type = 3;
            err = 0;
        }
    }
    Py_XDECREF(r);
    PyGILState_Release(st);
    return err;
}

// Pure C: needs no GIL wherever it runs.
static void ok_backend_free(git_odb_backend *be)
{
    free(be);
}

git_odb_backend *make_backend(PyObject *py)
{
    py_backend *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->backend.version = 1;
    self->backend.read = ok_backend_read;
    self->backend.exists = bad_backend_exists;
    self->backend.free = ok_backend_free;
    self->py_backend = py;
    return &self->backend;
}

PyObject *Odb_add_backend(Odb *self, PyObject *py)
{
    git_odb_backend *be = make_backend(py);
    if (be == NULL || git_odb_add_backend(self->odb, be, 1) != 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

PyObject *Walker_next(Walker *self)
{
    git_oid oid;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = git_revwalk_next(&oid, self->walk);
    Py_END_ALLOW_THREADS
    if (err < 0)
        return NULL;
    return PyBytes_FromStringAndSize((const char *)oid.id, 20);
}
