/* pgasync_module.c - _pgasync: a small asynchronous PostgreSQL driver core.
 *
 *   Conn       a libpq connection in non-blocking mode; queries are sent with
 *              PQsendQuery and results read without ever blocking in libpq
 *              with the GIL held: the GIL is released only around poll()
 *   Executor   a pool of C threads that call Python callables (each worker
 *              takes the GIL per call), used to run LISTEN/NOTIFY handlers
 *   run_hook(path)            fork + exec a hook program and wait for it
 *   start_heartbeat(fd, sec)  daemonize a C process that writes heartbeats to fd
 *
 * The module keeps one LISTEN connection and a notification pool in its state.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------ libpq (libpq-fe.h) */

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef enum { CONNECTION_OK, CONNECTION_BAD } ConnStatusType;
typedef enum {
    PGRES_EMPTY_QUERY = 0,
    PGRES_COMMAND_OK,
    PGRES_TUPLES_OK,
    PGRES_COPY_OUT,
    PGRES_COPY_IN,
    PGRES_BAD_RESPONSE,
    PGRES_NONFATAL_ERROR,
    PGRES_FATAL_ERROR
} ExecStatusType;
typedef struct pgNotify {
    char *relname;
    int be_pid;
    char *extra;
    struct pgNotify *next;
} PGnotify;

extern PGconn *PQconnectdb(const char *conninfo);
extern ConnStatusType PQstatus(const PGconn *conn);
extern char *PQerrorMessage(const PGconn *conn);
extern int PQsetnonblocking(PGconn *conn, int arg);
extern int PQsocket(const PGconn *conn);
extern int PQsendQuery(PGconn *conn, const char *query);
extern int PQflush(PGconn *conn);
extern int PQconsumeInput(PGconn *conn);
extern int PQisBusy(PGconn *conn);
extern PGresult *PQgetResult(PGconn *conn);
extern PGnotify *PQnotifies(PGconn *conn);
extern ExecStatusType PQresultStatus(const PGresult *res);
extern char *PQresultErrorMessage(const PGresult *res);
extern char *PQcmdTuples(PGresult *res);
extern int PQntuples(const PGresult *res);
extern int PQnfields(const PGresult *res);
extern char *PQgetvalue(const PGresult *res, int tup_num, int field_num);
extern int PQgetisnull(const PGresult *res, int tup_num, int field_num);
extern void PQclear(PGresult *res);
extern void PQfreemem(void *ptr);
extern void PQfinish(PGconn *conn);

/* ------------------------------------------------------------------ callback pool */

struct pool_job {
    struct pool_job *next;
    PyObject *fn;
    PyObject *args;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pool_job *head, *tail;
    int stop;
    int nthreads;
    pthread_t threads[];
};

