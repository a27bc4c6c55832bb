/* bgio_module.c - _bgio: background I/O objects for a log-structured store.
 *
 *   Store   a kvdb database handle (closing it syncs to disk: slow)
 *   Writer  a writer thread that drains a queue into a Store and reports each
 *           write to an on_done callable (taking the GIL on its own thread)
 *   Reader  a prefetch thread that reads a file descriptor and hands chunks to
 *           an on_chunk callable (taking the GIL on its own thread)
 *   Conn    a netq connection with a send buffer, flushed when it is finalized
 *   Spool   a buffered append-only file, flushed and fsynced when finalized
 *
 * The module also runs a "flusher" thread that calls flush() on every Spool
 * registered with _bgio.autoflush(), once a second, with the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* kvdb (kvdb.h) */
typedef struct kvdb kvdb;
kvdb *kvdb_open(const char *path, int flags);
int kvdb_put(kvdb *db, const void *key, size_t klen, const void *val, size_t vlen);
int kvdb_sync(kvdb *db);
void kvdb_close(kvdb *db);
const char *kvdb_strerror(int err);

/* netq (netq.h) */
typedef struct netq netq;
netq *netq_connect(const char *host, int port, int timeout_ms);
int netq_send(netq *q, const void *buf, size_t len);   /* appends to the send buffer */
int netq_flush(netq *q, int timeout_ms);               /* blocks until sent or timeout */
void netq_close(netq *q);

typedef struct {
    PyObject *StoreType;
    PyObject *WriterType;
    PyObject *ReaderType;
    PyObject *ConnType;
    PyObject *SpoolType;
    PyObject *autoflush;          /* list of Spool objects */
    pthread_t flusher;
    int flusher_running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
} bgio_state;

/* ------------------------------------------------------------------ Store */

typedef struct {
    PyObject_HEAD
    kvdb *db;
    PyObject *path;
    PyObject *on_close;
} StoreObject;

static PyObject *Store_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"path", "flags", "on_close", NULL};
    PyObject *path, *on_close = NULL;
    const char *cpath;
    int flags = 0;
    kvdb *db;
    StoreObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|iO:Store", kwlist, &path, &flags, &on_close))
        return NULL;
    cpath = PyUnicode_AsUTF8(path);
    if (cpath == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    db = kvdb_open(cpath, flags);
    Py_END_ALLOW_THREADS
    if (db == NULL)
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    self = (StoreObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        kvdb_close(db);
        return NULL;
    }
    self->db = db;
    self->path = Py_NewRef(path);
    self->on_close = on_close != Py_None ? Py_XNewRef(on_close) : NULL;
    return (PyObject *)self;
}

static int Store_traverse(StoreObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->on_close);
    return 0;
}

static int Store_clear(StoreObject *self)
{
    Py_CLEAR(self->on_close);
    return 0;
}

