// libpq runs a connection's notice processor inside the call that reads the notice (PQexec(), PQgetResult(), ...),
// on the calling thread: where the extension makes that call with the GIL released, the processor runs without
// it. psycopg2's processor only queues the message in C for that reason; one that builds Python objects needs
// the GIL first.
#include <Python.h>

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef void (*PQnoticeProcessor)(void *arg, const char *message);
PGconn *PQconnectdb(const char *conninfo);
PGresult *PQexec(PGconn *conn, const char *query);
void PQclear(PGresult *res);
PQnoticeProcessor PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg);

typedef struct { PyObject_HEAD PGconn *conn; PyObject *notices; char last[256]; } Conn;

static void bad_notice_to_list(void *arg, const char *message)
{
    Conn *c = arg;
    PyObject *s = PyUnicode_FromString(message);   // expect-error{{'bad_notice_to_list' runs on a thread without it}} [thread-entry-without-gil]
    if (s != NULL) { PyList_Append(c->notices, s); Py_DECREF(s); }
}

static void ok_notice_copied(void *arg, const char *message)
{
    Conn *c = arg;
    snprintf(c->last, sizeof c->last, "%s", message);
}

static void ok_notice_with_gil(void *arg, const char *message)
{
    Conn *c = arg;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *s = PyUnicode_FromString(message);
    if (s != NULL) { PyList_Append(c->notices, s); Py_DECREF(s); }
    PyGILState_Release(st);
}

int conn_setup(Conn *c, int mode)
{
    PQsetNoticeProcessor(c->conn, mode == 0 ? bad_notice_to_list : mode == 1 ? ok_notice_copied : ok_notice_with_gil, c);
    return 0;
}

PyObject *conn_execute(Conn *c, PyObject *arg)
{
    const char *sql = PyUnicode_AsUTF8(arg);
    PGresult *res;
    if (sql == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    res = PQexec(c->conn, sql);
    Py_END_ALLOW_THREADS
    PQclear(res);
    Py_RETURN_NONE;
}
