/* _feedclient: Python binding for the in-house market-data feed library. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stddef.h>

/* feed/vendor.h */
typedef struct vendor_conn vendor_conn;
typedef struct {
    char symbol[16];
    double bid, ask;
    long long ts_ns;
} vendor_quote;
extern int vendor_fetch(vendor_conn *c, const char *symbol, vendor_quote *out, int timeout_ms);
extern int vendor_lookup_cached(vendor_conn *c, const char *symbol, vendor_quote *out);
extern const char *vendor_last_error(vendor_conn *c);

typedef struct {
    PyObject_HEAD
    vendor_conn *conn;
    int timeout_ms;
    PyObject *listener;
    pthread_t poller;
    const char *poll_symbol;
} Feed;

static PyObject *
quote_to_tuple(const vendor_quote *q)
{
    return Py_BuildValue("(sddL)", q->symbol, q->bid, q->ask, q->ts_ns);
}

static PyObject *
ok_feed_quote(Feed *self, PyObject *args)
{
    const char *sym;
    vendor_quote q;
    int rc;

    if (!PyArg_ParseTuple(args, "s", &sym))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = vendor_fetch(self->conn, sym, &q, self->timeout_ms);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_SetString(PyExc_ConnectionError, vendor_last_error(self->conn));
        return NULL;
    }
    return quote_to_tuple(&q);
}

static PyObject *
ok_feed_quotes(Feed *self, PyObject *seq)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of symbols");
    PyObject *out = NULL;
    Py_ssize_t i, n;

    if (fast == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(fast);
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        const char *sym = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
        vendor_quote q;
        int rc;
        PyObject *t;
        if (sym == NULL)
            goto fail;
        Py_BEGIN_ALLOW_THREADS
        rc = vendor_fetch(self->conn, sym, &q, self->timeout_ms);
        Py_END_ALLOW_THREADS
        if (rc != 0) {
            PyErr_SetString(PyExc_ConnectionError, vendor_last_error(self->conn));
            goto fail;
        }
        t = quote_to_tuple(&q);
        if (t == NULL)
            goto fail;
        PyList_SET_ITEM(out, i, t);
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    Py_DECREF(fast);
    return out;
}

static PyObject *
ok_feed_mid(Feed *self, PyObject *arg)
{
    const char *sym = PyUnicode_AsUTF8(arg);
    vendor_quote q;
    int rc;
    PyThreadState *ts;

    if (sym == NULL)
        return NULL;
    ts = PyEval_SaveThread();
    rc = vendor_fetch(self->conn, sym, &q, self->timeout_ms);
    PyEval_RestoreThread(ts);
    if (rc != 0) {
        PyErr_SetString(PyExc_ConnectionError, vendor_last_error(self->conn));
        return NULL;
    }
    return PyFloat_FromDouble((q.bid + q.ask) / 2.0);
}

static PyObject *
bad_feed_spread(Feed *self, PyObject *arg)
{
    const char *sym = PyUnicode_AsUTF8(arg);
    vendor_quote q;

    if (sym == NULL)
        return NULL;
    if (vendor_fetch(self->conn, sym, &q, self->timeout_ms) != 0) {
        PyErr_SetString(PyExc_ConnectionError, vendor_last_error(self->conn));
        return NULL;
    }
    return PyFloat_FromDouble(q.ask - q.bid);
}

static PyObject *
ok_feed_cached(Feed *self, PyObject *arg)
{
    const char *sym = PyUnicode_AsUTF8(arg);
    vendor_quote q;

    if (sym == NULL)
        return NULL;
    if (vendor_lookup_cached(self->conn, sym, &q) != 0)
        Py_RETURN_NONE;
    return quote_to_tuple(&q);
}

static void *
bad_feed_poller(void *arg)
{
    Feed *self = (Feed *)arg;
    for (;;) {
        vendor_quote q;
        PyObject *t, *r;
        PyGILState_STATE g = PyGILState_Ensure();
        if (vendor_fetch(self->conn, self->poll_symbol, &q, self->timeout_ms) != 0) {
            PyGILState_Release(g);
            break;
        }
        t = quote_to_tuple(&q);
        r = t ? PyObject_CallOneArg(self->listener, t) : NULL;
        Py_XDECREF(t);
        if (r == NULL)
            PyErr_WriteUnraisable(self->listener);
        Py_XDECREF(r);
        PyGILState_Release(g);
    }
    return NULL;
}

static PyObject *
Feed_subscribe(Feed *self, PyObject *args)
{
    PyObject *listener;
    const char *sym;
    if (!PyArg_ParseTuple(args, "sO", &sym, &listener))
        return NULL;
    self->poll_symbol = sym;
    Py_XSETREF(self->listener, Py_NewRef(listener));
    if (pthread_create(&self->poller, NULL, bad_feed_poller, self) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot start poller");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Feed_methods[] = {
    {"quote", (PyCFunction)ok_feed_quote, METH_VARARGS, NULL},
    {"quotes", (PyCFunction)ok_feed_quotes, METH_O, NULL},
    {"mid", (PyCFunction)ok_feed_mid, METH_O, NULL},
    {"spread", (PyCFunction)bad_feed_spread, METH_O, NULL},
    {"cached", (PyCFunction)ok_feed_cached, METH_O, NULL},
    {"subscribe", (PyCFunction)Feed_subscribe, METH_VARARGS, NULL},
    {NULL}
};
static PyTypeObject FeedType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_feedclient.Feed", .tp_basicsize = sizeof(Feed),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Feed_methods, .tp_new = PyType_GenericNew,
};
static struct PyModuleDef feed_module = { PyModuleDef_HEAD_INIT, "_feedclient", NULL, -1, NULL };

PyMODINIT_FUNC
PyInit__feedclient(void)
{
    PyObject *m;
    if (PyType_Ready(&FeedType) < 0)
        return NULL;
    m = PyModule_Create(&feed_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&FeedType);
    PyModule_AddObject(m, "Feed", (PyObject *)&FeedType);
    return m;
}
