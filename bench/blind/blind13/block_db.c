/* _dbglue: thin DB-API helpers over sqlite3, libpq, libmysqlclient, ODBC and libldap. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* ---- sqlite3.h ---- */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
#define SQLITE_OK 0
#define SQLITE_ROW 100
#define SQLITE_DONE 101
#define SQLITE_INTEGER 1
#define SQLITE_FLOAT 2
#define SQLITE_TEXT 3
#define SQLITE_NULL 5
int sqlite3_step(sqlite3_stmt *);
int sqlite3_reset(sqlite3_stmt *);
int sqlite3_exec(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *, char **);
int sqlite3_column_count(sqlite3_stmt *);
int sqlite3_column_type(sqlite3_stmt *, int);
long long sqlite3_column_int64(sqlite3_stmt *, int);
double sqlite3_column_double(sqlite3_stmt *, int);
const unsigned char *sqlite3_column_text(sqlite3_stmt *, int);
int sqlite3_column_bytes(sqlite3_stmt *, int);
const char *sqlite3_errmsg(sqlite3 *);
void sqlite3_free(void *);
/* ---- libpq-fe.h ---- */
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef enum { PGRES_EMPTY_QUERY = 0, PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_OUT,
               PGRES_COPY_IN, PGRES_BAD_RESPONSE, PGRES_NONFATAL_ERROR, PGRES_FATAL_ERROR } ExecStatusType;
PGresult *PQexec(PGconn *conn, const char *query);
int PQsendQuery(PGconn *conn, const char *query);
PGresult *PQgetResult(PGconn *conn);
ExecStatusType PQresultStatus(const PGresult *res);
int PQntuples(const PGresult *res);
int PQnfields(const PGresult *res);
char *PQgetvalue(const PGresult *res, int tup_num, int field_num);
int PQgetisnull(const PGresult *res, int tup_num, int field_num);
char *PQerrorMessage(const PGconn *conn);
void PQclear(PGresult *res);
/* ---- mysql.h ---- */
typedef struct st_mysql MYSQL;
typedef struct st_mysql_res MYSQL_RES;
typedef char **MYSQL_ROW;
MYSQL *mysql_init(MYSQL *mysql);
MYSQL *mysql_real_connect(MYSQL *mysql, const char *host, const char *user, const char *passwd,
                          const char *db, unsigned int port, const char *unix_socket,
                          unsigned long clientflag);
int mysql_query(MYSQL *mysql, const char *q);
MYSQL_RES *mysql_store_result(MYSQL *mysql);
unsigned long long mysql_affected_rows(MYSQL *mysql);
const char *mysql_error(MYSQL *mysql);
void mysql_close(MYSQL *sock);
/* ---- sql.h / sqlext.h ---- */
typedef short SQLSMALLINT;
typedef unsigned short SQLUSMALLINT;
typedef long SQLLEN;
typedef SQLSMALLINT SQLRETURN;
typedef void *SQLHANDLE;
typedef SQLHANDLE SQLHSTMT;
typedef void *SQLPOINTER;
#define SQL_SUCCESS 0
#define SQL_SUCCESS_WITH_INFO 1
#define SQL_NO_DATA 100
#define SQL_C_CHAR 1
#define SQL_NULL_DATA (-1)
#define SQL_SUCCEEDED(rc) (((rc) & (~1)) == 0)
SQLRETURN SQLExecute(SQLHSTMT StatementHandle);
SQLRETURN SQLFetch(SQLHSTMT StatementHandle);
SQLRETURN SQLGetData(SQLHSTMT StatementHandle, SQLUSMALLINT ColumnNumber, SQLSMALLINT TargetType,
                     SQLPOINTER TargetValue, SQLLEN BufferLength, SQLLEN *StrLen_or_IndPtr);
SQLRETURN SQLNumResultCols(SQLHSTMT StatementHandle, SQLSMALLINT *ColumnCount);
/* ---- ldap.h ---- */
typedef struct ldap LDAP;
typedef struct ldapmsg LDAPMessage;
typedef struct ldapcontrol LDAPControl;
struct timeval;
#define LDAP_SCOPE_SUBTREE 2
#define LDAP_SUCCESS 0
#define LDAP_NO_LIMIT 0
int ldap_search_ext_s(LDAP *ld, const char *base, int scope, const char *filter, char **attrs,
                      int attrsonly, LDAPControl **serverctrls, LDAPControl **clientctrls,
                      struct timeval *timeout, int sizelimit, LDAPMessage **res);
