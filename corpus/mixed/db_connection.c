// A database connection object in the style of a DB-API driver: each query drops the GIL around the
// engine call. Several methods get an exit path or a Python call on the wrong side of the region.
#include <Python.h>

typedef struct {
    PyObject_HEAD
    void *db;
    PyObject *row_factory;
    PyObject *trace_cb;
} Connection;

extern int engine_exec(void *db, const char *sql, char **errmsg);
extern int engine_busy(void *db);
extern void engine_free(char *p);

static PyObject *ok_execute(Connection *self, PyObject *args)
{
    const char *sql;
    char *err = NULL;
    int rc;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = engine_exec(self->db, sql, &err);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_SetString(PyExc_RuntimeError, err ? err : "unknown error");
        engine_free(err);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *bad_execute_traced(Connection *self, PyObject *args)
{
    const char *sql;
    char *err = NULL;
    int rc;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    if (self->trace_cb != NULL) {
        PyObject *r = PyObject_CallFunction(self->trace_cb, "s", sql);  // expect-error{{needs the GIL}} [api-without-gil]
        Py_XDECREF(r);                                                  // expect-error{{needs the GIL}} [api-without-gil]
    }
    rc = engine_exec(self->db, sql, &err);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        engine_free(err);
        return PyErr_Format(PyExc_RuntimeError, "exec failed (%d)", rc);
    }
    Py_RETURN_NONE;
}

static PyObject *bad_execute_retry(Connection *self, PyObject *args)
{
    const char *sql;
    char *err = NULL;
    int rc;
    if (!PyArg_ParseTuple(args, "s", &sql))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        rc = engine_exec(self->db, sql, &err);
        if (rc == 0)
            break;
        if (!engine_busy(self->db))
            return NULL;    // expect-error{{is not re-acquired}} [allow-threads-leak]
        engine_free(err);
        err = NULL;
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *bad_close(Connection *self, PyObject *unused)
{
    PyThreadState *ts = PyEval_SaveThread();
    engine_free(self->db);
    self->db = NULL;
    Py_CLEAR(self->row_factory);    // expect-error{{needs the GIL}} [api-without-gil]
    PyEval_RestoreThread(ts);
    Py_RETURN_NONE;
}

static PyObject *ok_close(Connection *self, PyObject *unused)
{
    void *db = self->db;
    self->db = NULL;
    Py_CLEAR(self->row_factory);
    Py_BEGIN_ALLOW_THREADS
    engine_free(db);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}
