/*
 * _storage.c -- SQLite and PostgreSQL (libpq) access layer plus process
 * helpers for a job-runner package.  Patterned on CPython's _sqlite module
 * and psycopg2's connection_int.c / pqpath.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- sqlite3.h (subset) ---------------------------------------------- */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef struct sqlite3_backup sqlite3_backup;
typedef long long sqlite3_int64;
#define SQLITE_OK 0
#define SQLITE_ABORT 4
#define SQLITE_BUSY 5
#define SQLITE_LOCKED 6
#define SQLITE_ROW 100
#define SQLITE_DONE 101
int sqlite3_prepare_v2(sqlite3 *db, const char *zSql, int nByte,
                       sqlite3_stmt **ppStmt, const char **pzTail);
int sqlite3_step(sqlite3_stmt *pStmt);
int sqlite3_finalize(sqlite3_stmt *pStmt);
int sqlite3_column_count(sqlite3_stmt *pStmt);
sqlite3_int64 sqlite3_column_int64(sqlite3_stmt *pStmt, int iCol);
int sqlite3_exec(sqlite3 *db, const char *sql,
                 int (*callback)(void *, int, char **, char **), void *arg,
                 char **errmsg);
void sqlite3_free(void *p);
const char *sqlite3_errmsg(sqlite3 *db);
sqlite3_backup *sqlite3_backup_init(sqlite3 *pDest, const char *zDestName,
                                    sqlite3 *pSource, const char *zSourceName);
int sqlite3_backup_step(sqlite3_backup *p, int nPage);
int sqlite3_backup_finish(sqlite3_backup *p);
int sqlite3_sleep(int ms);

/* ---- libpq-fe.h (subset) --------------------------------------------- */
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef enum {
    PGRES_EMPTY_QUERY = 0, PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_OUT,
    PGRES_COPY_IN, PGRES_BAD_RESPONSE, PGRES_NONFATAL_ERROR, PGRES_FATAL_ERROR
} ExecStatusType;
typedef void (*PQnoticeProcessor)(void *arg, const char *message);
PGresult *PQexec(PGconn *conn, const char *query);
int PQsendQuery(PGconn *conn, const char *query);
int PQconsumeInput(PGconn *conn);
int PQisBusy(PGconn *conn);
PGresult *PQgetResult(PGconn *conn);
ExecStatusType PQresultStatus(const PGresult *res);
char *PQcmdTuples(PGresult *res);
void PQclear(PGresult *res);
char *PQerrorMessage(const PGconn *conn);
PQnoticeProcessor PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg);

/* ---------------------------------------------------------------------- */

static PyObject *StorageError;

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
} ConnectionObject;

static PyTypeObject ConnectionType;