int ldap_count_entries(LDAP *ld, LDAPMessage *chain);
int ldap_msgfree(LDAPMessage *lm);
char *ldap_err2string(int err);
/* ---- end ---- */

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
    sqlite3_stmt *stmt;
} SqliteCursor;

typedef struct {
    PyObject_HEAD
    PGconn *pg;
    MYSQL *my;
    SQLHSTMT hstmt;
    LDAP *ld;
} Conn;

static PyObject *
row_from_stmt(sqlite3_stmt *st)
{
    int i, n = sqlite3_column_count(st);
    PyObject *row = PyTuple_New(n);
    if (row == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *v;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v = PyLong_FromLongLong(sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            v = PyFloat_FromDouble(sqlite3_column_double(st, i));
            break;
        case SQLITE_NULL:
            v = Py_NewRef(Py_None);
            break;
        default:
            v = PyUnicode_FromStringAndSize((const char *)sqlite3_column_text(st, i),
                                            sqlite3_column_bytes(st, i));
            break;
        }
        if (v == NULL) {
            Py_DECREF(row);
            return NULL;
        }
        PyTuple_SET_ITEM(row, i, v);
    }
    return row;
}

static PyObject *
bad_cursor_fetchall(SqliteCursor *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *rows = PyList_New(0);
    int rc;

    if (rows == NULL)
        return NULL;
    while ((rc = sqlite3_step(self->stmt)) == SQLITE_ROW) {
        PyObject *row = row_from_stmt(self->stmt);
        if (row == NULL || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(rows);
            sqlite3_reset(self->stmt);
            return NULL;
        }
        Py_DECREF(row);
    }
    sqlite3_reset(self->stmt);
    if (rc != SQLITE_DONE) {
        Py_DECREF(rows);
        PyErr_SetString(PyExc_RuntimeError, sqlite3_errmsg(self->db));
        return NULL;
    }
    return rows;
}

static PyObject *
ok_cursor_fetchone(SqliteCursor *self, PyObject *Py_UNUSED(ignored))
{
    int rc;

    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_step(self->stmt);
    Py_END_ALLOW_THREADS
    if (rc == SQLITE_DONE) {
        sqlite3_reset(self->stmt);
        Py_RETURN_NONE;
    }
    if (rc != SQLITE_ROW) {
        PyErr_SetString(PyExc_RuntimeError, sqlite3_errmsg(self->db));
        return NULL;
    }
    return row_from_stmt(self->stmt);
}

static PyObject *
bad_cursor_executescript(SqliteCursor *self, PyObject *arg)
{
    const char *script = PyUnicode_AsUTF8(arg);
    char *err = NULL;

    if (script == NULL)
        return NULL;
    if (sqlite3_exec(self->db, script, NULL, NULL, &err) != SQLITE_OK) {
        PyErr_SetString(PyExc_RuntimeError, err ? err : "executescript failed");
        sqlite3_free(err);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
pg_rows_to_list(PGresult *res)
{
    int r, c, nr = PQntuples(res), nc = PQnfields(res);
    PyObject *out = PyList_New(nr);
    if (out == NULL)
        return NULL;
    for (r = 0; r < nr; r++) {
        PyObject *t = PyTuple_New(nc);
        if (t == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        for (c = 0; c < nc; c++) {
            PyObject *v = PQgetisnull(res, r, c) ? Py_NewRef(Py_None)
                                                 : PyUnicode_FromString(PQgetvalue(res, r, c));
            if (v == NULL) {
                Py_DECREF(t);
                Py_DECREF(out);
                return NULL;
            }
            PyTuple_SET_ITEM(t, c, v);
        }
        PyList_SET_ITEM(out, r, t);
    }
    return out;
}

static PyObject *
ok_pg_execute(Conn *self, PyObject *args)
{
    const char *sql;
    PGresult *res;
    PyObject *out;

    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    res = PQexec(self->pg, sql);
    Py_END_ALLOW_THREADS
    if (res == NULL)
        return PyErr_NoMemory();
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
        out = pg_rows_to_list(res);
        break;
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        out = Py_NewRef(Py_None);
        break;
    default:
        PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(self->pg));
        out = NULL;
        break;
    }
    PQclear(res);
    return out;
}

static PyObject *
bad_pg_execute_sync(Conn *self, PyObject *args)
{
    const char *sql;
    PGresult *res;
    PyObject *out;

    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    res = PQexec(self->pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(self->pg));
        PQclear(res);
        return NULL;
    }
    out = pg_rows_to_list(res);
    PQclear(res);
    return out;
}

