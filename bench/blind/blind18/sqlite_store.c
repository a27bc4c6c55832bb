/*
 * kvstore: a key/value store on top of SQLite with Python-defined SQL
 * functions and a Python busy handler.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* --- SQLite (sqlite3.h) prototypes --- */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef struct sqlite3_context sqlite3_context;
typedef struct sqlite3_value sqlite3_value;
typedef long long sqlite3_int64;
#define SQLITE_OK 0
#define SQLITE_BUSY 5
#define SQLITE_ROW 100
#define SQLITE_DONE 101
#define SQLITE_UTF8 1
#define SQLITE_DETERMINISTIC 0x000000800
#define SQLITE_TRANSIENT ((void (*)(void *))-1)
int sqlite3_prepare_v2(sqlite3 *db, const char *zSql, int nByte,
                       sqlite3_stmt **ppStmt, const char **pzTail);
int sqlite3_step(sqlite3_stmt *);
int sqlite3_reset(sqlite3_stmt *);
int sqlite3_finalize(sqlite3_stmt *);
int sqlite3_bind_text(sqlite3_stmt *, int, const char *, int, void (*)(void *));
const unsigned char *sqlite3_column_text(sqlite3_stmt *, int iCol);
int sqlite3_column_bytes(sqlite3_stmt *, int iCol);
sqlite3_int64 sqlite3_column_int64(sqlite3_stmt *, int iCol);
const char *sqlite3_errmsg(sqlite3 *);
int sqlite3_busy_handler(sqlite3 *, int (*)(void *, int), void *);
int sqlite3_create_function_v2(sqlite3 *db, const char *zFunctionName, int nArg,
                               int eTextRep, void *pApp,
                               void (*xFunc)(sqlite3_context *, int, sqlite3_value **),
                               void (*xStep)(sqlite3_context *, int, sqlite3_value **),
                               void (*xFinal)(sqlite3_context *),
                               void (*xDestroy)(void *));
void *sqlite3_user_data(sqlite3_context *);
const unsigned char *sqlite3_value_text(sqlite3_value *);
int sqlite3_value_bytes(sqlite3_value *);
void sqlite3_result_int64(sqlite3_context *, sqlite3_int64);
void sqlite3_result_error(sqlite3_context *, const char *, int);
int sqlite3_exec(sqlite3 *, const char *sql,
                 int (*callback)(void *, int, char **, char **), void *,
                 char **errmsg);
void sqlite3_free(void *);

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
    PyObject *busy_cb;     /* callable(retries) -> bool */
    PyObject *hash_fn;     /* callable(str) -> int */
} KVStore;

static void
set_sqlite_error(KVStore *self)
{
    PyErr_SetString(PyExc_RuntimeError, sqlite3_errmsg(self->db));
}

// BAD: blocking-with-gil  every sqlite3_step (disk I/O, lock waits) in the scan loop runs with the GIL held
static PyObject *
bad_kv_items(KVStore *self, PyObject *Py_UNUSED(ignored))
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(self->db, "SELECT k, v FROM kv ORDER BY k", -1, &st, NULL) != SQLITE_OK) {
        set_sqlite_error(self);
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL)
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        PyObject *item = Py_BuildValue("(s#L)",
                                       (const char *)sqlite3_column_text(st, 0),
                                       (Py_ssize_t)sqlite3_column_bytes(st, 0),
                                       sqlite3_column_int64(st, 1));
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(out);
            goto fail;
        }
        Py_DECREF(item);
    }
    if (rc != SQLITE_DONE) {
        set_sqlite_error(self);
        Py_CLEAR(out);
    }
fail:
    sqlite3_finalize(st);
    return out;
}

// OK: each sqlite3_step runs inside its own allow-threads block; rows are converted with the GIL held
static PyObject *
ok_kv_items(KVStore *self, PyObject *Py_UNUSED(ignored))
{
    sqlite3_stmt *st;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_prepare_v2(self->db, "SELECT k, v FROM kv ORDER BY k", -1, &st, NULL);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        set_sqlite_error(self);
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL)
        goto done;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        rc = sqlite3_step(st);
        Py_END_ALLOW_THREADS
        if (rc != SQLITE_ROW)
            break;
        PyObject *item = Py_BuildValue("(s#L)",
                                       (const char *)sqlite3_column_text(st, 0),
                                       (Py_ssize_t)sqlite3_column_bytes(st, 0),
                                       sqlite3_column_int64(st, 1));
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(out);
            goto done;
        }
        Py_DECREF(item);
    }
    if (rc != SQLITE_DONE) {
        set_sqlite_error(self);
        Py_CLEAR(out);
    }
done:
    sqlite3_finalize(st);
    return out;
}

// BAD: api-without-gil,thread-entry-without-gil  busy handler is invoked from inside sqlite3_step, which kv_put runs with the GIL released
static int bad_busy_handler(void *arg, int retries)
{
    KVStore *self = (KVStore *)arg;
    PyObject *r = PyObject_CallFunction(self->busy_cb, "i", retries);
    if (r == NULL) {
        PyErr_Clear();
        return 0;
    }
    int again = PyObject_IsTrue(r);
    Py_DECREF(r);
    return again > 0;
}

