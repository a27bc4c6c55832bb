// libpq calls that wait for the PostgreSQL server (rules/libs/libpq.yml) made while holding the GIL, and the
// asynchronous interface, which never waits. The prototypes are declared here: libpq's headers are not needed.
#include <Python.h>

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef struct pg_cancel PGcancel;
PGconn *PQconnectdb(const char *conninfo);
PGconn *PQconnectStart(const char *conninfo);
int PQconnectPoll(PGconn *conn);
PGresult *PQexec(PGconn *conn, const char *query);
PGresult *PQexecParams(PGconn *conn, const char *command, int n, const unsigned int *types,
                       const char *const *values, const int *lengths, const int *formats, int result_format);
int PQsendQuery(PGconn *conn, const char *query);
int PQconsumeInput(PGconn *conn);
int PQisBusy(PGconn *conn);
PGresult *PQgetResult(PGconn *conn);
int PQgetCopyData(PGconn *conn, char **buffer, int async);
int PQcancel(PGcancel *cancel, char *errbuf, int errbufsize);
void PQclear(PGresult *res);
int PQntuples(const PGresult *res);
void PQfinish(PGconn *conn);

typedef struct { PyObject_HEAD PGconn *conn; PGcancel *cancel; } Connection;

static PyObject *bad_execute(PyObject *self, PyObject *args)
{
    Connection *c = (Connection *)self;
    const char *sql;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    PGresult *res = PQexec(c->conn, sql);           // expect-warning{{PQexec() may block while this thread holds the GIL}} [blocking-with-gil]
    long n = PQntuples(res);
    PQclear(res);
    return PyLong_FromLong(n);
}

/* Reads the rows of COPY TO STDOUT, waiting for each with the GIL held. */
static PyObject *bad_copy_out(PyObject *self, PyObject *unused)
{
    Connection *c = (Connection *)self;
    PyObject *chunks = PyList_New(0);
    if (chunks == NULL)
        return NULL;
    char *buf;
    int n;
    while ((n = PQgetCopyData(c->conn, &buf, 0)) > 0) {   // expect-warning{{PQgetCopyData() may block}} [blocking-with-gil]
        PyObject *b = PyBytes_FromStringAndSize(buf, n);
        if (b == NULL || PyList_Append(chunks, b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(chunks);
            return NULL;
        }
        Py_DECREF(b);
    }
    return chunks;
}

/* A cancel request opens a new connection to the server. */
static PyObject *bad_cancel(PyObject *self, PyObject *unused)
{
    Connection *c = (Connection *)self;
    char err[256];
    if (!PQcancel(c->cancel, err, sizeof err))      // expect-warning{{PQcancel() may block}} [blocking-with-gil]
        return PyErr_Format(PyExc_RuntimeError, "cancel failed: %s", err);
    Py_RETURN_NONE;
}

static PyObject *ok_execute_params(PyObject *self, PyObject *args)
{
    Connection *c = (Connection *)self;
    const char *sql, *value;
    if (!PyArg_ParseTuple(args, "ss", &sql, &value))
        return NULL;
    const char *values[1] = {value};
    PGresult *res;
    Py_BEGIN_ALLOW_THREADS
    res = PQexecParams(c->conn, sql, 1, NULL, values, NULL, NULL, 0);
    Py_END_ALLOW_THREADS
    long n = PQntuples(res);
    PQclear(res);
    return PyLong_FromLong(n);
}

/* The asynchronous interface: send, then poll from the event loop. None of these waits. */
static PyObject *ok_send_and_poll(PyObject *self, PyObject *args)
{
    Connection *c = (Connection *)self;
    const char *sql;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    if (!PQsendQuery(c->conn, sql) || !PQconsumeInput(c->conn))
        return PyErr_Format(PyExc_RuntimeError, "send failed");
    if (PQisBusy(c->conn))
        Py_RETURN_NONE;                             /* come back when the socket is readable */
    return PyBool_FromLong(1);
}

static PyObject *ok_connect_async(PyObject *self, PyObject *arg)
{
    const char *conninfo = PyUnicode_AsUTF8(arg);
    if (conninfo == NULL)
        return NULL;
    PGconn *conn = PQconnectStart(conninfo);
    return PyLong_FromLong(PQconnectPoll(conn));
}

static PyObject *ok_connect_and_close(PyObject *self, PyObject *arg)
{
    const char *conninfo = PyUnicode_AsUTF8(arg);
    if (conninfo == NULL)
        return NULL;
    PGconn *conn;
    Py_BEGIN_ALLOW_THREADS
    conn = PQconnectdb(conninfo);
    PQfinish(conn);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// Non-blocking reads: PQgetResult() is called only once PQisBusy() said the connection is not busy, so it
// returns at once (the loop waits with the GIL released otherwise).
static PyObject *ok_read_when_not_busy(PyObject *self, PyObject *noargs)
{
    Connection *c = (Connection *)self;
    long rows = 0;
    for (;;) {
        if (!PQconsumeInput(c->conn))
            return PyErr_Format(PyExc_OSError, "connection lost");
        if (PQisBusy(c->conn)) {
            Py_BEGIN_ALLOW_THREADS
            PQconsumeInput(c->conn);
            Py_END_ALLOW_THREADS
            continue;
        }
        PGresult *res = PQgetResult(c->conn);
        if (res == NULL)
            break;
        rows += PQntuples(res);
        PQclear(res);
    }
    return PyLong_FromLong(rows);
}

// The same loop reading a second result without asking again: the first PQgetResult() may leave the connection
// busy with the next one, and the second waits for it.
static PyObject *bad_second_result_unchecked(PyObject *self, PyObject *noargs)
{
    Connection *c = (Connection *)self;
    PGresult *first, *second;
    if (!PQconsumeInput(c->conn) || PQisBusy(c->conn))
        Py_RETURN_NONE;
    first = PQgetResult(c->conn);
    PQclear(first);
    second = PQgetResult(c->conn);   // expect-warning{{PQgetResult() may block while this thread holds the GIL}} [blocking-with-gil]
    PQclear(second);
    Py_RETURN_NONE;
}

// PQisBusy()'s answer kept in a variable and tested later (psycopg2's pq_get_result_async): the same promise.
static PyObject *ok_busy_kept_in_variable(PyObject *self, PyObject *noargs)
{
    Connection *c = (Connection *)self;
    long rows = 0;
    for (;;) {
        int busy;
        PGresult *res;
        busy = PQisBusy(c->conn);
        if (busy)
            return PyLong_FromLong(-1);   // try again later
        if ((res = PQgetResult(c->conn)) == NULL)
            break;
        rows += PQntuples(res);
        PQclear(res);
    }
    return PyLong_FromLong(rows);
}

static PyMethodDef Connection_methods[] = {
    {"execute", bad_execute, METH_VARARGS, NULL},
    {"busy_kept", ok_busy_kept_in_variable, METH_NOARGS, NULL},
    {"copy_out", bad_copy_out, METH_NOARGS, NULL},
    {"cancel", bad_cancel, METH_NOARGS, NULL},
    {"execute_params", ok_execute_params, METH_VARARGS, NULL},
    {"send_and_poll", ok_send_and_poll, METH_VARARGS, NULL},
    {"connect_async", ok_connect_async, METH_O, NULL},
    {"connect_and_close", ok_connect_and_close, METH_O, NULL},
    {"read_when_not_busy", ok_read_when_not_busy, METH_NOARGS, NULL},
    {"second_result_unchecked", bad_second_result_unchecked, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