// BAD: blocking-with-gil sqlite3_step (disk I/O and busy-handler sleeps) runs in a loop with the GIL held
static PyObject *
bad_db_execute_with_gil(ConnectionObject *self, PyObject *args)
{
    const char *sql;
    sqlite3_stmt *stmt;
    PyObject *rows;
    int rc;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    if (sqlite3_prepare_v2(self->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        PyErr_SetString(StorageError, sqlite3_errmsg(self->db));
        return NULL;
    }
    rows = PyList_New(0);
    if (rows == NULL) {
        sqlite3_finalize(stmt);
        return NULL;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        PyObject *v = PyLong_FromLongLong(sqlite3_column_int64(stmt, 0));
        if (v == NULL || PyList_Append(rows, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(rows);
            sqlite3_finalize(stmt);
            return NULL;
        }
        Py_DECREF(v);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        Py_DECREF(rows);
        PyErr_SetString(StorageError, sqlite3_errmsg(self->db));
        return NULL;
    }
    return rows;
}

struct exec_rows {
    PyObject *out;      /* list of tuples */
};

// BAD: api-without-gil sqlite3_exec row callback runs synchronously inside sqlite3_exec, which db_executescript() calls with the GIL released; it builds tuples and appends to a list
static int
bad_sqlite_exec_row_cb(void *arg, int ncols, char **values, char **names)
{
    struct exec_rows *er = (struct exec_rows *)arg;
    PyObject *row = PyTuple_New(ncols);
    int i;
    (void)names;
    if (row == NULL)
        return 1;
    for (i = 0; i < ncols; i++) {
        PyObject *v = values[i] ? PyUnicode_FromString(values[i]) : Py_NewRef(Py_None);
        if (v == NULL) {
            Py_DECREF(row);
            return 1;
        }
        PyTuple_SET_ITEM(row, i, v);
    }
    i = PyList_Append(er->out, row);
    Py_DECREF(row);
    return i < 0;
}

/* Not scored: executescript, GIL released around sqlite3_exec. */
static PyObject *
db_executescript(ConnectionObject *self, PyObject *args)
{
    const char *script;
    struct exec_rows er;
    char *errmsg = NULL;
    sqlite3 *db = self->db;
    int rc;
    if (!PyArg_ParseTuple(args, "s", &script))
        return NULL;
    er.out = PyList_New(0);
    if (er.out == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_exec(db, script, bad_sqlite_exec_row_cb, &er, &errmsg);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        PyErr_SetString(StorageError, errmsg ? errmsg : "sqlite3_exec failed");
        sqlite3_free(errmsg);
        Py_DECREF(er.out);
        return NULL;
    }
    return er.out;
}

// BAD: blocking-with-gil online backup: backup_step is released, but the retry sqlite3_sleep(250) on SQLITE_BUSY/LOCKED runs with the GIL held
static PyObject *
bad_db_backup_sleep(ConnectionObject *self, PyObject *args)
{
    ConnectionObject *target;
    int pages = 64, rc, rc2;
    sqlite3 *src = self->db, *dst;
    sqlite3_backup *b;
    if (!PyArg_ParseTuple(args, "O!|i", &ConnectionType, &target, &pages))
        return NULL;
    dst = target->db;
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        PyErr_SetString(StorageError, sqlite3_errmsg(dst));
        return NULL;
    }
    do {
        Py_BEGIN_ALLOW_THREADS
        rc = sqlite3_backup_step(b, pages);
        Py_END_ALLOW_THREADS
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(250);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    Py_BEGIN_ALLOW_THREADS
    rc2 = sqlite3_backup_finish(b);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_DONE || rc2 != SQLITE_OK) {
        PyErr_SetString(StorageError, sqlite3_errmsg(dst));
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- PostgreSQL ------------------------------------------------------ */

struct pg_notice {
    struct pg_notice *next;
    char *message;
};

struct pg_session {
    PGconn *conn;
    struct pg_notice *notices;      /* newest first, drained with the GIL */
    int async_pending;
};

typedef struct {
    PyObject_HEAD
    struct pg_session *sess;
    PyObject *notices;              /* list of str exposed to Python */
} PgConnObject;

// OK: libpq notice processor may run inside PQexec with the GIL released (pg_execute); it only strdup()s into a C list, drained into Python later with the GIL
static void
ok_pg_notice_processor(void *arg, const char *message)
{
    struct pg_session *s = (struct pg_session *)arg;
    struct pg_notice *n = malloc(sizeof *n);
    if (n == NULL)
        return;
    n->message = strdup(message);
    if (n->message == NULL) {
        free(n);
        return;
    }
    n->next = s->notices;
    s->notices = n;
}

/* Not scored: moves C notices into the Python list (GIL held). */
static void
pg_drain_notices(PgConnObject *self)
{
    struct pg_notice *n = self->sess->notices;
    self->sess->notices = NULL;
    while (n != NULL) {
        struct pg_notice *next = n->next;
        PyObject *s = PyUnicode_FromString(n->message);
        if (s != NULL) {
            PyList_Insert(self->notices, 0, s);
            Py_DECREF(s);
        }
        else {
            PyErr_Clear();
        }
        free(n->message);
        free(n);
        n = next;
    }
}

/* Not scored: installs the notice processor. */
static void
pg_session_setup(struct pg_session *s)
{
    PQsetNoticeProcessor(s->conn, ok_pg_notice_processor, s);
}

/* Not scored: the usual execute path, GIL released around PQexec. */
static PyObject *
pg_execute(PgConnObject *self, PyObject *args)
{
    const char *query;
    PGconn *conn = self->sess->conn;
    PGresult *res;
    ExecStatusType st;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "s", &query))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    res = PQexec(conn, query);
    Py_END_ALLOW_THREADS
    pg_drain_notices(self);
    st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        PyErr_SetString(StorageError, PQerrorMessage(conn));
        PQclear(res);
        return NULL;
    }
    out = PyUnicode_FromString(PQcmdTuples(res));
    PQclear(res);
    return out;
}

// BAD: blocking-with-gil PQexec waits for the server round trip while holding the GIL
static PyObject *
bad_pg_query_with_gil(PgConnObject *self, PyObject *args)
{
    const char *query;
    PGconn *conn = self->sess->conn;
    PGresult *res;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "s", &query))
        return NULL;
    res = PQexec(conn, query);
    pg_drain_notices(self);
    if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        PyErr_SetString(StorageError, PQerrorMessage(conn));
        PQclear(res);
        return NULL;
    }
    out = PyUnicode_FromString(PQcmdTuples(res));
    PQclear(res);
    return out;
}

// OK: async poll (psycopg style): PQconsumeInput only reads what the non-blocking socket has, and PQgetResult is called only after PQisBusy() says it will not block
static PyObject *
ok_pg_poll_async(PgConnObject *self, PyObject *Py_UNUSED(ignored))
{
    PGconn *conn = self->sess->conn;
    PGresult *res;
    ExecStatusType st;
    PyObject *out;

    if (!self->sess->async_pending)
        Py_RETURN_NONE;
    if (PQconsumeInput(conn) == 0) {
        PyErr_SetString(StorageError, PQerrorMessage(conn));
        return NULL;
    }
    if (PQisBusy(conn))
        return PyLong_FromLong(1);          /* POLL_READ: try again later */
    res = PQgetResult(conn);
    pg_drain_notices(self);
    if (res == NULL) {
        self->sess->async_pending = 0;
        return PyLong_FromLong(0);          /* POLL_OK */
    }
    st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        PyErr_SetString(StorageError, PQerrorMessage(conn));
        PQclear(res);
        return NULL;
    }
    out = Py_BuildValue("(is)", 2, PQcmdTuples(res));
    PQclear(res);
    return out;
}