static void *pool_worker(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        struct pool_job *job;
        pthread_mutex_lock(&p->mu);
        while (p->head == NULL && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        job = p->head;
        if (job != NULL && (p->head = job->next) == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        if (job == NULL)
            break;                      /* stopped and drained */
        PyGILState_STATE g = PyGILState_Ensure();
        PyObject *r = PyObject_Call(job->fn, job->args, NULL);
        if (r == NULL)
            PyErr_WriteUnraisable(job->fn);
        Py_XDECREF(r);
        Py_DECREF(job->fn);
        Py_DECREF(job->args);
        PyGILState_Release(g);
        free(job);
    }
    return NULL;
}

/* No Python API; may be called without the GIL. */
static struct pool *pool_new(int nthreads)
{
    struct pool *p = calloc(1, sizeof *p + (size_t)nthreads * sizeof(pthread_t));
    int i;
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_worker, p) != 0)
            break;
    }
    p->nthreads = i;
    if (i == 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

/* Stops the workers after they drained the queue and joins them.  The workers
 * take the GIL for each job, so call this with the GIL released.  NULL is a
 * no-op. */
static void pool_free(struct pool *p)
{
    int i;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* GIL held; steals fn and args. */
static int pool_submit(struct pool *p, PyObject *fn, PyObject *args)
{
    struct pool_job *job = malloc(sizeof *job);
    if (job == NULL) {
        Py_DECREF(fn);
        Py_DECREF(args);
        PyErr_NoMemory();
        return -1;
    }
    job->next = NULL;
    job->fn = fn;
    job->args = args;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&p->mu);
    if (p->tail != NULL)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    Py_END_ALLOW_THREADS
    return 0;
}

/* ------------------------------------------------------------------ module state */

typedef struct {
    PyObject *ConnType;
    PyObject *ExecutorType;
    PyObject *Error;
    PyObject *children;          /* dict: pid -> hook path, for run_hook() */
    PyObject *notify_handlers;   /* dict: channel -> callable */
    PGconn *listen_conn;
    struct pool *notify_pool;
} pgstate;

static pgstate *state_of_type(PyTypeObject *tp)
{
    return PyType_GetModuleState(tp);
}

/* ------------------------------------------------------------------ Conn */

typedef struct {
    PyObject_HEAD
    PGconn *pgconn;
} ConnObject;

static PyObject *conn_error(ConnObject *self)
{
    pgstate *st = state_of_type(Py_TYPE(self));
    PyErr_SetString(st->Error, PQerrorMessage(self->pgconn));
    return NULL;
}

static int conn_check(ConnObject *self)
{
    if (self->pgconn == NULL) {
        PyErr_SetString(state_of_type(Py_TYPE(self))->Error, "connection is closed");
        return -1;
    }
    return 0;
}

/* Waits for the socket with the GIL released; signals are checked with the GIL. */
static int conn_wait(ConnObject *self, short events)
{
    struct pollfd pfd;
    int rc;
    pfd.fd = PQsocket(self->pgconn);
    pfd.events = events;
    pfd.revents = 0;
    if (pfd.fd < 0) {
        PyErr_SetString(state_of_type(Py_TYPE(self))->Error, "connection has no socket");
        return -1;
    }
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        rc = poll(&pfd, 1, -1);
        Py_END_ALLOW_THREADS
        if (rc >= 0)
            return 0;
        if (errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

/* Non-blocking connection: PQflush() returns 1 while data is still queued. */
static int conn_flush(ConnObject *self)
{
    int rc;
    while ((rc = PQflush(self->pgconn)) == 1) {
        if (conn_wait(self, POLLOUT | POLLIN) < 0)
            return -1;
        if (!PQconsumeInput(self->pgconn)) {
            conn_error(self);
            return -1;
        }
    }
    if (rc < 0) {
        conn_error(self);
        return -1;
    }
    return 0;
}

/* GIL held: appends the rows of res to *rows (created on demand). */
static int collect_rows(ConnObject *self, PGresult *res, PyObject **rows)
{
    int i, j, nrows, nfields;
    ExecStatusType status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY)
        return 0;
    if (status != PGRES_TUPLES_OK) {
        PyErr_SetString(state_of_type(Py_TYPE(self))->Error, PQresultErrorMessage(res));
        return -1;
    }
    if (*rows == NULL && (*rows = PyList_New(0)) == NULL)
        return -1;
    nrows = PQntuples(res);
    nfields = PQnfields(res);
    for (i = 0; i < nrows; i++) {
        PyObject *row = PyTuple_New(nfields);
        if (row == NULL)
            return -1;
        for (j = 0; j < nfields; j++) {
            PyObject *v = PQgetisnull(res, i, j) ? Py_NewRef(Py_None)
                                                 : PyUnicode_FromString(PQgetvalue(res, i, j));
            if (v == NULL) {
                Py_DECREF(row);
                return -1;
            }
            PyTuple_SET_ITEM(row, j, v);
        }
        if (PyList_Append(*rows, row) < 0) {
            Py_DECREF(row);
            return -1;
        }
        Py_DECREF(row);
    }
    return 0;
}

static PyObject *Conn_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"dsn", NULL};
    const char *dsn;
    PGconn *pgconn;
    ConnObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s:Conn", kwlist, &dsn))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    pgconn = PQconnectdb(dsn);
    Py_END_ALLOW_THREADS
    if (pgconn == NULL)
        return PyErr_NoMemory();
    if (PQstatus(pgconn) != CONNECTION_OK || PQsetnonblocking(pgconn, 1) != 0) {
        PyErr_SetString(state_of_type(type)->Error, PQerrorMessage(pgconn));
        Py_BEGIN_ALLOW_THREADS
        PQfinish(pgconn);
        Py_END_ALLOW_THREADS
        return NULL;
    }
    self = (ConnObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_BEGIN_ALLOW_THREADS
        PQfinish(pgconn);
        Py_END_ALLOW_THREADS
        return NULL;
    }
    self->pgconn = pgconn;
    return (PyObject *)self;
}