static PyObject *
bad_pg_run_batch(Conn *self, PyObject *args)
{
    const char *sql;
    PGresult *res;
    PyObject *results;

    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    if (!PQsendQuery(self->pg, sql)) {
        PyErr_SetString(PyExc_RuntimeError, PQerrorMessage(self->pg));
        return NULL;
    }
    results = PyList_New(0);
    if (results == NULL)
        return NULL;
    while ((res = PQgetResult(self->pg)) != NULL) {
        PyObject *rows = pg_rows_to_list(res);
        PQclear(res);
        if (rows == NULL || PyList_Append(results, rows) < 0) {
            Py_XDECREF(rows);
            Py_DECREF(results);
            return NULL;
        }
        Py_DECREF(rows);
    }
    return results;
}

static PyObject *
bad_mysql_connect(Conn *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"host", "user", "passwd", "db", "port", NULL};
    const char *host = NULL, *user = NULL, *passwd = NULL, *db = NULL;
    unsigned int port = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzzzI", kwlist, &host, &user, &passwd, &db, &port))
        return NULL;
    self->my = mysql_init(NULL);
    if (self->my == NULL)
        return PyErr_NoMemory();
    if (mysql_real_connect(self->my, host, user, passwd, db, port, NULL, 0) == NULL) {
        PyErr_SetString(PyExc_ConnectionError, mysql_error(self->my));
        mysql_close(self->my);
        self->my = NULL;
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ok_mysql_query(Conn *self, PyObject *args)
{
    const char *q;
    int rc;
    MYSQL_RES *result;

    if (!PyArg_ParseTuple(args, "s", &q))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = mysql_query(self->my, q);
    result = rc == 0 ? mysql_store_result(self->my) : NULL;
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_SetString(PyExc_RuntimeError, mysql_error(self->my));
        return NULL;
    }
    if (result == NULL)
        return PyLong_FromUnsignedLongLong(mysql_affected_rows(self->my));
    return PyCapsule_New(result, "MYSQL_RES", NULL);
}

