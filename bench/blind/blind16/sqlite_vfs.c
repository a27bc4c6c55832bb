/*
 * An apsw-like SQLite VFS whose files are implemented by Python objects.
 * The sqlite3_vfs is calloc'ed and filled in one function, registered with
 * sqlite3_vfs_register() in another, and the connection object runs
 * sqlite3_open_v2()/sqlite3_step() with the GIL released, so SQLite calls
 * the VFS and io-method callbacks without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- minimal SQLite declarations (<sqlite3.h>) ---- */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef long long sqlite3_int64;
typedef const char *sqlite3_filename;
typedef struct sqlite3_file sqlite3_file;
typedef struct sqlite3_io_methods sqlite3_io_methods;
typedef struct sqlite3_vfs sqlite3_vfs;

struct sqlite3_file {
    const struct sqlite3_io_methods *pMethods;
};

struct sqlite3_io_methods {
    int iVersion;
    int (*xClose)(sqlite3_file *);
    int (*xRead)(sqlite3_file *, void *, int iAmt, sqlite3_int64 iOfst);
    int (*xWrite)(sqlite3_file *, const void *, int iAmt, sqlite3_int64 iOfst);
    int (*xTruncate)(sqlite3_file *, sqlite3_int64 size);
    int (*xSync)(sqlite3_file *, int flags);
    int (*xFileSize)(sqlite3_file *, sqlite3_int64 *pSize);
    int (*xLock)(sqlite3_file *, int);
    int (*xUnlock)(sqlite3_file *, int);
    int (*xCheckReservedLock)(sqlite3_file *, int *pResOut);
    int (*xFileControl)(sqlite3_file *, int op, void *pArg);
    int (*xSectorSize)(sqlite3_file *);
    int (*xDeviceCharacteristics)(sqlite3_file *);
};

struct sqlite3_vfs {
    int iVersion;
    int szOsFile;
    int mxPathname;
    sqlite3_vfs *pNext;
    const char *zName;
    void *pAppData;
    int (*xOpen)(sqlite3_vfs *, sqlite3_filename zName, sqlite3_file *, int flags, int *pOutFlags);
    int (*xDelete)(sqlite3_vfs *, const char *zName, int syncDir);
    int (*xAccess)(sqlite3_vfs *, const char *zName, int flags, int *pResOut);
    int (*xFullPathname)(sqlite3_vfs *, const char *zName, int nOut, char *zOut);
    void *(*xDlOpen)(sqlite3_vfs *, const char *zFilename);
    void (*xDlError)(sqlite3_vfs *, int nByte, char *zErrMsg);
    void (*(*xDlSym)(sqlite3_vfs *, void *, const char *zSymbol))(void);
    void (*xDlClose)(sqlite3_vfs *, void *);
    int (*xRandomness)(sqlite3_vfs *, int nByte, char *zOut);
    int (*xSleep)(sqlite3_vfs *, int microseconds);
    int (*xCurrentTime)(sqlite3_vfs *, double *);
    int (*xGetLastError)(sqlite3_vfs *, int, char *);
};

#define SQLITE_OK 0
#define SQLITE_ERROR 1
#define SQLITE_NOMEM 7
#define SQLITE_IOERR 10
#define SQLITE_CANTOPEN 14
#define SQLITE_NOTFOUND 12
#define SQLITE_ROW 100
#define SQLITE_DONE 101
#define SQLITE_IOERR_READ (SQLITE_IOERR | (1 << 8))
#define SQLITE_IOERR_SHORT_READ (SQLITE_IOERR | (2 << 8))
#define SQLITE_IOERR_WRITE (SQLITE_IOERR | (3 << 8))
#define SQLITE_IOERR_FSTAT (SQLITE_IOERR | (7 << 8))
#define SQLITE_IOERR_TRUNCATE (SQLITE_IOERR | (6 << 8))
#define SQLITE_IOERR_DELETE (SQLITE_IOERR | (10 << 8))
#define SQLITE_IOERR_FSYNC (SQLITE_IOERR | (4 << 8))
#define SQLITE_ACCESS_EXISTS 0
#define SQLITE_ACCESS_READWRITE 1
#define SQLITE_OPEN_READWRITE 0x00000002
#define SQLITE_OPEN_CREATE 0x00000004
#define SQLITE_OPEN_URI 0x00000040