/* ---- process / stats helpers ----------------------------------------- */

static pthread_mutex_t g_wal_stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned long frames_written;
    unsigned long checkpoints;
    double last_checkpoint_ms;
} g_wal_stats;   /* updated by the WAL writer thread while it holds the lock */

// OK: pthread_mutex_trylock never blocks; when the WAL writer holds the lock the method returns None instead of waiting with the GIL
static PyObject *
ok_trylock_stats(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    unsigned long frames, checkpoints;
    double last_ms;
    (void)self;
    if (pthread_mutex_trylock(&g_wal_stats_lock) != 0)
        Py_RETURN_NONE;
    frames = g_wal_stats.frames_written;
    checkpoints = g_wal_stats.checkpoints;
    last_ms = g_wal_stats.last_checkpoint_ms;
    pthread_mutex_unlock(&g_wal_stats_lock);
    return Py_BuildValue("{s:k,s:k,s:d}", "frames", frames,
                         "checkpoints", checkpoints, "last_checkpoint_ms", last_ms);
}

// OK: the blocking read() on the start pipe and execv() happen only in the forked child, which is single-threaded; the parent returns immediately
static PyObject *
ok_spawn_child_wait_pipe(PyObject *self, PyObject *args)
{
    const char *path;
    int go[2];
    pid_t pid;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &path))
        return NULL;
    if (pipe(go) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    pid = fork();
    if (pid < 0) {
        close(go[0]);
        close(go[1]);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (pid == 0) {
        /* child: wait until the parent has set up cgroups, then exec */
        char c;
        close(go[1]);
        while (read(go[0], &c, 1) < 0 && errno == EINTR)
            ;
        close(go[0]);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    close(go[0]);
    return Py_BuildValue("(ii)", (int)pid, go[1]);
}

// OK: waitpid with WNOHANG never blocks, so reaping finished children with the GIL held is fine
static PyObject *
ok_reap_children_wnohang(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *done = PyList_New(0);
    int status;
    pid_t pid;
    (void)self;
    if (done == NULL)
        return NULL;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        PyObject *item = Py_BuildValue("(ii)", (int)pid,
                                       WIFEXITED(status) ? WEXITSTATUS(status)
                                                         : -WTERMSIG(status));
        if (item == NULL || PyList_Append(done, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(done);
            return NULL;
        }
        Py_DECREF(item);
    }
    if (pid < 0 && errno != ECHILD) {
        Py_DECREF(done);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return done;
}

static PyMethodDef Connection_methods[] = {
    {"execute", (PyCFunction)bad_db_execute_with_gil, METH_VARARGS, NULL},
    {"executescript", (PyCFunction)db_executescript, METH_VARARGS, NULL},
    {"backup", (PyCFunction)bad_db_backup_sleep, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject ConnectionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_storage.Connection",
    .tp_basicsize = sizeof(ConnectionObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = Connection_methods,
};

static PyMethodDef PgConn_methods[] = {
    {"execute", (PyCFunction)pg_execute, METH_VARARGS, NULL},
    {"query_sync", (PyCFunction)bad_pg_query_with_gil, METH_VARARGS, NULL},
    {"poll", (PyCFunction)ok_pg_poll_async, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject PgConnType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_storage.PgConnection",
    .tp_basicsize = sizeof(PgConnObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = PgConn_methods,
};

static PyObject *
pg_adopt(PyObject *self, PyObject *cap)
{
    PgConnObject *c;
    (void)self;
    c = PyObject_New(PgConnObject, &PgConnType);
    if (c == NULL)
        return NULL;
    c->sess = PyMem_Calloc(1, sizeof(struct pg_session));
    c->notices = PyList_New(0);
    c->sess->conn = (PGconn *)PyCapsule_GetPointer(cap, "PGconn");
    pg_session_setup(c->sess);
    return (PyObject *)c;
}

static PyMethodDef module_methods[] = {
    {"wal_stats", ok_trylock_stats, METH_NOARGS, NULL},
    {"spawn_gated", ok_spawn_child_wait_pipe, METH_VARARGS, NULL},
    {"reap", ok_reap_children_wnohang, METH_NOARGS, NULL},
    {"adopt_pg", pg_adopt, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef storage_module = {
    PyModuleDef_HEAD_INIT, "_storage", NULL, -1, module_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__storage(void)
{
    PyObject *m;
    if (PyType_Ready(&ConnectionType) < 0 || PyType_Ready(&PgConnType) < 0)
        return NULL;
    m = PyModule_Create(&storage_module);
    if (m == NULL)
        return NULL;
    StorageError = PyErr_NewException("_storage.StorageError", NULL, NULL);
    PyModule_AddObject(m, "StorageError", StorageError);
    return m;
}