// BAD: api-without-gil Py_CLEAR(self->path) was moved into the Py_BEGIN_ALLOW_THREADS block together with the slow sync and close
static void Store_dealloc(StoreObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->on_close);
    if (self->db != NULL) {
        kvdb *db = self->db;
        self->db = NULL;
        Py_BEGIN_ALLOW_THREADS
        kvdb_sync(db);
        kvdb_close(db);
        Py_CLEAR(self->path);
        Py_END_ALLOW_THREADS
    }
    Py_CLEAR(self->path);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *Store_put(StoreObject *self, PyObject *args)
{
    Py_buffer key, val;
    int rc;
    if (self->db == NULL) {
        PyErr_SetString(PyExc_ValueError, "store is closed");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*y*:put", &key, &val))
        return NULL;
    rc = kvdb_put(self->db, key.buf, (size_t)key.len, val.buf, (size_t)val.len);
    PyBuffer_Release(&key);
    PyBuffer_Release(&val);
    if (rc != 0) {
        PyErr_Format(PyExc_OSError, "put: %s", kvdb_strerror(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Store_sync(StoreObject *self, PyObject *Py_UNUSED(ignored))
{
    int rc;
    if (self->db == NULL)
        Py_RETURN_NONE;
    Py_BEGIN_ALLOW_THREADS
    rc = kvdb_sync(self->db);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_Format(PyExc_OSError, "sync: %s", kvdb_strerror(rc));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Store_methods[] = {
    {"put", (PyCFunction)Store_put, METH_VARARGS, NULL},
    {"sync", (PyCFunction)Store_sync, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Store_slots[] = {
    {Py_tp_new, Store_new},
    {Py_tp_dealloc, Store_dealloc},
    {Py_tp_traverse, Store_traverse},
    {Py_tp_clear, Store_clear},
    {Py_tp_methods, Store_methods},
    {0, NULL},
};

static PyType_Spec Store_spec = {
    "_bgio.Store", sizeof(StoreObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, Store_slots,
};

/* ------------------------------------------------------------------ Writer */

struct wjob {
    struct wjob *next;
    size_t klen, vlen;
    char data[];
};

typedef struct {
    PyObject_HEAD
    PyObject *store;          /* the StoreObject written to; kept alive */
    kvdb *db;
    PyObject *on_done;        /* called as on_done(key, status) on the writer thread */
    pthread_t thread;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct wjob *head, *tail;
    int stopping;
} WriterObject;

static void *writer_main(void *arg)
{
    WriterObject *w = arg;
    for (;;) {
        struct wjob *job;
        int rc;
        pthread_mutex_lock(&w->mu);
        while (w->head == NULL && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        job = w->head;
        if (job != NULL) {
            w->head = job->next;
            if (w->head == NULL)
                w->tail = NULL;
        }
        pthread_mutex_unlock(&w->mu);
        if (job == NULL)
            break;                      /* stopping, and the queue is drained */
        rc = kvdb_put(w->db, job->data, job->klen, job->data + job->klen, job->vlen);
        if (w->on_done != NULL) {
            PyGILState_STATE st = PyGILState_Ensure();
            PyObject *r = PyObject_CallFunction(w->on_done, "y#i", job->data, (Py_ssize_t)job->klen, rc);
            if (r == NULL)
                PyErr_WriteUnraisable(w->on_done);
            Py_XDECREF(r);
            PyGILState_Release(st);
        }
        free(job);
    }
    return NULL;
}

static PyObject *Writer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"store", "on_done", NULL};
    bgio_state *st = PyType_GetModuleState(type);
    PyObject *store, *on_done = Py_None;
    WriterObject *self;
    int err;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:Writer", kwlist, &store, &on_done))
        return NULL;
    if (st == NULL || !PyObject_TypeCheck(store, (PyTypeObject *)st->StoreType)) {
        PyErr_SetString(PyExc_TypeError, "Writer() needs a Store");
        return NULL;
    }
    if (((StoreObject *)store)->db == NULL) {
        PyErr_SetString(PyExc_ValueError, "store is closed");
        return NULL;
    }
    self = (WriterObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->store = Py_NewRef(store);
    self->db = ((StoreObject *)store)->db;
    self->on_done = on_done != Py_None ? Py_NewRef(on_done) : NULL;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    err = pthread_create(&self->thread, NULL, writer_main, self);
    if (err != 0) {
        errno = err;
        Py_DECREF(self);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->running = 1;
    return (PyObject *)self;
}

static PyObject *Writer_submit(WriterObject *self, PyObject *args)
{
    Py_buffer key, val;
    struct wjob *job;
    if (!PyArg_ParseTuple(args, "y*y*:submit", &key, &val))
        return NULL;
    job = malloc(sizeof *job + (size_t)key.len + (size_t)val.len);
    if (job == NULL) {
        PyBuffer_Release(&key);
        PyBuffer_Release(&val);
        return PyErr_NoMemory();
    }
    job->next = NULL;
    job->klen = (size_t)key.len;
    job->vlen = (size_t)val.len;
    memcpy(job->data, key.buf, job->klen);
    memcpy(job->data + job->klen, val.buf, job->vlen);
    PyBuffer_Release(&key);
    PyBuffer_Release(&val);
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->mu);
    if (self->tail != NULL)
        self->tail->next = job;
    else
        self->head = job;
    self->tail = job;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// BAD: blocking-with-gil pthread_join of the writer thread while holding the GIL; the thread needs the GIL for on_done while it drains the queue, so dealloc deadlocks
static void Writer_dealloc(WriterObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    struct wjob *job;
    if (self->running) {
        pthread_mutex_lock(&self->mu);
        self->stopping = 1;
        pthread_cond_broadcast(&self->cv);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->thread, NULL);
        self->running = 0;
    }
    while ((job = self->head) != NULL) {
        self->head = job->next;
        free(job);
    }
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    Py_CLEAR(self->on_done);
    Py_CLEAR(self->store);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef Writer_methods[] = {
    {"submit", (PyCFunction)Writer_submit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Writer_slots[] = {
    {Py_tp_new, Writer_new},
    {Py_tp_dealloc, Writer_dealloc},
    {Py_tp_methods, Writer_methods},
    {0, NULL},
};

static PyType_Spec Writer_spec = {
    "_bgio.Writer", sizeof(WriterObject), 0, Py_TPFLAGS_DEFAULT, Writer_slots,
};

/* ------------------------------------------------------------------ Reader */

typedef struct {
    PyObject_HEAD
    int fd;
    PyObject *on_chunk;       /* called as on_chunk(bytes) on the reader thread */
    pthread_t thread;
    int running;
    pthread_mutex_t mu;
    int stopping;
} ReaderObject;

static void *reader_main(void *arg)
{
    ReaderObject *r = arg;
    char buf[65536];
    for (;;) {
        struct pollfd pfd = {r->fd, POLLIN, 0};
        int stop, pr;
        ssize_t n;
        pthread_mutex_lock(&r->mu);
        stop = r->stopping;
        pthread_mutex_unlock(&r->mu);
        if (stop)
            break;
        pr = poll(&pfd, 1, 200);
        if (pr == 0 || (pr < 0 && errno == EINTR))
            continue;
        if (pr < 0)
            break;
        n = read(r->fd, buf, sizeof buf);
        if (n <= 0)
            break;
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *res = PyObject_CallFunction(r->on_chunk, "y#", buf, (Py_ssize_t)n);
        if (res == NULL)
            PyErr_WriteUnraisable(r->on_chunk);
        Py_XDECREF(res);
        PyGILState_Release(st);
    }
    return NULL;
}

static PyObject *Reader_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "on_chunk", NULL};
    int fd, err;
    PyObject *on_chunk;
    ReaderObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iO:Reader", kwlist, &fd, &on_chunk))
        return NULL;
    if (!PyCallable_Check(on_chunk)) {
        PyErr_SetString(PyExc_TypeError, "on_chunk must be callable");
        return NULL;
    }
    self = (ReaderObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->fd = fd;
    self->on_chunk = Py_NewRef(on_chunk);
    pthread_mutex_init(&self->mu, NULL);
    err = pthread_create(&self->thread, NULL, reader_main, self);
    if (err != 0) {
        errno = err;
        Py_DECREF(self);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->running = 1;
    return (PyObject *)self;
}

// OK: the stop request and pthread_join of the prefetch thread (which takes the GIL for on_chunk) run with the GIL released; references are dropped after Py_END_ALLOW_THREADS
static void Reader_dealloc(ReaderObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->running) {
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&self->mu);
        self->stopping = 1;
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->thread, NULL);
        Py_END_ALLOW_THREADS
        self->running = 0;
    }
    pthread_mutex_destroy(&self->mu);
    Py_CLEAR(self->on_chunk);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyType_Slot Reader_slots[] = {
    {Py_tp_new, Reader_new},
    {Py_tp_dealloc, Reader_dealloc},
    {0, NULL},
};

static PyType_Spec Reader_spec = {
    "_bgio.Reader", sizeof(ReaderObject), 0, Py_TPFLAGS_DEFAULT, Reader_slots,
};

/* ------------------------------------------------------------------ Conn */

typedef struct {
    PyObject_HEAD
    netq *q;
    PyObject *peer;           /* "host:port" */
    int linger_ms;
} ConnObject;

static PyObject *Conn_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"host", "port", "linger_ms", NULL};
    const char *host;
    int port, linger_ms = 2000;
    netq *q;
    ConnObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "si|i:Conn", kwlist, &host, &port, &linger_ms))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    q = netq_connect(host, port, 5000);
    Py_END_ALLOW_THREADS
    if (q == NULL)
        return PyErr_SetFromErrno(PyExc_ConnectionError);
    self = (ConnObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        netq_close(q);
        return NULL;
    }
    self->q = q;
    self->linger_ms = linger_ms;
    self->peer = PyUnicode_FromFormat("%s:%d", host, port);
    if (self->peer == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *Conn_send(ConnObject *self, PyObject *arg)
{
    Py_buffer view;
    int rc;
    if (self->q == NULL) {
        PyErr_SetString(PyExc_ValueError, "connection is closed");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    rc = netq_send(self->q, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

// BAD: api-without-gil PyErr_WarnFormat for unsent data is issued inside the Py_BEGIN_ALLOW_THREADS block that flushes and closes the connection
static void Conn_finalize(ConnObject *self)
{
    PyObject *exc_type, *exc_value, *exc_tb;
    netq *q = self->q;
    int linger = self->linger_ms;
    int rc;

    if (q == NULL)
        return;
    self->q = NULL;
    PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
    Py_BEGIN_ALLOW_THREADS
    rc = netq_flush(q, linger);
    if (rc < 0)
        PyErr_WarnFormat(PyExc_ResourceWarning, 1,
                         "connection to %U closed with unsent data", self->peer);
    netq_close(q);
    Py_END_ALLOW_THREADS
    PyErr_Restore(exc_type, exc_value, exc_tb);
}

static void Conn_dealloc(ConnObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
        return;                         /* resurrected */
    Py_CLEAR(self->peer);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef Conn_methods[] = {
    {"send", (PyCFunction)Conn_send, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Conn_slots[] = {
    {Py_tp_new, Conn_new},
    {Py_tp_finalize, Conn_finalize},
    {Py_tp_dealloc, Conn_dealloc},
    {Py_tp_methods, Conn_methods},
    {0, NULL},
};

static PyType_Spec Conn_spec = {
    "_bgio.Conn", sizeof(ConnObject), 0, Py_TPFLAGS_DEFAULT, Conn_slots,
};

/* ------------------------------------------------------------------ Spool */

typedef struct {
    PyObject_HEAD
    int fd;
    char *buf;
    size_t len, cap;
    PyObject *name;
    PyObject *on_close;       /* called as on_close(spool) before the final flush */
} SpoolObject;

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static PyObject *Spool_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "name", "on_close", NULL};
    int fd;
    PyObject *name, *on_close = Py_None;
    SpoolObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iU|O:Spool", kwlist, &fd, &name, &on_close))
        return NULL;
    self = (SpoolObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->fd = fd;
    self->name = Py_NewRef(name);
    self->on_close = on_close != Py_None ? Py_NewRef(on_close) : NULL;
    return (PyObject *)self;
}

static PyObject *Spool_write(SpoolObject *self, PyObject *arg)
{
    Py_buffer view;
    if (self->fd < 0) {
        PyErr_SetString(PyExc_ValueError, "spool is closed");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (self->len + (size_t)view.len > self->cap) {
        size_t cap = (self->len + (size_t)view.len) * 2;
        char *nb = realloc(self->buf, cap);
        if (nb == NULL) {
            PyBuffer_Release(&view);
            return PyErr_NoMemory();
        }
        self->buf = nb;
        self->cap = cap;
    }
    memcpy(self->buf + self->len, view.buf, (size_t)view.len);
    self->len += (size_t)view.len;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *Spool_flush(SpoolObject *self, PyObject *Py_UNUSED(ignored))
{
    int rc, fd = self->fd;
    char *buf = self->buf;
    size_t len = self->len;
    if (fd < 0 || len == 0)
        Py_RETURN_NONE;
    Py_BEGIN_ALLOW_THREADS
    rc = write_all(fd, buf, len);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    self->len = 0;
    Py_RETURN_NONE;
}

// OK: tp_finalize keeps the pending exception aside, calls Python only with the GIL, releases it only around the C write/fsync/close of local copies, and warns after Py_END_ALLOW_THREADS
static void Spool_finalize(SpoolObject *self)
{
    PyObject *exc_type, *exc_value, *exc_tb;
    char *buf;
    size_t len;
    int fd, rc;

    if (self->fd < 0)
        return;
    PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
    if (self->on_close != NULL) {
        PyObject *r = PyObject_CallOneArg(self->on_close, (PyObject *)self);
        if (r == NULL)
            PyErr_WriteUnraisable(self->on_close);
        Py_XDECREF(r);
    }
    fd = self->fd;
    buf = self->buf;
    len = self->len;
    self->fd = -1;
    self->buf = NULL;
    self->len = self->cap = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = write_all(fd, buf, len);
    if (rc == 0 && fsync(fd) < 0)
        rc = -1;
    if (close(fd) < 0 && rc == 0)
        rc = -1;
    free(buf);
    Py_END_ALLOW_THREADS
    if (rc < 0 && PyErr_WarnFormat(PyExc_ResourceWarning, 1,
                                   "spool %R lost buffered data", self->name) < 0)
        PyErr_WriteUnraisable((PyObject *)self);
    PyErr_Restore(exc_type, exc_value, exc_tb);
}

static void Spool_dealloc(SpoolObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
        return;
    free(self->buf);
    Py_CLEAR(self->name);
    Py_CLEAR(self->on_close);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef Spool_methods[] = {
    {"write", (PyCFunction)Spool_write, METH_O, NULL},
    {"flush", (PyCFunction)Spool_flush, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Spool_slots[] = {
    {Py_tp_new, Spool_new},
    {Py_tp_finalize, Spool_finalize},
    {Py_tp_dealloc, Spool_dealloc},
    {Py_tp_methods, Spool_methods},
    {0, NULL},
};

static PyType_Spec Spool_spec = {
    "_bgio.Spool", sizeof(SpoolObject), 0, Py_TPFLAGS_DEFAULT, Spool_slots,
};

/* ------------------------------------------------------------------ module */

static void *flusher_main(void *arg)
{
    bgio_state *st = arg;
    for (;;) {
        struct timespec until;
        int stop;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&st->mu);
        while (!st->stop && pthread_cond_timedwait(&st->cv, &st->mu, &until) == 0)
            ;
        stop = st->stop;
        pthread_mutex_unlock(&st->mu);
        if (stop)
            break;

        PyGILState_STATE g = PyGILState_Ensure();
        PyObject *spools = st->autoflush ? PySequence_List(st->autoflush) : NULL;
        if (spools != NULL) {
            Py_ssize_t i;
            for (i = 0; i < PyList_GET_SIZE(spools); i++) {
                PyObject *r = PyObject_CallMethod(PyList_GET_ITEM(spools, i), "flush", NULL);
                if (r == NULL)
                    PyErr_WriteUnraisable(PyList_GET_ITEM(spools, i));
                Py_XDECREF(r);
            }
            Py_DECREF(spools);
        }
        PyErr_Clear();
        PyGILState_Release(g);
    }
    return NULL;
}

static PyObject *bgio_autoflush(PyObject *module, PyObject *spool)
{
    bgio_state *st = PyModule_GetState(module);
    if (!PyObject_TypeCheck(spool, (PyTypeObject *)st->SpoolType)) {
        PyErr_SetString(PyExc_TypeError, "autoflush() takes a Spool");
        return NULL;
    }
    if (PyList_Append(st->autoflush, spool) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static int bgio_exec(PyObject *module)
{
    bgio_state *st = PyModule_GetState(module);
    int err;

#define ADD_TYPE(field, spec, name)                                              \
    do {                                                                         \
        st->field = PyType_FromModuleAndSpec(module, &(spec), NULL);             \
        if (st->field == NULL || PyModule_AddObjectRef(module, name, st->field) < 0) \
            return -1;                                                           \
    } while (0)
    ADD_TYPE(StoreType, Store_spec, "Store");
    ADD_TYPE(WriterType, Writer_spec, "Writer");
    ADD_TYPE(ReaderType, Reader_spec, "Reader");
    ADD_TYPE(ConnType, Conn_spec, "Conn");
    ADD_TYPE(SpoolType, Spool_spec, "Spool");
#undef ADD_TYPE

    st->autoflush = PyList_New(0);
    if (st->autoflush == NULL)
        return -1;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    err = pthread_create(&st->flusher, NULL, flusher_main, st);
    if (err != 0) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    st->flusher_running = 1;
    return 0;
}

static int bgio_traverse(PyObject *module, visitproc visit, void *arg)
{
    bgio_state *st = PyModule_GetState(module);
    Py_VISIT(st->StoreType);
    Py_VISIT(st->WriterType);
    Py_VISIT(st->ReaderType);
    Py_VISIT(st->ConnType);
    Py_VISIT(st->SpoolType);
    Py_VISIT(st->autoflush);
    return 0;
}

static int bgio_clear(PyObject *module)
{
    bgio_state *st = PyModule_GetState(module);
    Py_CLEAR(st->StoreType);
    Py_CLEAR(st->WriterType);
    Py_CLEAR(st->ReaderType);
    Py_CLEAR(st->ConnType);
    Py_CLEAR(st->SpoolType);
    Py_CLEAR(st->autoflush);
    return 0;
}

// BAD: blocking-with-gil m_free stops the flusher with pthread_join while holding the GIL, but the flusher takes the GIL on every tick
static void bgio_free(void *module)
{
    bgio_state *st = PyModule_GetState((PyObject *)module);
    if (st == NULL)
        return;
    if (st->flusher_running) {
        pthread_mutex_lock(&st->mu);
        st->stop = 1;
        pthread_cond_signal(&st->cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->flusher, NULL);
        st->flusher_running = 0;
    }
    bgio_clear((PyObject *)module);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
}

static PyMethodDef bgio_methods[] = {
    {"autoflush", bgio_autoflush, METH_O, "flush this Spool once a second"},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot bgio_slots[] = {
    {Py_mod_exec, bgio_exec},
    {0, NULL},
};

static struct PyModuleDef bgio_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_bgio",
    .m_doc = "background I/O objects",
    .m_size = sizeof(bgio_state),
    .m_methods = bgio_methods,
    .m_slots = bgio_slots,
    .m_traverse = bgio_traverse,
    .m_clear = bgio_clear,
    .m_free = bgio_free,
};

PyMODINIT_FUNC PyInit__bgio(void)
{
    return PyModuleDef_Init(&bgio_module);
}