int sqlite3_vfs_register(sqlite3_vfs *, int makeDflt);
int sqlite3_vfs_unregister(sqlite3_vfs *);
int sqlite3_open_v2(const char *filename, sqlite3 **ppDb, int flags, const char *zVfs);
int sqlite3_close_v2(sqlite3 *);
int sqlite3_prepare_v2(sqlite3 *db, const char *zSql, int nByte, sqlite3_stmt **ppStmt, const char **pzTail);
int sqlite3_step(sqlite3_stmt *);
int sqlite3_finalize(sqlite3_stmt *pStmt);
int sqlite3_column_count(sqlite3_stmt *pStmt);
const unsigned char *sqlite3_column_text(sqlite3_stmt *, int iCol);
const char *sqlite3_errmsg(sqlite3 *);

/* ---- the VFS ---- */
typedef struct {
    sqlite3_file base;          /* must be first */
    PyObject *file;             /* Python file-like object */
    int has_sync;
    int lock_level;
} PyVfsFile;

typedef struct {
    PyObject_HEAD
    sqlite3_vfs *vfs;           /* calloc'ed, pAppData == self */
    PyObject *opener;           /* callable(name, flags) -> file object */
    PyObject *urandom;          /* os.urandom */
    char *name;
    int registered;
} VFSObject;

static int pyfile_close(sqlite3_file *f);
static int pyfile_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off);
static int pyfile_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off);
static int pyfile_truncate(sqlite3_file *f, sqlite3_int64 size);
static int pyfile_sync(sqlite3_file *f, int flags);
static int pyfile_file_size(sqlite3_file *f, sqlite3_int64 *size);
static int pyfile_lock(sqlite3_file *f, int level);
static int pyfile_unlock(sqlite3_file *f, int level);
static int pyfile_check_reserved_lock(sqlite3_file *f, int *out);
static int pyfile_file_control(sqlite3_file *f, int op, void *arg);
static int pyfile_sector_size(sqlite3_file *f);
static int pyfile_device_characteristics(sqlite3_file *f);

static const sqlite3_io_methods pyvfs_io_methods = {
    .iVersion = 1,
    .xClose = pyfile_close,
    .xRead = pyfile_read,
    .xWrite = pyfile_write,
    .xTruncate = pyfile_truncate,
    .xSync = pyfile_sync,
    .xFileSize = pyfile_file_size,
    .xLock = pyfile_lock,
    .xUnlock = pyfile_unlock,
    .xCheckReservedLock = pyfile_check_reserved_lock,
    .xFileControl = pyfile_file_control,
    .xSectorSize = pyfile_sector_size,
    .xDeviceCharacteristics = pyfile_device_characteristics,
};

/* ---- sqlite3_vfs methods ---- */

// BAD: thread-entry-without-gil calls the Python opener and inspects the result (PyObject_CallFunction, PyObject_HasAttrString) without taking the GIL
static int
pyvfs_open(sqlite3_vfs *vfs, sqlite3_filename zName, sqlite3_file *f,
           int flags, int *pOutFlags)
{
    VFSObject *self = (VFSObject *)vfs->pAppData;
    PyVfsFile *p = (PyVfsFile *)f;
    PyObject *fileobj;

    memset(p, 0, sizeof(*p));
    fileobj = PyObject_CallFunction(self->opener, "zi", zName, flags);
    if (fileobj == NULL) {
        PyErr_Clear();
        return SQLITE_CANTOPEN;
    }
    p->file = fileobj;
    p->has_sync = PyObject_HasAttrString(fileobj, "flush");
    p->base.pMethods = &pyvfs_io_methods;
    if (pOutFlags)
        *pOutFlags = flags;
    return SQLITE_OK;
}

// OK: PyGILState_Ensure before calling os.remove, released on every path through the single exit
static int
pyvfs_delete(sqlite3_vfs *vfs, const char *zName, int syncDir)
{
    PyGILState_STATE gil;
    PyObject *os = NULL, *res = NULL;
    int rc = SQLITE_IOERR_DELETE;

    (void)vfs; (void)syncDir;
    gil = PyGILState_Ensure();
    os = PyImport_ImportModule("os");
    if (os == NULL)
        goto finally;
    res = PyObject_CallMethod(os, "remove", "s", zName);
    if (res == NULL) {
        if (PyErr_ExceptionMatches(PyExc_FileNotFoundError))
            rc = SQLITE_OK;
        PyErr_Clear();
        goto finally;
    }
    rc = SQLITE_OK;
finally:
    Py_XDECREF(res);
    Py_XDECREF(os);
    PyGILState_Release(gil);
    return rc;
}

