/* ledgerdb: sqlite / postgres / tile-store bindings */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include "ft.h"

typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_step(sqlite3_stmt *st);
int sqlite3_reset(sqlite3_stmt *st);
#define SQLITE_ROW 100
#define SQLITE_DONE 101

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
PGresult *PQexec(PGconn *c, const char *q);
int PQresultStatus(const PGresult *r);
int PQntuples(const PGresult *r);
void PQclear(PGresult *r);

/* project-internal tile store (implemented in tilestore.c, may fsync) */
struct tilestore;
extern int tilestore_flush(struct tilestore *ts);

typedef struct {
    PyObject_HEAD
    sqlite3_stmt *stmt;
    PGconn *pg;
    struct tilestore *ts;
    pthread_mutex_t qlock;
    long queue[64];
    int qlen;
} Ledger;

static PyObject *bad_db_step(PyObject *self, PyObject *noargs)
{
    Ledger *l = (Ledger *)self;
    int rc = sqlite3_step(l->stmt);
    if (rc == SQLITE_DONE) { sqlite3_reset(l->stmt); Py_RETURN_FALSE; }
    return PyBool_FromLong(rc == SQLITE_ROW);
}

static PyObject *ok_db_step(PyObject *self, PyObject *noargs)
{
    Ledger *l = (Ledger *)self;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_step(l->stmt);
    if (rc == SQLITE_DONE)
        sqlite3_reset(l->stmt);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(rc == SQLITE_ROW);
}

static PyObject *bad_pg_exec(PyObject *self, PyObject *arg)
{
    Ledger *l = (Ledger *)self;
    const char *q = PyUnicode_AsUTF8(arg);
    if (q == NULL) return NULL;
    PGresult *r = PQexec(l->pg, q);
    int n = PQntuples(r);
    PQclear(r);
    return PyLong_FromLong(n);
}

static PyObject *ok_pg_exec(PyObject *self, PyObject *arg)
{
    Ledger *l = (Ledger *)self;
    const char *q = PyUnicode_AsUTF8(arg);
    if (q == NULL) return NULL;
    PGresult *r;
    Py_BEGIN_ALLOW_THREADS
    r = PQexec(l->pg, q);
    Py_END_ALLOW_THREADS
    int n = PQntuples(r);
    PQclear(r);
    return PyLong_FromLong(n);
}

static PyObject *bad_queue_take(PyObject *self, PyObject *noargs)
{
    Ledger *l = (Ledger *)self;
    long v = -1;
    pthread_mutex_lock(&l->qlock);
    if (l->qlen > 0)
        v = l->queue[--l->qlen];
    pthread_mutex_unlock(&l->qlock);
    return PyLong_FromLong(v);
}

/* trylock never blocks, so holding the GIL is fine */
static PyObject *ok_queue_trytake(PyObject *self, PyObject *noargs)
{
    Ledger *l = (Ledger *)self;
    long v = -1;
    if (pthread_mutex_trylock(&l->qlock) != 0)
        Py_RETURN_NONE;
    if (l->qlen > 0)
        v = l->queue[--l->qlen];
    pthread_mutex_unlock(&l->qlock);
    return PyLong_FromLong(v);
}

static PyObject *ok_queue_take(PyObject *self, PyObject *noargs)
{
    Ledger *l = (Ledger *)self;
    long v = -1;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&l->qlock);
    if (l->qlen > 0)
        v = l->queue[--l->qlen];
    pthread_mutex_unlock(&l->qlock);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(v);
}

static PyObject *ok_tile_flush(PyObject *self, PyObject *noargs)
{
    Ledger *l = (Ledger *)self;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = tilestore_flush(l->ts);
    Py_END_ALLOW_THREADS
    if (rc != 0) return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *ok_tile_close(PyObject *self, PyObject *noargs)
{
    Ledger *l = (Ledger *)self;
    int rc = 0;
    if (l->ts != NULL) {
        Py_BEGIN_ALLOW_THREADS
        rc = tilestore_flush(l->ts);
        Py_END_ALLOW_THREADS
        l->ts = NULL;
    }
    return PyLong_FromLong(rc);
}

static PyObject *bad_tile_flush_now(PyObject *self, PyObject *noargs)
{
    Ledger *l = (Ledger *)self;
    if (l->ts == NULL) Py_RETURN_NONE;
    int rc = tilestore_flush(l->ts);
    return PyLong_FromLong(rc);
}

static PyMethodDef ledger_methods[] = {
    {"step", bad_db_step, METH_NOARGS, NULL},
    {"step_safe", ok_db_step, METH_NOARGS, NULL},
    {"pg_exec", bad_pg_exec, METH_O, NULL},
    {"pg_exec_safe", ok_pg_exec, METH_O, NULL},
    {"take", bad_queue_take, METH_NOARGS, NULL},
    {"try_take", ok_queue_trytake, METH_NOARGS, NULL},
    {"take_safe", ok_queue_take, METH_NOARGS, NULL},
    {"flush", ok_tile_flush, METH_NOARGS, NULL},
    {"close", ok_tile_close, METH_NOARGS, NULL},
    {"flush_now", bad_tile_flush_now, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject LedgerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ledgerdb.Ledger",
    .tp_basicsize = sizeof(Ledger),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = ledger_methods,
    .tp_new = PyType_GenericNew,
};

static int helper_exec(PyObject *m)
{
    if (PyType_Ready(&LedgerType) < 0) return -1;
    Py_INCREF(&LedgerType);
    if (PyModule_AddObject(m, "Ledger", (PyObject *)&LedgerType) < 0) { Py_DECREF(&LedgerType); return -1; }
    return 0;
}
static PyModuleDef_Slot ledger_slots[] = {
    {Py_mod_exec, helper_exec},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL}
};
static struct PyModuleDef ledger_module = {
    PyModuleDef_HEAD_INIT, "ledgerdb", NULL, 0, NULL, ledger_slots
};
PyMODINIT_FUNC PyInit_ledgerdb(void) { return PyModuleDef_Init(&ledger_module); }