static PyObject *
bad_mysql_exec(Conn *self, PyObject *arg)
{
    const char *q = PyUnicode_AsUTF8(arg);
    if (q == NULL)
        return NULL;
    if (mysql_query(self->my, q) != 0) {
        PyErr_SetString(PyExc_RuntimeError, mysql_error(self->my));
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(mysql_affected_rows(self->my));
}

static PyObject *
ok_odbc_execute(Conn *self, PyObject *Py_UNUSED(ignored))
{
    SQLRETURN ret;
    SQLSMALLINT ncols = 0;

    Py_BEGIN_ALLOW_THREADS
    ret = SQLExecute(self->hstmt);
    if (SQL_SUCCEEDED(ret))
        ret = SQLNumResultCols(self->hstmt, &ncols);
    Py_END_ALLOW_THREADS
    if (!SQL_SUCCEEDED(ret) && ret != SQL_NO_DATA) {
        PyErr_Format(PyExc_RuntimeError, "SQLExecute failed (%d)", (int)ret);
        return NULL;
    }
    return PyLong_FromLong(ncols);
}

static PyObject *
bad_odbc_fetchall(Conn *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *rows = PyList_New(0);
    char buf[4096];
    SQLLEN ind;
    SQLRETURN ret;

    if (rows == NULL)
        return NULL;
    for (;;) {
        PyObject *v;
        ret = SQLFetch(self->hstmt);
        if (ret == SQL_NO_DATA)
            break;
        if (!SQL_SUCCEEDED(ret)) {
            Py_DECREF(rows);
            PyErr_SetString(PyExc_RuntimeError, "SQLFetch failed");
            return NULL;
        }
        ret = SQLGetData(self->hstmt, 1, SQL_C_CHAR, buf, sizeof(buf), &ind);
        v = (ind == SQL_NULL_DATA) ? Py_NewRef(Py_None) : PyUnicode_FromString(buf);
        if (v == NULL || PyList_Append(rows, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(rows);
            return NULL;
        }
        Py_DECREF(v);
    }
    return rows;
}

static PyObject *
bad_ldap_search(Conn *self, PyObject *args)
{
    const char *base, *filter;
    LDAPMessage *res = NULL;
    int rc, count;

    if (!PyArg_ParseTuple(args, "ss", &base, &filter))
        return NULL;
    rc = ldap_search_ext_s(self->ld, base, LDAP_SCOPE_SUBTREE, filter, NULL, 0,
                           NULL, NULL, NULL, LDAP_NO_LIMIT, &res);
    if (rc != LDAP_SUCCESS) {
        if (res)
            ldap_msgfree(res);
        PyErr_SetString(PyExc_RuntimeError, ldap_err2string(rc));
        return NULL;
    }
    count = ldap_count_entries(self->ld, res);
    ldap_msgfree(res);
    return PyLong_FromLong(count);
}

static PyObject *
ok_ldap_search(Conn *self, PyObject *args)
{
    const char *base, *filter;
    LDAPMessage *res = NULL;
    int rc, count = 0;

    if (!PyArg_ParseTuple(args, "ss", &base, &filter))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = ldap_search_ext_s(self->ld, base, LDAP_SCOPE_SUBTREE, filter, NULL, 0,
                           NULL, NULL, NULL, LDAP_NO_LIMIT, &res);
    if (rc == LDAP_SUCCESS)
        count = ldap_count_entries(self->ld, res);
    if (res)
        ldap_msgfree(res);
    Py_END_ALLOW_THREADS
    if (rc != LDAP_SUCCESS) {
        PyErr_SetString(PyExc_RuntimeError, ldap_err2string(rc));
        return NULL;
    }
    return PyLong_FromLong(count);
}

static PyObject *
ok_pg_result_rows(Conn *self, PyObject *capsule)
{
    /* Pure result-object accessors: no network round trip, GIL held is fine. */
    PGresult *res = PyCapsule_GetPointer(capsule, "PGresult");
    (void)self;
    if (res == NULL)
        return NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return PyList_New(0);
    return pg_rows_to_list(res);
}

static PyMethodDef Cursor_methods[] = {
    {"fetchall", (PyCFunction)bad_cursor_fetchall, METH_NOARGS, NULL},
    {"fetchone", (PyCFunction)ok_cursor_fetchone, METH_NOARGS, NULL},
    {"executescript", (PyCFunction)bad_cursor_executescript, METH_O, NULL},
    {NULL}
};
static PyMethodDef Conn_methods[] = {
    {"pg_execute", (PyCFunction)ok_pg_execute, METH_VARARGS, NULL},
    {"pg_execute_sync", (PyCFunction)bad_pg_execute_sync, METH_VARARGS, NULL},
    {"pg_run_batch", (PyCFunction)bad_pg_run_batch, METH_VARARGS, NULL},
    {"pg_result_rows", (PyCFunction)ok_pg_result_rows, METH_O, NULL},
    {"mysql_connect", (PyCFunction)(void (*)(void))bad_mysql_connect, METH_VARARGS | METH_KEYWORDS, NULL},
    {"mysql_query", (PyCFunction)ok_mysql_query, METH_VARARGS, NULL},
    {"mysql_exec", (PyCFunction)bad_mysql_exec, METH_O, NULL},
    {"odbc_execute", (PyCFunction)ok_odbc_execute, METH_NOARGS, NULL},
    {"odbc_fetchall", (PyCFunction)bad_odbc_fetchall, METH_NOARGS, NULL},
    {"ldap_search", (PyCFunction)bad_ldap_search, METH_VARARGS, NULL},
    {"ldap_search_nogil", (PyCFunction)ok_ldap_search, METH_VARARGS, NULL},
    {NULL}
};
static PyTypeObject CursorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_dbglue.Cursor", .tp_basicsize = sizeof(SqliteCursor),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Cursor_methods, .tp_new = PyType_GenericNew,
};
static PyTypeObject ConnType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_dbglue.Conn", .tp_basicsize = sizeof(Conn),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Conn_methods, .tp_new = PyType_GenericNew,
};
static struct PyModuleDef dbglue_module = { PyModuleDef_HEAD_INIT, "_dbglue", NULL, -1, NULL };

PyMODINIT_FUNC
PyInit__dbglue(void)
{
    PyObject *m;
    if (PyType_Ready(&CursorType) < 0 || PyType_Ready(&ConnType) < 0)
        return NULL;
    m = PyModule_Create(&dbglue_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CursorType);
    PyModule_AddObject(m, "Cursor", (PyObject *)&CursorType);
    Py_INCREF(&ConnType);
    PyModule_AddObject(m, "Conn", (PyObject *)&ConnType);
    return m;
}