// OK: pure C, uses access(2) only
static int
pyvfs_access(sqlite3_vfs *vfs, const char *zName, int flags, int *pResOut)
{
    (void)vfs;
    if (flags == SQLITE_ACCESS_READWRITE)
        *pResOut = access(zName, R_OK | W_OK) == 0;
    else
        *pResOut = access(zName, F_OK) == 0;
    return SQLITE_OK;
}

// OK: pure C string copy
static int
pyvfs_full_pathname(sqlite3_vfs *vfs, const char *zName, int nOut, char *zOut)
{
    size_t n = strlen(zName);
    (void)vfs;
    if ((int)n >= nOut)
        return SQLITE_ERROR;
    memcpy(zOut, zName, n + 1);
    return SQLITE_OK;
}

// BAD: thread-entry-without-gil calls os.urandom through PyObject_CallFunction and reads the bytes object with no GIL held
static int
pyvfs_randomness(sqlite3_vfs *vfs, int nByte, char *zOut)
{
    VFSObject *self = (VFSObject *)vfs->pAppData;
    PyObject *bytes;
    Py_ssize_t n;

    bytes = PyObject_CallFunction(self->urandom, "i", nByte);
    if (bytes == NULL) {
        PyErr_Clear();
        memset(zOut, 0, (size_t)nByte);
        return nByte;
    }
    n = PyBytes_GET_SIZE(bytes);
    if (n > nByte)
        n = nByte;
    memcpy(zOut, PyBytes_AS_STRING(bytes), (size_t)n);
    Py_DECREF(bytes);
    return (int)n;
}

// OK: pure C usleep
static int
pyvfs_sleep(sqlite3_vfs *vfs, int microseconds)
{
    (void)vfs;
    usleep((useconds_t)microseconds);
    return microseconds;
}

// OK: pure C, computes a Julian day number from time(2)
static int
pyvfs_current_time(sqlite3_vfs *vfs, double *pTime)
{
    (void)vfs;
    *pTime = (double)time(NULL) / 86400.0 + 2440587.5;
    return SQLITE_OK;
}

/* ---- sqlite3_io_methods ---- */

// OK: takes the GIL to call close() and drop the file reference
static int
pyfile_close(sqlite3_file *f)
{
    PyVfsFile *p = (PyVfsFile *)f;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *res;
    int rc = SQLITE_OK;

    if (p->file != NULL) {
        res = PyObject_CallMethod(p->file, "close", NULL);
        if (res == NULL) {
            PyErr_WriteUnraisable(p->file);
            rc = SQLITE_IOERR;
        } else {
            Py_DECREF(res);
        }
        Py_CLEAR(p->file);
    }
    PyGILState_Release(gil);
    return rc;
}

// OK: GIL held (PyGILState_Ensure) around the seek/read calls; all error gotos reach the PyGILState_Release label
static int
pyfile_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    PyVfsFile *p = (PyVfsFile *)f;
    PyGILState_STATE gil;
    PyObject *res = NULL, *data = NULL;
    Py_ssize_t got;
    int rc = SQLITE_IOERR_READ;

    gil = PyGILState_Ensure();

    res = PyObject_CallMethod(p->file, "seek", "L", off);
    if (res == NULL)
        goto error;
    Py_DECREF(res);

    data = PyObject_CallMethod(p->file, "read", "i", amt);
    if (data == NULL)
        goto error;
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "read() must return bytes");
        goto error;
    }
    got = PyBytes_GET_SIZE(data);
    if (got > amt)
        got = amt;
    memcpy(buf, PyBytes_AS_STRING(data), (size_t)got);
    if (got < amt) {
        memset((char *)buf + got, 0, (size_t)(amt - got));
        rc = SQLITE_IOERR_SHORT_READ;
    } else {
        rc = SQLITE_OK;
    }
    Py_DECREF(data);
    PyGILState_Release(gil);
    return rc;

error:
    PyErr_WriteUnraisable(p->file);
    Py_XDECREF(data);
    PyGILState_Release(gil);
    return rc;
}