static void Conn_dealloc(ConnObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PGconn *pgconn = self->pgconn;
    self->pgconn = NULL;
    if (pgconn != NULL) {
        Py_BEGIN_ALLOW_THREADS
        PQfinish(pgconn);
        Py_END_ALLOW_THREADS
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

// OK: the connection is in non-blocking mode; PQsendQuery/PQflush/PQconsumeInput/PQisBusy never block, the GIL is released around poll(), and PQgetResult runs with the GIL only after PQisBusy() returned 0
static PyObject *Conn_execute(ConnObject *self, PyObject *args)
{
    const char *sql;
    PyObject *rows = NULL;
    PGresult *res;
    int failed = 0;

    if (!PyArg_ParseTuple(args, "s:execute", &sql))
        return NULL;
    if (conn_check(self) < 0)
        return NULL;
    if (!PQsendQuery(self->pgconn, sql))
        return conn_error(self);
    if (conn_flush(self) < 0)
        return NULL;
    for (;;) {
        if (!PQconsumeInput(self->pgconn)) {
            Py_XDECREF(rows);
            return conn_error(self);
        }
        if (PQisBusy(self->pgconn)) {
            if (conn_wait(self, POLLIN) < 0) {
                Py_XDECREF(rows);
                return NULL;
            }
            continue;
        }
        res = PQgetResult(self->pgconn);
        if (res == NULL)
            break;                      /* all results of the query are in */
        if (!failed && collect_rows(self, res, &rows) < 0)
            failed = 1;                 /* keep reading so the connection is idle again */
        PQclear(res);
    }
    if (failed) {
        Py_XDECREF(rows);
        return NULL;
    }
    if (rows == NULL)
        Py_RETURN_NONE;
    return rows;
}

// BAD: blocking-with-gil PQgetResult() is called with the GIL held without first waiting for PQisBusy() == 0, so it blocks until the server has answered
static PyObject *Conn_command(ConnObject *self, PyObject *args)
{
    const char *sql;
    PGresult *res;
    long affected = 0;
    int failed = 0;

    if (!PyArg_ParseTuple(args, "s:command", &sql))
        return NULL;
    if (conn_check(self) < 0)
        return NULL;
    if (!PQsendQuery(self->pgconn, sql))
        return conn_error(self);
    if (conn_flush(self) < 0)
        return NULL;
    while ((res = PQgetResult(self->pgconn)) != NULL) {
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
            affected += strtol(PQcmdTuples(res), NULL, 10);
        } else if (!failed) {
            PyErr_SetString(state_of_type(Py_TYPE(self))->Error, PQresultErrorMessage(res));
            failed = 1;
        }
        PQclear(res);
    }
    if (failed)
        return NULL;
    return PyLong_FromLong(affected);
}

static PyMethodDef Conn_methods[] = {
    {"execute", (PyCFunction)Conn_execute, METH_VARARGS, NULL},
    {"command", (PyCFunction)Conn_command, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Conn_slots[] = {
    {Py_tp_new, Conn_new},
    {Py_tp_dealloc, Conn_dealloc},
    {Py_tp_methods, Conn_methods},
    {0, NULL},
};

static PyType_Spec Conn_spec = {
    "_pgasync.Conn", sizeof(ConnObject), 0, Py_TPFLAGS_DEFAULT, Conn_slots,
};

/* ------------------------------------------------------------------ Executor */

typedef struct {
    PyObject_HEAD
    struct pool *pool;
} ExecutorObject;

// OK: pool_free() only joins threads for a non-NULL pool, and `pool` is still NULL on every path that reaches the fail label
static PyObject *Executor_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"workers", NULL};
    int workers = 4;
    struct pool *pool = NULL;
    ExecutorObject *self = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|i:Executor", kwlist, &workers))
        goto fail;
    if (workers < 1 || workers > 64) {
        PyErr_Format(PyExc_ValueError, "workers must be between 1 and 64, not %d", workers);
        goto fail;
    }
    self = (ExecutorObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        goto fail;
    Py_BEGIN_ALLOW_THREADS
    pool = pool_new(workers);
    Py_END_ALLOW_THREADS
    if (pool == NULL) {
        PyErr_SetString(PyExc_OSError, "cannot start worker threads");
        goto fail;
    }
    self->pool = pool;
    return (PyObject *)self;

fail:
    pool_free(pool);
    Py_XDECREF(self);
    return NULL;
}

// OK: the pool is detached from the object with the GIL held and joined (its workers need the GIL) with the GIL released
static void Executor_dealloc(ExecutorObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    struct pool *pool = self->pool;
    self->pool = NULL;
    if (pool != NULL) {
        Py_BEGIN_ALLOW_THREADS
        pool_free(pool);
        Py_END_ALLOW_THREADS
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *Executor_submit(ExecutorObject *self, PyObject *args)
{
    PyObject *fn, *rest;
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError, "submit() needs a callable");
        return NULL;
    }
    fn = Py_NewRef(PyTuple_GET_ITEM(args, 0));
    rest = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    if (rest == NULL) {
        Py_DECREF(fn);
        return NULL;
    }
    if (pool_submit(self->pool, fn, rest) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef Executor_methods[] = {
    {"submit", (PyCFunction)Executor_submit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Executor_slots[] = {
    {Py_tp_new, Executor_new},
    {Py_tp_dealloc, Executor_dealloc},
    {Py_tp_methods, Executor_methods},
    {0, NULL},
};

static PyType_Spec Executor_spec = {
    "_pgasync.Executor", sizeof(ExecutorObject), 0, Py_TPFLAGS_DEFAULT, Executor_slots,
};

/* ------------------------------------------------------------------ processes */

// OK: the blocking read() on the pipe runs only in the forked child before execv()/_exit(), where no other thread exists; the parent writes and waits with the GIL released
static PyObject *pgasync_run_hook(PyObject *module, PyObject *args)
{
    pgstate *st = PyModule_GetState(module);
    const char *path;
    int pipefd[2], status = 0, wait_errno = 0;
    pid_t pid, rc;
    char go = 'g';
    PyObject *key, *val;

    if (!PyArg_ParseTuple(args, "s:run_hook", &path))
        return NULL;
    if (pipe(pipefd) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (pid == 0) {
        /* child: wait until the parent has registered our pid (its SIGCHLD
         * handler looks children up in st->children), then exec */
        char *const argv[] = {(char *)path, NULL};
        close(pipefd[1]);
        while (read(pipefd[0], &go, 1) < 0 && errno == EINTR)
            ;
        close(pipefd[0]);
        execv(path, argv);
        _exit(127);
    }
    close(pipefd[0]);
    key = PyLong_FromLong((long)pid);
    val = PyUnicode_DecodeFSDefault(path);
    if (key == NULL || val == NULL || PyDict_SetItem(st->children, key, val) < 0)
        PyErr_Clear();                  /* bookkeeping only: run the hook anyway */
    Py_XDECREF(val);

    Py_BEGIN_ALLOW_THREADS
    if (write(pipefd[1], &go, 1) != 1)
        go = 0;
    close(pipefd[1]);
    do
        rc = waitpid(pid, &status, 0);
    while (rc < 0 && errno == EINTR);
    wait_errno = errno;
    Py_END_ALLOW_THREADS
    if (key != NULL && PyDict_DelItem(st->children, key) < 0)
        PyErr_Clear();
    Py_XDECREF(key);
    if (rc < 0) {
        errno = wait_errno;
        return PyErr_SetFromErrno(PyExc_ChildProcessError);
    }
    if (WIFEXITED(status))
        return PyLong_FromLong(WEXITSTATUS(status));
    return PyLong_FromLong(-WTERMSIG(status));
}

// OK: the daemonized grandchild runs no other thread and never returns to Python, so its blocking write()/sleep() loop with the inherited GIL stops no one; the parent reaps the short-lived middle child with the GIL released
static PyObject *pgasync_start_heartbeat(PyObject *module, PyObject *args)
{
    int fd, status = 0;
    unsigned int interval;
    pid_t pid, rc;

    if (!PyArg_ParseTuple(args, "iI:start_heartbeat", &fd, &interval))
        return NULL;
    if (interval == 0) {
        PyErr_SetString(PyExc_ValueError, "interval must be positive");
        return NULL;
    }
    pid = fork();
    if (pid < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    if (pid == 0) {
        static const char beat[] = "beat\n";
        pid_t daemon_pid;
        if (setsid() < 0)
            _exit(1);
        daemon_pid = fork();
        if (daemon_pid != 0)
            _exit(daemon_pid < 0 ? 1 : 0);
        for (;;) {
            if (write(fd, beat, sizeof beat - 1) < 0 && errno != EINTR)
                _exit(0);               /* the reader went away */
            sleep(interval);
        }
    }
    Py_BEGIN_ALLOW_THREADS
    do
        rc = waitpid(pid, &status, 0);
    while (rc < 0 && errno == EINTR);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_ChildProcessError);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        PyErr_SetString(PyExc_OSError, "the heartbeat daemon did not start");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ LISTEN / NOTIFY */

static PyObject *pgasync_listen(PyObject *module, PyObject *args)
{
    pgstate *st = PyModule_GetState(module);
    const char *dsn;
    PGconn *conn;
    struct pool *pool;

    if (!PyArg_ParseTuple(args, "s:listen", &dsn))
        return NULL;
    if (st->listen_conn != NULL) {
        PyErr_SetString(st->Error, "already listening");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    conn = PQconnectdb(dsn);
    pool = conn != NULL ? pool_new(2) : NULL;
    Py_END_ALLOW_THREADS
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK || pool == NULL) {
        PyErr_SetString(st->Error, conn ? PQerrorMessage(conn) : "out of memory");
        Py_BEGIN_ALLOW_THREADS
        pool_free(pool);
        PQfinish(conn);
        Py_END_ALLOW_THREADS
        return NULL;
    }
    PQsetnonblocking(conn, 1);
    st->listen_conn = conn;
    st->notify_pool = pool;
    Py_RETURN_NONE;
}

static PyObject *pgasync_dispatch(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    pgstate *st = PyModule_GetState(module);
    PGnotify *n;
    long count = 0;

    if (st->listen_conn == NULL || st->notify_pool == NULL)
        return PyLong_FromLong(0);
    if (!PQconsumeInput(st->listen_conn)) {
        PyErr_SetString(st->Error, PQerrorMessage(st->listen_conn));
        return NULL;
    }
    while ((n = PQnotifies(st->listen_conn)) != NULL) {
        PyObject *handler = PyDict_GetItemString(st->notify_handlers, n->relname);
        if (handler != NULL) {
            PyObject *fargs = Py_BuildValue("(sis)", n->relname, n->be_pid, n->extra);
            if (fargs == NULL || pool_submit(st->notify_pool, Py_NewRef(handler), fargs) < 0) {
                PQfreemem(n);
                return NULL;
            }
            count++;
        }
        PQfreemem(n);
    }
    return PyLong_FromLong(count);
}

/* ------------------------------------------------------------------ module */

static int pgasync_exec(PyObject *module)
{
    pgstate *st = PyModule_GetState(module);
    st->Error = PyErr_NewException("_pgasync.Error", NULL, NULL);
    if (st->Error == NULL || PyModule_AddObjectRef(module, "Error", st->Error) < 0)
        return -1;
    st->ConnType = PyType_FromModuleAndSpec(module, &Conn_spec, NULL);
    if (st->ConnType == NULL || PyModule_AddObjectRef(module, "Conn", st->ConnType) < 0)
        return -1;
    st->ExecutorType = PyType_FromModuleAndSpec(module, &Executor_spec, NULL);
    if (st->ExecutorType == NULL || PyModule_AddObjectRef(module, "Executor", st->ExecutorType) < 0)
        return -1;
    st->children = PyDict_New();
    st->notify_handlers = PyDict_New();
    if (st->children == NULL || st->notify_handlers == NULL)
        return -1;
    if (PyModule_AddObjectRef(module, "notify_handlers", st->notify_handlers) < 0)
        return -1;
    return 0;
}

static int pgasync_traverse(PyObject *module, visitproc visit, void *arg)
{
    pgstate *st = PyModule_GetState(module);
    Py_VISIT(st->ConnType);
    Py_VISIT(st->ExecutorType);
    Py_VISIT(st->Error);
    Py_VISIT(st->children);
    Py_VISIT(st->notify_handlers);
    return 0;
}

// BAD: api-without-gil m_clear releases the GIL around PQfinish() of the LISTEN connection and clears the handler dict inside that region
static int pgasync_clear(PyObject *module)
{
    pgstate *st = PyModule_GetState(module);
    if (st == NULL)
        return 0;
    if (st->listen_conn != NULL) {
        PGconn *conn = st->listen_conn;
        st->listen_conn = NULL;
        Py_BEGIN_ALLOW_THREADS
        PQfinish(conn);
        Py_CLEAR(st->notify_handlers);
        Py_END_ALLOW_THREADS
    }
    Py_CLEAR(st->notify_handlers);
    Py_CLEAR(st->children);
    Py_CLEAR(st->Error);
    Py_CLEAR(st->ExecutorType);
    Py_CLEAR(st->ConnType);
    return 0;
}

// OK: m_free detaches the pool and the LISTEN connection under the GIL, joins the pool (whose workers take the GIL) and closes the connection with the GIL released, then clears the Python objects
static void pgasync_free(void *module)
{
    pgstate *st = PyModule_GetState((PyObject *)module);
    struct pool *pool;
    PGconn *conn;

    if (st == NULL)
        return;
    pool = st->notify_pool;
    conn = st->listen_conn;
    st->notify_pool = NULL;
    st->listen_conn = NULL;
    if (pool != NULL || conn != NULL) {
        Py_BEGIN_ALLOW_THREADS
        pool_free(pool);
        if (conn != NULL)
            PQfinish(conn);
        Py_END_ALLOW_THREADS
    }
    Py_CLEAR(st->notify_handlers);
    Py_CLEAR(st->children);
    Py_CLEAR(st->Error);
    Py_CLEAR(st->ExecutorType);
    Py_CLEAR(st->ConnType);
}

static PyMethodDef pgasync_methods[] = {
    {"run_hook", pgasync_run_hook, METH_VARARGS, "run a hook program and return its exit status"},
    {"start_heartbeat", pgasync_start_heartbeat, METH_VARARGS, "daemonize a heartbeat writer"},
    {"listen", pgasync_listen, METH_VARARGS, "open the LISTEN connection"},
    {"dispatch", pgasync_dispatch, METH_NOARGS, "hand pending notifications to the handlers"},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot pgasync_slots[] = {
    {Py_mod_exec, pgasync_exec},
    {0, NULL},
};

static struct PyModuleDef pgasync_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_pgasync",
    .m_size = sizeof(pgstate),
    .m_methods = pgasync_methods,
    .m_slots = pgasync_slots,
    .m_traverse = pgasync_traverse,
    .m_clear = pgasync_clear,
    .m_free = pgasync_free,
};

PyMODINIT_FUNC PyInit__pgasync(void)
{
    return PyModuleDef_Init(&pgasync_module);
}