// OK: SQL function body called from a released sqlite3_step takes the GIL itself and releases it before returning
static void ok_sql_pyhash(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    KVStore *self = (KVStore *)sqlite3_user_data(ctx);
    const char *txt = (const char *)sqlite3_value_text(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    (void)argc;
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(self->hash_fn, "s#", txt ? txt : "", (Py_ssize_t)n);
    if (r == NULL) {
        PyErr_Clear();
        sqlite3_result_error(ctx, "pyhash raised", -1);
    } else {
        long long h = PyLong_AsLongLong(r);
        Py_DECREF(r);
        if (h == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            sqlite3_result_error(ctx, "pyhash returned non-int", -1);
        } else {
            sqlite3_result_int64(ctx, h);
        }
    }
    PyGILState_Release(gs);
}

static PyObject *
kv_setup(KVStore *self, PyObject *Py_UNUSED(ignored))
{
    int rc = sqlite3_busy_handler(self->db, bad_busy_handler, self);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(self->db, "pyhash", 1,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC, self,
                                        ok_sql_pyhash, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        set_sqlite_error(self);
        return NULL;
    }
    Py_RETURN_NONE;
}

// OK: on a step error it re-blocks threads with Py_BLOCK_THREADS before raising and returning from inside the block
static PyObject *
ok_kv_put(KVStore *self, PyObject *args)
{
    const char *k; Py_ssize_t klen;
    sqlite3_stmt *st;
    int rc;
    if (!PyArg_ParseTuple(args, "s#", &k, &klen))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_prepare_v2(self->db, "INSERT INTO kv(k, v) VALUES(?1, pyhash(?1))",
                            -1, &st, NULL);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        set_sqlite_error(self);
        return NULL;
    }
    sqlite3_bind_text(st, 1, k, (int)klen, SQLITE_TRANSIENT);
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        Py_BLOCK_THREADS
        set_sqlite_error(self);
        return NULL;
    }
    sqlite3_finalize(st);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// BAD: restore-without-save  error path does Py_BLOCK_THREADS and then falls through to Py_END_ALLOW_THREADS, restoring twice
static PyObject *
bad_kv_delete(KVStore *self, PyObject *args)
{
    const char *k; Py_ssize_t klen;
    sqlite3_stmt *st;
    int rc, failed = 0;
    if (!PyArg_ParseTuple(args, "s#", &k, &klen))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_prepare_v2(self->db, "DELETE FROM kv WHERE k = ?1", -1, &st, NULL);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        set_sqlite_error(self);
        return NULL;
    }
    sqlite3_bind_text(st, 1, k, (int)klen, SQLITE_TRANSIENT);
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        Py_BLOCK_THREADS
        set_sqlite_error(self);
        failed = 1;
    }
    sqlite3_finalize(st);
    Py_END_ALLOW_THREADS
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

typedef struct { PyObject *rows; int failed; } exec_ctx;

// OK: sqlite3_exec row callback runs inside the released sqlite3_exec call, so it ensures the GIL per row
static int ok_exec_row_cb(void *arg, int ncols, char **vals, char **names)
{
    exec_ctx *ec = (exec_ctx *)arg;
    int rc = 0;
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *row = PyDict_New();
    for (int i = 0; row != NULL && i < ncols; i++) {
        PyObject *v = vals[i] ? PyUnicode_FromString(vals[i]) : Py_NewRef(Py_None);
        if (v == NULL || PyDict_SetItemString(row, names[i], v) < 0)
            Py_CLEAR(row);
        Py_XDECREF(v);
    }
    if (row == NULL || PyList_Append(ec->rows, row) < 0) {
        ec->failed = 1;
        rc = 1;             /* abort sqlite3_exec */
    }
    Py_XDECREF(row);
    PyGILState_Release(gs);
    return rc;
}

static PyObject *
kv_query(KVStore *self, PyObject *args)
{
    const char *sql;
    char *err = NULL;
    int rc;
    exec_ctx ec = {0};
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    if ((ec.rows = PyList_New(0)) == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_exec(self->db, sql, ok_exec_row_cb, &ec, &err);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        if (!ec.failed)
            PyErr_SetString(PyExc_RuntimeError, err ? err : "sqlite error");
        sqlite3_free(err);
        Py_CLEAR(ec.rows);
    }
    return ec.rows;
}

static PyMethodDef kv_methods[] = {
    {"setup", (PyCFunction)kv_setup, METH_NOARGS, NULL},
    {"items", (PyCFunction)ok_kv_items, METH_NOARGS, NULL},
    {"items_fast", (PyCFunction)bad_kv_items, METH_NOARGS, NULL},
    {"put", (PyCFunction)ok_kv_put, METH_VARARGS, NULL},
    {"delete", (PyCFunction)bad_kv_delete, METH_VARARGS, NULL},
    {"query", (PyCFunction)kv_query, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

PyTypeObject KVStoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kvstore.KVStore",
    .tp_basicsize = sizeof(KVStore),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = kv_methods,
};
