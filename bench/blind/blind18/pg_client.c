/*
 * pgmini: a minimal PostgreSQL client module on libpq.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <poll.h>
#include <errno.h>

/* --- libpq (libpq-fe.h) prototypes --- */
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef enum { CONNECTION_OK, CONNECTION_BAD } ConnStatusType;
typedef enum {
    PGRES_EMPTY_QUERY = 0, PGRES_COMMAND_OK, PGRES_TUPLES_OK,
    PGRES_COPY_OUT, PGRES_COPY_IN, PGRES_BAD_RESPONSE,
    PGRES_NONFATAL_ERROR, PGRES_FATAL_ERROR
} ExecStatusType;
typedef struct pgNotify {
    char *relname;
    int be_pid;
    char *extra;
    struct pgNotify *next;
} PGnotify;
typedef void (*PQnoticeProcessor)(void *arg, const char *message);
PGconn *PQconnectdb(const char *conninfo);
ConnStatusType PQstatus(const PGconn *conn);
char *PQerrorMessage(const PGconn *conn);
void PQfinish(PGconn *conn);
PGresult *PQexec(PGconn *conn, const char *query);
ExecStatusType PQresultStatus(const PGresult *res);
int PQntuples(const PGresult *res);
int PQnfields(const PGresult *res);
char *PQgetvalue(const PGresult *res, int tup_num, int field_num);
int PQgetisnull(const PGresult *res, int tup_num, int field_num);
void PQclear(PGresult *res);
int PQsendQuery(PGconn *conn, const char *query);
int PQconsumeInput(PGconn *conn);
int PQisBusy(PGconn *conn);
PGresult *PQgetResult(PGconn *conn);
int PQsocket(const PGconn *conn);
PGnotify *PQnotifies(PGconn *conn);
void PQfreemem(void *ptr);
PQnoticeProcessor PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg);

typedef struct {
    PyObject_HEAD
    PGconn *conn;
    PyObject *notices;     /* list of str */
} PgConn;

static PyObject *
result_to_list(PGresult *res)
{
    int nt = PQntuples(res), nf = PQnfields(res);
    PyObject *rows = PyList_New(nt);
    if (rows == NULL)
        return NULL;
    for (int i = 0; i < nt; i++) {
        PyObject *row = PyTuple_New(nf);
        if (row == NULL) {
            Py_DECREF(rows);
            return NULL;
        }
        for (int j = 0; j < nf; j++) {
            PyObject *v = PQgetisnull(res, i, j) ? Py_NewRef(Py_None)
                                                 : PyUnicode_FromString(PQgetvalue(res, i, j));
            if (v == NULL) {
                Py_DECREF(row);
                Py_DECREF(rows);
                return NULL;
            }
            PyTuple_SET_ITEM(row, j, v);
        }
        PyList_SET_ITEM(rows, i, row);
    }
    return rows;
}

// BAD: blocking-with-gil  PQexec sends the query and waits for the server's reply with the GIL held
static PyObject *
bad_pg_execute(PgConn *self, PyObject *args)
{
    const char *sql;
    PyObject *out = NULL;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    PGresult *res = PQexec(self->conn, sql);
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
        out = result_to_list(res);
        break;
    case PGRES_COMMAND_OK:
        out = Py_NewRef(Py_None);
        break;
    default:
        PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(self->conn));
    }
    PQclear(res);
    return out;
}

// OK: PQexec runs with the GIL released; the result is converted after re-acquiring
static PyObject *
ok_pg_execute(PgConn *self, PyObject *args)
{
    const char *sql;
    PGresult *res;
    PyObject *out = NULL;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    res = PQexec(self->conn, sql);
    Py_END_ALLOW_THREADS
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
        out = result_to_list(res);
        break;
    case PGRES_COMMAND_OK:
        out = Py_NewRef(Py_None);
        break;
    default:
        PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(self->conn));
    }
    PQclear(res);
    return out;
}

