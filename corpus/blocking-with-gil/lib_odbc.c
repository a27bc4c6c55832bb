// ODBC calls that go through the driver to the database (rules/libs/odbc.yml) made while holding the GIL, in
// their ANSI and wide-character forms, and the calls that only read what the driver holds. The prototypes are
// declared here: the ODBC headers are not needed.
#include <Python.h>
#include <wchar.h>

typedef void *SQLHANDLE;
typedef SQLHANDLE SQLHDBC, SQLHSTMT, SQLHWND;
typedef short SQLSMALLINT, SQLRETURN;
typedef unsigned short SQLUSMALLINT;
typedef int SQLINTEGER;
typedef long SQLLEN;
typedef unsigned char SQLCHAR;
typedef unsigned short SQLWCHAR;
SQLRETURN SQLDriverConnectW(SQLHDBC dbc, SQLHWND hwnd, SQLWCHAR *in, SQLSMALLINT inlen, SQLWCHAR *out,
                            SQLSMALLINT outmax, SQLSMALLINT *outlen, SQLUSMALLINT completion);
SQLRETURN SQLExecDirect(SQLHSTMT stmt, SQLCHAR *text, SQLINTEGER len);
SQLRETURN SQLExecDirectW(SQLHSTMT stmt, SQLWCHAR *text, SQLINTEGER len);
SQLRETURN SQLFetch(SQLHSTMT stmt);
SQLRETURN SQLGetData(SQLHSTMT stmt, SQLUSMALLINT col, SQLSMALLINT type, void *value, SQLLEN max, SQLLEN *ind);
SQLRETURN SQLNumResultCols(SQLHSTMT stmt, SQLSMALLINT *count);
SQLRETURN SQLRowCount(SQLHSTMT stmt, SQLLEN *count);
SQLRETURN SQLEndTran(SQLSMALLINT type, SQLHANDLE handle, SQLSMALLINT completion);
SQLRETURN SQLTablesW(SQLHSTMT stmt, SQLWCHAR *cat, SQLSMALLINT n1, SQLWCHAR *schema, SQLSMALLINT n2,
                     SQLWCHAR *table, SQLSMALLINT n3, SQLWCHAR *type, SQLSMALLINT n4);

#define SQL_NTS (-3)
#define SQL_C_CHAR 1
#define SQL_HANDLE_DBC 2
#define SQL_COMMIT 0
#define SQL_SUCCEEDED(rc) (((rc) & (~1)) == 0)

typedef struct { PyObject_HEAD SQLHDBC dbc; SQLHSTMT stmt; } Cursor;

static PyObject *bad_execute_wide(PyObject *self, PyObject *arg)
{
    Cursor *c = (Cursor *)self;
    Py_ssize_t n;
    wchar_t *text = PyUnicode_AsWideCharString(arg, &n);
    if (text == NULL)
        return NULL;
    SQLWCHAR sql[512];
    for (Py_ssize_t i = 0; i <= n && i < 511; i++)
        sql[i] = (SQLWCHAR)text[i];
    sql[511] = 0;
    PyMem_Free(text);
    SQLRETURN rc = SQLExecDirectW(c->stmt, sql, SQL_NTS);   // expect-warning{{SQLExecDirectW() may block while this thread holds the GIL}} [blocking-with-gil]
    return PyBool_FromLong(SQL_SUCCEEDED(rc));
}

/* Fetches each row and its long column with the GIL held. */
static PyObject *bad_fetch_column(PyObject *self, PyObject *unused)
{
    Cursor *c = (Cursor *)self;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    char buf[4096];
    SQLLEN ind;
    while (SQL_SUCCEEDED(SQLFetch(c->stmt))) {                          // expect-warning{{SQL_SUCCEEDED (calls SQLFetch()) may block}} [blocking-with-gil]
        if (!SQL_SUCCEEDED(SQLGetData(c->stmt, 1, SQL_C_CHAR, buf, sizeof buf, &ind)))   // expect-warning{{calls SQLGetData()) may block}} [blocking-with-gil]
            break;
        PyObject *s = PyUnicode_FromString(buf);
        if (s == NULL || PyList_Append(out, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(s);
    }
    return out;
}

static PyObject *bad_commit(PyObject *self, PyObject *unused)
{
    Cursor *c = (Cursor *)self;
    SQLRETURN rc = SQLEndTran(SQL_HANDLE_DBC, c->dbc, SQL_COMMIT);   // expect-warning{{SQLEndTran() may block}} [blocking-with-gil]
    return PyBool_FromLong(SQL_SUCCEEDED(rc));
}

static PyObject *ok_execute(PyObject *self, PyObject *arg)
{
    Cursor *c = (Cursor *)self;
    const char *text = PyUnicode_AsUTF8(arg);
    if (text == NULL)
        return NULL;
    SQLRETURN rc;
    Py_BEGIN_ALLOW_THREADS
    rc = SQLExecDirect(c->stmt, (SQLCHAR *)text, SQL_NTS);
    Py_END_ALLOW_THREADS
    if (!SQL_SUCCEEDED(rc))
        return PyErr_Format(PyExc_RuntimeError, "execute failed: %d", rc);
    /* Column count and row count: what the driver already holds. */
    SQLSMALLINT cols = 0;
    SQLLEN rows = 0;
    SQLNumResultCols(c->stmt, &cols);
    SQLRowCount(c->stmt, &rows);
    return Py_BuildValue("(hl)", cols, (long)rows);
}

static PyObject *ok_connect_and_list(PyObject *self, PyObject *unused)
{
    Cursor *c = (Cursor *)self;
    static SQLWCHAR dsn[] = {'D', 'S', 'N', '=', 'x', 0};
    static SQLWCHAR table_type[] = {'T', 'A', 'B', 'L', 'E', 0};
    SQLRETURN rc;
    Py_BEGIN_ALLOW_THREADS
    rc = SQLDriverConnectW(c->dbc, NULL, dsn, SQL_NTS, NULL, 0, NULL, 0);
    if (SQL_SUCCEEDED(rc))
        rc = SQLTablesW(c->stmt, NULL, 0, NULL, 0, NULL, 0, table_type, SQL_NTS);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(SQL_SUCCEEDED(rc));
}

static PyMethodDef Cursor_methods[] = {
    {"execute_wide", bad_execute_wide, METH_O, NULL},
    {"fetch_column", bad_fetch_column, METH_NOARGS, NULL},
    {"commit", bad_commit, METH_NOARGS, NULL},
    {"execute", ok_execute, METH_O, NULL},
    {"connect_and_list", ok_connect_and_list, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
