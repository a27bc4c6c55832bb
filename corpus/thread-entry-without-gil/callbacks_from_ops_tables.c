// Callbacks that reach a library from a project's own tables. A reader keeps a pointer to one of two static ops
// tables and hands the table's fields to libarchive one by one (`archive_read_set_read_callback(a, ops->read)`):
// each field may hold whatever the run stores there. And SQLite keeps a VFS and the file methods its xOpen hands
// back (`p->base.pMethods = &py_io_methods`): the file methods are registered with the VFS. Later calls made with
// the GIL released run them. The declarations stand in for <archive.h> and <sqlite3.h>.
#include <Python.h>
#include <unistd.h>

struct archive;
typedef long archive_read_callback(struct archive *, void *client, const void **buffer);
typedef int archive_close_callback(struct archive *, void *client);
struct archive *archive_read_new(void);
int archive_read_set_read_callback(struct archive *, archive_read_callback *);
int archive_read_set_close_callback(struct archive *, archive_close_callback *);
int archive_read_set_callback_data(struct archive *, void *);
int archive_read_open1(struct archive *);

struct source_ops {
    const char *name;
    archive_read_callback *read;
    archive_close_callback *close;
};

typedef struct { PyObject_HEAD struct archive *a; const struct source_ops *ops; PyObject *file; int fd; char buf[4096]; } Reader;

// Read from a Python file object: libarchive calls it from archive_read_open1() with the GIL released.
static long bad_pyfile_read(struct archive *a, void *client, const void **buffer)
{
    Reader *self = client;
    PyObject *data = PyObject_CallMethod(self->file, "read", "n", (Py_ssize_t)sizeof(self->buf));   // expect-error{{handed to archive_read_set_read_callback() at callbacks_from_ops_tables.c:83, then called back by archive_read_open1() at callbacks_from_ops_tables.c:96}} [thread-entry-without-gil]
    long n;
    (void)a;
    if (data == NULL)
        return -1;
    n = (long)PyBytes_GET_SIZE(data);
    memcpy(self->buf, PyBytes_AS_STRING(data), (size_t)n);
    Py_DECREF(data);
    *buffer = self->buf;
    return n;
}

// Closes the Python file, taking the GIL first.
static int ok_pyfile_close(struct archive *a, void *client)
{
    Reader *self = client;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(self->file, "close", NULL);
    (void)a;
    Py_XDECREF(r);
    PyGILState_Release(st);
    return 0;
}

// The other table's functions are plain C.
static long ok_fd_read(struct archive *a, void *client, const void **buffer)
{
    Reader *self = client;
    (void)a;
    *buffer = self->buf;
    return (long)read(self->fd, self->buf, sizeof(self->buf));
}

static int ok_fd_close(struct archive *a, void *client)
{
    Reader *self = client;
    (void)a;
    return close(self->fd);
}

static const struct source_ops pyfile_ops = { "pyfile", bad_pyfile_read, ok_pyfile_close };
static const struct source_ops fd_ops = { .name = "fd", .read = ok_fd_read, .close = ok_fd_close };

static int Reader_init(Reader *self, PyObject *args, PyObject *kwds)
{
    self->ops = self->file != NULL ? &pyfile_ops : &fd_ops;
    self->a = archive_read_new();
    return self->a == NULL ? -1 : 0;
}

static int Reader_install(Reader *self)
{
    const struct source_ops *ops = self->ops;
    if (archive_read_set_read_callback(self->a, ops->read) != 0)
        return -1;
    if (archive_read_set_close_callback(self->a, ops->close) != 0)
        return -1;
    return archive_read_set_callback_data(self->a, self);
}

static PyObject *Reader_open(Reader *self, PyObject *noargs)
{
    int r;
    if (Reader_install(self) < 0)
        return PyErr_Format(PyExc_OSError, "cannot install the %s callbacks", self->ops->name);
    Py_BEGIN_ALLOW_THREADS
    r = archive_read_open1(self->a);
    Py_END_ALLOW_THREADS
    if (r != 0)
        return PyErr_Format(PyExc_OSError, "open failed");
    Py_RETURN_NONE;
}

/* ---- SQLite: a VFS whose xOpen hands back the file methods ---- */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_file { const struct sqlite3_io_methods *pMethods; } sqlite3_file;
typedef struct sqlite3_io_methods {
    int iVersion;
    int (*xClose)(sqlite3_file *);
    int (*xWrite)(sqlite3_file *, const void *, int iAmt, long long iOfst);
} sqlite3_io_methods;
typedef struct sqlite3_vfs {
    int iVersion;
    int szOsFile;
    const char *zName;
    void *pAppData;
    int (*xOpen)(struct sqlite3_vfs *, const char *zName, sqlite3_file *, int flags, int *pOutFlags);
} sqlite3_vfs;
int sqlite3_vfs_register(sqlite3_vfs *, int makeDflt);
int sqlite3_open_v2(const char *filename, sqlite3 **ppDb, int flags, const char *zVfs);
int sqlite3_exec(sqlite3 *, const char *sql, int (*cb)(void *, int, char **, char **), void *, char **errmsg);

typedef struct { sqlite3_file base; PyObject *file; } PyFile;

// A file method, reached through the file xOpen fills in: SQLite calls it from sqlite3_exec() with the GIL
// released.
static int bad_py_write(sqlite3_file *f, const void *buf, int n, long long offset)
{
    PyFile *p = (PyFile *)f;
    PyObject *r = PyObject_CallMethod(p->file, "write", "y#L", buf, (Py_ssize_t)n, offset);   // expect-error{{handed to sqlite3_vfs_register() at callbacks_from_ops_tables.c:163}} [thread-entry-without-gil]
    if (r == NULL)
        return 10;
    Py_DECREF(r);
    return 0;
}

// Takes the GIL to close the Python file.
static int ok_py_close(sqlite3_file *f)
{
    PyFile *p = (PyFile *)f;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_CLEAR(p->file);
    PyGILState_Release(st);
    return 0;
}

static const sqlite3_io_methods py_io_methods = { 1, ok_py_close, bad_py_write };

// Opening only fills in the file: no Python here.
static int ok_py_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    PyFile *p = (PyFile *)f;
    (void)name; (void)flags; (void)out;
    p->file = (PyObject *)vfs->pAppData;
    p->base.pMethods = &py_io_methods;
    return 0;
}

static sqlite3_vfs py_vfs = { 1, sizeof(PyFile), "pyvfs", NULL, ok_py_open };

static PyObject *register_vfs(PyObject *mod, PyObject *file)
{
    py_vfs.pAppData = file;
    if (sqlite3_vfs_register(&py_vfs, 0) != 0)
        return PyErr_Format(PyExc_RuntimeError, "register failed");
    Py_RETURN_NONE;
}

static PyObject *run_sql(PyObject *mod, PyObject *arg)
{
    sqlite3 *db = NULL;
    const char *sql = PyUnicode_AsUTF8(arg);
    int rc;
    if (sql == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_open_v2("data.db", &db, 6, "pyvfs");
    if (rc == 0)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(rc);
}