// OK: PQconsumeInput/PQisBusy never block, and PQgetResult is only called once PQisBusy reports the result is complete
static PyObject *
ok_pg_poll_result(PgConn *self, PyObject *Py_UNUSED(ignored))
{
    if (!PQconsumeInput(self->conn)) {
        PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(self->conn));
        return NULL;
    }
    if (PQisBusy(self->conn))
        Py_RETURN_NONE;           /* caller polls the socket again */
    PGresult *res = PQgetResult(self->conn);
    if (res == NULL)
        Py_RETURN_FALSE;          /* no more results for this query */
    PyObject *out;
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        out = result_to_list(res);
    else if (PQresultStatus(res) == PGRES_COMMAND_OK)
        out = PyList_New(0);
    else {
        PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(self->conn));
        out = NULL;
    }
    PQclear(res);
    return out;
}

// BAD: api-without-gil,thread-entry-without-gil  notice processor runs inside PQexec, which ok_pg_execute calls with the GIL released
static void bad_pg_notice(void *arg, const char *message)
{
    PgConn *self = (PgConn *)arg;
    PyObject *s = PyUnicode_FromString(message);
    if (s == NULL) {
        PyErr_Clear();
        return;
    }
    if (PyList_Append(self->notices, s) < 0)
        PyErr_Clear();
    Py_DECREF(s);
}

// BAD: api-without-gil  connection failure raises the exception before the saved thread state is restored
static PyObject *
bad_pg_connect(PyTypeObject *type, PyObject *args)
{
    const char *dsn;
    PgConn *self;
    if (!PyArg_ParseTuple(args, "s", &dsn))
        return NULL;
    self = (PgConn *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->notices = PyList_New(0);
    if (self->notices == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    PyThreadState *ts = PyEval_SaveThread();
    self->conn = PQconnectdb(dsn);
    if (PQstatus(self->conn) != CONNECTION_OK) {
        PyErr_SetString(PyExc_ConnectionError, PQerrorMessage(self->conn));
        PQfinish(self->conn);
        self->conn = NULL;
        PyEval_RestoreThread(ts);
        Py_DECREF(self);
        return NULL;
    }
    PyEval_RestoreThread(ts);
    PQsetNoticeProcessor(self->conn, bad_pg_notice, self);
    return (PyObject *)self;
}

// OK: waits on the libpq socket with poll() only while the GIL is released; notifications are read with it held
static PyObject *
ok_pg_wait_notify(PgConn *self, PyObject *args)
{
    int timeout_ms = -1, rc, saved_errno = 0;
    if (!PyArg_ParseTuple(args, "|i", &timeout_ms))
        return NULL;
    struct pollfd pfd = { .fd = PQsocket(self->conn), .events = POLLIN };
    Py_BEGIN_ALLOW_THREADS
    rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0)
        saved_errno = errno;
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        errno = saved_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (rc == 0)
        Py_RETURN_NONE;
    if (!PQconsumeInput(self->conn)) {
        PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(self->conn));
        return NULL;
    }
    PyObject *out = PyList_New(0);
    PGnotify *n;
    while (out != NULL && (n = PQnotifies(self->conn)) != NULL) {
        PyObject *item = Py_BuildValue("(sis)", n->relname, n->be_pid, n->extra);
        PQfreemem(n);
        if (item == NULL || PyList_Append(out, item) < 0)
            Py_CLEAR(out);
        Py_XDECREF(item);
    }
    return out;
}

static PyMethodDef pg_methods[] = {
    {"execute", (PyCFunction)ok_pg_execute, METH_VARARGS, NULL},
    {"execute_nowait", (PyCFunction)bad_pg_execute, METH_VARARGS, NULL},
    {"poll_result", (PyCFunction)ok_pg_poll_result, METH_NOARGS, NULL},
    {"wait_notify", (PyCFunction)ok_pg_wait_notify, METH_VARARGS, NULL},
    {"connect", (PyCFunction)bad_pg_connect, METH_VARARGS | METH_CLASS, NULL},
    {NULL, NULL, 0, NULL}
};

PyTypeObject PgConnType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pgmini.Connection",
    .tp_basicsize = sizeof(PgConn),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = pg_methods,
};