// BAD: thread-entry-without-gil creates a bytes object and calls write() on the Python file without the GIL
static int
pyfile_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    PyVfsFile *p = (PyVfsFile *)f;
    PyObject *res;

    res = PyObject_CallMethod(p->file, "seek", "L", off);
    if (res == NULL)
        goto fail;
    Py_DECREF(res);

    res = PyObject_CallMethod(p->file, "write", "y#", (const char *)buf, (Py_ssize_t)amt);
    if (res == NULL)
        goto fail;
    Py_DECREF(res);
    return SQLITE_OK;

fail:
    PyErr_Clear();
    return SQLITE_IOERR_WRITE;
}

// OK: takes the GIL with PyGILState_Ensure for truncate(); releases it before each return
static int
pyfile_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    PyVfsFile *p = (PyVfsFile *)f;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *res = PyObject_CallMethod(p->file, "truncate", "L", size);
    if (res == NULL) {
        PyErr_Clear();
        PyGILState_Release(gil);
        return SQLITE_IOERR_TRUNCATE;
    }
    Py_DECREF(res);
    PyGILState_Release(gil);
    return SQLITE_OK;
}

// OK: early return without Python when the file has no flush(); the Python path runs between Ensure and Release
static int
pyfile_sync(sqlite3_file *f, int flags)
{
    PyVfsFile *p = (PyVfsFile *)f;
    PyGILState_STATE gil;
    PyObject *res;
    int rc = SQLITE_OK;

    (void)flags;
    if (!p->has_sync)
        return SQLITE_OK;

    gil = PyGILState_Ensure();
    res = PyObject_CallMethod(p->file, "flush", NULL);
    if (res == NULL) {
        PyErr_Clear();
        rc = SQLITE_IOERR_FSYNC;
    } else {
        Py_DECREF(res);
    }
    PyGILState_Release(gil);
    return rc;
}

// BAD: api-without-gil releases the GIL and then still calls PyLong_AsLongLong and Py_DECREF on the result
static int
pyfile_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    PyVfsFile *p = (PyVfsFile *)f;
    PyGILState_STATE gil;
    PyObject *res;
    long long n;

    gil = PyGILState_Ensure();
    res = PyObject_CallMethod(p->file, "seek", "ii", 0, 2);
    PyGILState_Release(gil);

    if (res == NULL)
        return SQLITE_IOERR_FSTAT;
    n = PyLong_AsLongLong(res);       /* GIL already given back */
    Py_DECREF(res);
    if (n < 0)
        return SQLITE_IOERR_FSTAT;
    *size = n;
    return SQLITE_OK;
}

// OK: pure C lock bookkeeping
static int
pyfile_lock(sqlite3_file *f, int level)
{
    PyVfsFile *p = (PyVfsFile *)f;
    if (level > p->lock_level)
        p->lock_level = level;
    return SQLITE_OK;
}

// OK: pure C lock bookkeeping
static int
pyfile_unlock(sqlite3_file *f, int level)
{
    PyVfsFile *p = (PyVfsFile *)f;
    if (level < p->lock_level)
        p->lock_level = level;
    return SQLITE_OK;
}

// OK: pure C
static int
pyfile_check_reserved_lock(sqlite3_file *f, int *out)
{
    PyVfsFile *p = (PyVfsFile *)f;
    *out = p->lock_level > 1;
    return SQLITE_OK;
}

// OK: pure C, no file controls supported
static int
pyfile_file_control(sqlite3_file *f, int op, void *arg)
{
    (void)f; (void)op; (void)arg;
    return SQLITE_NOTFOUND;
}

// OK: pure C constant
static int
pyfile_sector_size(sqlite3_file *f)
{
    (void)f;
    return 4096;
}

// OK: pure C constant
static int
pyfile_device_characteristics(sqlite3_file *f)
{
    (void)f;
    return 0;
}

/* ---- build the vfs (fill the struct) ---- */
static sqlite3_vfs *
pyvfs_create(VFSObject *self, const char *name)
{
    sqlite3_vfs *vfs = calloc(1, sizeof(*vfs));
    if (vfs == NULL)
        return NULL;

    vfs->iVersion = 1;
    vfs->szOsFile = (int)sizeof(PyVfsFile);
    vfs->mxPathname = 1024;
    vfs->zName = name;
    vfs->pAppData = self;
    vfs->xOpen = pyvfs_open;
    vfs->xDelete = pyvfs_delete;
    vfs->xAccess = pyvfs_access;
    vfs->xFullPathname = pyvfs_full_pathname;
    vfs->xRandomness = pyvfs_randomness;
    vfs->xSleep = pyvfs_sleep;
    vfs->xCurrentTime = pyvfs_current_time;
    return vfs;
}

