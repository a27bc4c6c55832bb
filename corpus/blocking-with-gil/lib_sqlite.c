// SQLite calls that read and write the database (rules/libs/sqlite.yml) made while holding the GIL, and the same
// calls with the GIL released. The prototypes are declared here: the SQLite headers are not needed.
#include <Python.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef struct sqlite3_backup sqlite3_backup;
int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail);
int sqlite3_step(sqlite3_stmt *stmt);
int sqlite3_finalize(sqlite3_stmt *stmt);
int sqlite3_column_int(sqlite3_stmt *stmt, int col);
int sqlite3_busy_timeout(sqlite3 *db, int ms);
int sqlite3_backup_step(sqlite3_backup *b, int pages);
int sqlite3_sleep(int ms);
int sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg, char **err);

#define SQLITE_ROW 100
#define SQLITE_BUSY 5

typedef struct { PyObject_HEAD sqlite3 *db; } Connection;

/* Counts rows one step at a time, with the GIL held for every step. */
static PyObject *bad_count_rows(PyObject *self, PyObject *args)
{
    Connection *c = (Connection *)self;
    const char *sql;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    sqlite3_stmt *stmt;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_prepare_v2(c->db, sql, -1, &stmt, NULL);
    Py_END_ALLOW_THREADS
    if (rc != 0)
        return PyErr_Format(PyExc_RuntimeError, "prepare failed: %d", rc);
    long n = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW)        // expect-warning{{sqlite3_step() may block while this thread holds the GIL}} [blocking-with-gil]
        n++;
    sqlite3_finalize(stmt);
    return PyLong_FromLong(n);
}

/* The GIL is taken for the result object before the statement runs, instead of after. */
void bad_exec_from_worker(sqlite3 *db, PyObject *on_done)
{
    PyGILState_STATE st = PyGILState_Ensure();
    int rc = sqlite3_exec(db, "VACUUM", NULL, NULL, NULL);   // expect-warning{{sqlite3_exec() may block}} [blocking-with-gil]
    PyObject *r = PyObject_CallFunction(on_done, "i", rc);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

/* A retry loop that backs off with the GIL held. */
static PyObject *bad_backup_retry(PyObject *self, PyObject *arg)
{
    sqlite3_backup *b = PyLong_AsVoidPtr(arg);
    if (b == NULL && PyErr_Occurred())
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_backup_step(b, 64);
    Py_END_ALLOW_THREADS
    if (rc == SQLITE_BUSY)
        sqlite3_sleep(100);                         // expect-warning{{sqlite3_sleep() may block}} [blocking-with-gil]
    return PyLong_FromLong(rc);
}

static PyObject *ok_open_and_query(PyObject *self, PyObject *args)
{
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path))
        return NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc, value = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_open_v2(path, &db, 2, NULL);
    if (rc == 0)
        rc = sqlite3_busy_timeout(db, 5000);
    if (rc == 0)
        rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &stmt, NULL);
    if (rc == 0 && sqlite3_step(stmt) == SQLITE_ROW)
        value = sqlite3_column_int(stmt, 0);
    Py_END_ALLOW_THREADS
    /* Column reads and finalize touch memory only: fine with the GIL. */
    if (stmt != NULL)
        sqlite3_finalize(stmt);
    if (rc != 0)
        return PyErr_Format(PyExc_RuntimeError, "sqlite error %d", rc);
    return PyLong_FromLong(value);
}

static PyObject *ok_set_timeout(PyObject *self, PyObject *arg)
{
    Connection *c = (Connection *)self;
    long ms = PyLong_AsLong(arg);
    if (ms == -1 && PyErr_Occurred())
        return NULL;
    /* Only sets the timeout: it does not wait. */
    return PyLong_FromLong(sqlite3_busy_timeout(c->db, (int)ms));
}

static PyMethodDef Connection_methods[] = {
    {"count_rows", bad_count_rows, METH_VARARGS, NULL},
    {"backup_retry", bad_backup_retry, METH_O, NULL},
    {"open_and_query", ok_open_and_query, METH_VARARGS, NULL},
    {"set_timeout", ok_set_timeout, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
