/* py-lmdb style: preload() touches every page of a value living in the
 * memory map so the page faults (disk reads) happen now rather than later
 * while the GIL is held.  The project itself always calls it with the GIL
 * released ... except in one place. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "fakelibs.h"

typedef struct {
    PyObject_HEAD
    MDB_txn *txn;
    MDB_dbi dbi;
} TransObject;

typedef struct {
    PyObject_HEAD
    MDB_cursor *curs;
    MDB_val key;
    MDB_val val;
    int positioned;
} CursorObject;

#define UNLOCKED(out, e)            \
    Py_BEGIN_ALLOW_THREADS          \
    out = (e);                      \
    Py_END_ALLOW_THREADS

#define PRELOAD_UNLOCKED(_rc, _data, _size) \
    Py_BEGIN_ALLOW_THREADS                  \
    preload(_rc, _data, _size);             \
    Py_END_ALLOW_THREADS

/* Fault in every page of x; may take as long as reading `size` bytes from
 * disk. */
static void
preload(int rc, void *x, size_t size)
{
    if (rc == 0) {
        volatile char j;
        size_t i;

        for (i = 0; i < size; i += 4096)
            j = ((char *)x)[i];
        (void)j;
    }
}

static PyObject *
err_set(const char *what, int rc)
{
    PyErr_Format(PyExc_RuntimeError, "%s: %s", what, mdb_strerror(rc));
    return NULL;
}

static int
val_from_obj(PyObject *o, MDB_val *v)
{
    char *p;
    Py_ssize_t n;

    if (PyBytes_AsStringAndSize(o, &p, &n) < 0)
        return -1;
    v->mv_data = p;
    v->mv_size = (size_t)n;
    return 0;
}

/* OK: lookup and preload both run with the GIL released. */
static PyObject *
ok_trans_get(TransObject *self, PyObject *args)
{
    PyObject *keyobj;
    MDB_val key, val;
    int rc;

    if (!PyArg_ParseTuple(args, "O!:get", &PyBytes_Type, &keyobj))
        return NULL;
    if (val_from_obj(keyobj, &key) < 0)
        return NULL;

    Py_BEGIN_ALLOW_THREADS
    rc = mdb_get(self->txn, self->dbi, &key, &val);
    preload(rc, val.mv_data, val.mv_size);
    Py_END_ALLOW_THREADS

    if (rc == MDB_NOTFOUND)
        Py_RETURN_NONE;
    if (rc)
        return err_set("mdb_get", rc);
    return PyBytes_FromStringAndSize(val.mv_data, (Py_ssize_t)val.mv_size);
}

/* OK: cursor positioning and preload via the *_UNLOCKED macros. */
static PyObject *
ok_cursor_value(CursorObject *self, PyObject *Py_UNUSED(ignored))
{
    int rc;

    if (!self->positioned)
        return PyBytes_FromStringAndSize("", 0);

    UNLOCKED(rc, mdb_cursor_get(self->curs, &self->key, &self->val,
                                MDB_GET_CURRENT));
    if (rc)
        return err_set("mdb_cursor_get", rc);
    PRELOAD_UNLOCKED(rc, self->val.mv_data, self->val.mv_size);
    return PyBytes_FromStringAndSize(self->val.mv_data,
                                     (Py_ssize_t)self->val.mv_size);
}

/* OK: iteration step; preload is again done with the GIL released. */
static PyObject *
ok_cursor_next_item(CursorObject *self, PyObject *Py_UNUSED(ignored))
{
    int rc;

    UNLOCKED(rc, mdb_cursor_get(self->curs, &self->key, &self->val,
                                MDB_NEXT));
    if (rc == MDB_NOTFOUND) {
        self->positioned = 0;
        Py_RETURN_NONE;
    }
    if (rc)
        return err_set("mdb_cursor_get", rc);
    self->positioned = 1;
    PRELOAD_UNLOCKED(0, self->val.mv_data, self->val.mv_size);
    return Py_BuildValue("(y#y#)",
                         (char *)self->key.mv_data, (Py_ssize_t)self->key.mv_size,
                         (char *)self->val.mv_data, (Py_ssize_t)self->val.mv_size);
}

/* BAD: pop() looks the value up released, but then calls preload() (page
 * faults over the whole value) with the GIL held. */
static PyObject *
bad_trans_pop(TransObject *self, PyObject *args)
{
    PyObject *keyobj, *val;
    MDB_val key, data;
    int rc;

    if (!PyArg_ParseTuple(args, "O!:pop", &PyBytes_Type, &keyobj))
        return NULL;
    if (val_from_obj(keyobj, &key) < 0)
        return NULL;

    UNLOCKED(rc, mdb_get(self->txn, self->dbi, &key, &data));
    if (rc == MDB_NOTFOUND)
        Py_RETURN_NONE;
    if (rc)
        return err_set("mdb_get", rc);

    preload(0, data.mv_data, data.mv_size);
    val = PyBytes_FromStringAndSize(data.mv_data, (Py_ssize_t)data.mv_size);
    if (val == NULL)
        return NULL;

    UNLOCKED(rc, mdb_del(self->txn, self->dbi, &key, NULL));
    if (rc) {
        Py_DECREF(val);
        return err_set("mdb_del", rc);
    }
    return val;
}

static PyMethodDef Trans_methods[] = {
    {"get", (PyCFunction)ok_trans_get, METH_VARARGS, NULL},
    {"pop", (PyCFunction)bad_trans_pop, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyMethodDef Cursor_methods[] = {
    {"value", (PyCFunction)ok_cursor_value, METH_NOARGS, NULL},
    {"next_item", (PyCFunction)ok_cursor_next_item, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};