static int
VFS_init(VFSObject *self, PyObject *args, PyObject *kwds)
{
    const char *name;
    PyObject *opener, *os;

    if (!PyArg_ParseTuple(args, "sO", &name, &opener))
        return -1;

    os = PyImport_ImportModule("os");
    if (os == NULL)
        return -1;
    self->urandom = PyObject_GetAttrString(os, "urandom");
    Py_DECREF(os);
    if (self->urandom == NULL)
        return -1;

    self->name = strdup(name);
    if (self->name == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    self->vfs = pyvfs_create(self, self->name);
    if (self->vfs == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_INCREF(opener);
    self->opener = opener;
    return 0;

fail:
    free(self->name);
    self->name = NULL;
    Py_CLEAR(self->urandom);
    return -1;
}

/* ---- register (hand the struct to SQLite) ---- */
static PyObject *
VFS_register(VFSObject *self, PyObject *args)
{
    int make_default = 0;

    if (!PyArg_ParseTuple(args, "|p", &make_default))
        return NULL;
    if (self->registered)
        Py_RETURN_NONE;
    if (sqlite3_vfs_register(self->vfs, make_default) != SQLITE_OK) {
        PyErr_SetString(PyExc_RuntimeError, "sqlite3_vfs_register failed");
        return NULL;
    }
    self->registered = 1;
    Py_INCREF(self);     /* kept alive while SQLite knows it */
    Py_RETURN_NONE;
}

/* ---- driver: run a query on a database using the vfs, GIL released ---- */
static PyObject *
vfs_query(PyObject *module, PyObject *args)
{
    const char *path, *vfsname, *sql;
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    PyObject *rows = NULL, *row;
    int rc;

    if (!PyArg_ParseTuple(args, "sss", &path, &vfsname, &sql))
        return NULL;

    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfsname);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    Py_END_ALLOW_THREADS

    if (rc != SQLITE_OK) {
        PyErr_SetString(PyExc_RuntimeError, db ? sqlite3_errmsg(db) : "open failed");
        goto done;
    }

    rows = PyList_New(0);
    if (rows == NULL)
        goto done;

    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        rc = sqlite3_step(stmt);
        Py_END_ALLOW_THREADS

        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            PyErr_SetString(PyExc_RuntimeError, sqlite3_errmsg(db));
            Py_CLEAR(rows);
            goto done;
        }
        row = PyUnicode_FromString((const char *)sqlite3_column_text(stmt, 0));
        if (row == NULL || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_CLEAR(rows);
            goto done;
        }
        Py_DECREF(row);
    }

done:
    Py_BEGIN_ALLOW_THREADS
    sqlite3_finalize(stmt);
    sqlite3_close_v2(db);
    Py_END_ALLOW_THREADS
    return rows;
}

static void
VFS_dealloc(VFSObject *self)
{
    if (self->vfs) {
        if (self->registered)
            sqlite3_vfs_unregister(self->vfs);
        free(self->vfs);
    }
    free(self->name);
    Py_XDECREF(self->opener);
    Py_XDECREF(self->urandom);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef VFS_methods[] = {
    {"register", (PyCFunction)VFS_register, METH_VARARGS, NULL},
    {NULL}
};

static PyTypeObject VFSType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_pyvfs.VFS",
    .tp_basicsize = sizeof(VFSObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)VFS_dealloc,
    .tp_methods = VFS_methods,
    .tp_init = (initproc)VFS_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"query", vfs_query, METH_VARARGS, NULL},
    {NULL}
};

static struct PyModuleDef pyvfsmodule = {
    PyModuleDef_HEAD_INIT, "_pyvfs", NULL, -1, module_methods
};

PyMODINIT_FUNC
PyInit__pyvfs(void)
{
    PyObject *m;
    if (PyType_Ready(&VFSType) < 0)
        return NULL;
    m = PyModule_Create(&pyvfsmodule);
    if (m == NULL)
        return NULL;
    Py_INCREF(&VFSType);
    PyModule_AddObject(m, "VFS", (PyObject *)&VFSType);
    return m;
}
