// MySQL/MariaDB client calls that wait for the server (rules/libs/mysql.yml) made while holding the GIL, and the
// calls that only read a buffered result. The prototypes are declared here: the client headers are not needed.
#include <Python.h>

typedef struct st_mysql MYSQL;
typedef struct st_mysql_res MYSQL_RES;
typedef struct st_mysql_stmt MYSQL_STMT;
typedef char **MYSQL_ROW;
int mysql_real_query(MYSQL *mysql, const char *q, unsigned long length);
MYSQL_RES *mysql_store_result(MYSQL *mysql);
MYSQL_ROW mysql_fetch_row(MYSQL_RES *result);
unsigned long long mysql_num_rows(MYSQL_RES *result);
void mysql_free_result(MYSQL_RES *result);
int mysql_stmt_execute(MYSQL_STMT *stmt);
int mysql_stmt_fetch(MYSQL_STMT *stmt);
char mysql_commit(MYSQL *mysql);
int mysql_ping(MYSQL *mysql);

typedef struct { PyObject_HEAD MYSQL *db; MYSQL_STMT *stmt; } Connection;

static PyObject *bad_query(PyObject *self, PyObject *arg)
{
    Connection *c = (Connection *)self;
    Py_ssize_t len;
    const char *sql = PyUnicode_AsUTF8AndSize(arg, &len);
    if (sql == NULL)
        return NULL;
    if (mysql_real_query(c->db, sql, (unsigned long)len) != 0)   // expect-warning{{mysql_real_query() may block while this thread holds the GIL}} [blocking-with-gil]
        return PyErr_Format(PyExc_RuntimeError, "query failed");
    Py_RETURN_NONE;
}

/* Prepared statements are unbuffered by default: each fetch reads a row from the network. */
static PyObject *bad_fetch_all(PyObject *self, PyObject *unused)
{
    Connection *c = (Connection *)self;
    long rows = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mysql_stmt_execute(c->stmt);
    Py_END_ALLOW_THREADS
    if (rc != 0)
        return PyErr_Format(PyExc_RuntimeError, "execute failed");
    while (mysql_stmt_fetch(c->stmt) == 0)         // expect-warning{{mysql_stmt_fetch() may block}} [blocking-with-gil]
        rows++;
    return PyLong_FromLong(rows);
}

static PyObject *bad_commit(PyObject *self, PyObject *unused)
{
    Connection *c = (Connection *)self;
    if (mysql_commit(c->db))                        // expect-warning{{mysql_commit() may block}} [blocking-with-gil]
        return PyErr_Format(PyExc_RuntimeError, "commit failed");
    Py_RETURN_NONE;
}

/* The query and the buffered read of the result without the GIL; then the rows come from memory. */
static PyObject *ok_query_rows(PyObject *self, PyObject *arg)
{
    Connection *c = (Connection *)self;
    Py_ssize_t len;
    const char *sql = PyUnicode_AsUTF8AndSize(arg, &len);
    if (sql == NULL)
        return NULL;
    MYSQL_RES *res = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mysql_real_query(c->db, sql, (unsigned long)len);
    if (rc == 0)
        res = mysql_store_result(c->db);
    Py_END_ALLOW_THREADS
    if (res == NULL)
        return PyErr_Format(PyExc_RuntimeError, "query failed");
    PyObject *out = PyList_New(0);
    MYSQL_ROW row;
    while (out != NULL && (row = mysql_fetch_row(res)) != NULL) {
        PyObject *s = PyUnicode_FromString(row[0] ? row[0] : "");
        if (s == NULL || PyList_Append(out, s) < 0)
            Py_CLEAR(out);
        Py_XDECREF(s);
    }
    mysql_free_result(res);
    return out;
}

static PyObject *ok_ping(PyObject *self, PyObject *unused)
{
    Connection *c = (Connection *)self;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mysql_ping(c->db);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(rc == 0);
}

static PyMethodDef Connection_methods[] = {
    {"query", bad_query, METH_O, NULL},
    {"fetch_all", bad_fetch_all, METH_NOARGS, NULL},
    {"commit", bad_commit, METH_NOARGS, NULL},
    {"query_rows", ok_query_rows, METH_O, NULL},
    {"ping", ok_ping, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
