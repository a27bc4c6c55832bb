/* false-alarm-shapes: correct code whose shape tends to fool a
 * path-insensitive or text-matching checker.  Every function here is OK. */
#include <Python.h>
#include <pthread.h>
#include "ft_fixture.h"

typedef struct {
    PyObject_HEAD
    PyObject *entries;      /* dict */
    PyMutex lock;
    Py_ssize_t version;
    int concurrent;         /* fixed at construction */
} TableObject;

typedef struct {
    PyInterpreterGuard *guard;  /* owned by the worker, closed by it */
    PyObject *fn;
} HandoffCtx;

extern void *handoff_entry(void *arg);

// OK: section begun and ended under the same (unchanging) condition
static int
ok_table_maybe_locked_set(TableObject *self, PyObject *k, PyObject *v)
{
    int rc;
    const int concurrent = self->concurrent;
    PyCriticalSection cs;
    if (concurrent) {
        PyCriticalSection_Begin(&cs, (PyObject *)self);
    }
    rc = PyDict_SetItem(self->entries, k, v);
    self->version++;
    if (concurrent) {
        PyCriticalSection_End(&cs);
    }
    return rc;
}

// OK: PyMutex released at the shared exit only when the locked flag says it was taken
static int
ok_table_bump_flagged(TableObject *self, PyObject *k)
{
    int rc = -1;
    int locked = 0;
    if (!PyUnicode_Check(k)) {
        PyErr_SetString(PyExc_TypeError, "str key expected");
        goto out;
    }
    PyMutex_Lock(&self->lock);
    locked = 1;
    self->version++;
    rc = 0;
out:
    if (locked) {
        PyMutex_Unlock(&self->lock);
    }
    return rc;
}

// OK: break inside do { } while (0) only leaves the do-loop, still inside the section
static int
ok_table_validate(TableObject *self)
{
    int bad = 0;
    Py_BEGIN_CRITICAL_SECTION(self);
    do {
        if (self->version < 0) {
            bad = 1;
            break;
        }
        if (PyDict_Size(self->entries) < 0) {
            bad = 1;
            break;
        }
    } while (0);
    Py_END_CRITICAL_SECTION();
    return bad ? -1 : 0;
}

// OK: guard ownership is handed to the worker thread (stored in its context), not leaked
static PyObject *
ok_table_spawn_worker(TableObject *self, PyObject *fn)
{
    pthread_t tid;
    HandoffCtx *ctx = PyMem_RawMalloc(sizeof(*ctx));
    if (ctx == NULL) {
        return PyErr_NoMemory();
    }
    ctx->guard = PyInterpreterGuard_FromCurrent();
    if (ctx->guard == NULL) {
        PyMem_RawFree(ctx);
        return NULL;
    }
    ctx->fn = Py_NewRef(fn);
    if (pthread_create(&tid, NULL, handoff_entry, ctx) != 0) {
        PyInterpreterGuard_Close(ctx->guard);
        Py_DECREF(ctx->fn);
        PyMem_RawFree(ctx);
        PyErr_SetString(PyExc_RuntimeError, "cannot start thread");
        return NULL;
    }
    pthread_detach(tid);
    (void)self;
    Py_RETURN_NONE;
}

// OK: attach helper returns the token through an out-parameter; the caller releases it
static PyObject *
ok_attach_and_get(PyInterpreterView *view, PyObject **slot, PyThreadState **token_out)
{
    *token_out = PyThreadState_EnsureFromView(view);
    if (*token_out == NULL) {
        return NULL;
    }
    PyObject *obj = Py_XNewRef(*slot);
    if (obj == NULL) {
        PyThreadState_Release(*token_out);
        *token_out = NULL;
    }
    return obj;
}

// OK: deprecated / borrowed API names appear only in a string literal and a comment
static PyObject *
ok_table_migration_hint(TableObject *self, PyObject *Py_UNUSED(ignored))
{
    /* Old versions called PyEval_AcquireLock() and PyList_GetItem(); the
       free-threaded port uses critical sections and PyList_GetItemRef(). */
    (void)self;
    return PyUnicode_FromString(
        "PyEval_AcquireLock/PyWeakref_GetObject were replaced; "
        "see PyDict_GetItemRef");
}

// OK: token stays NULL when attaching is skipped; Release only on the non-NULL branch
static void
ok_maybe_notify(PyInterpreterView *view, PyObject *fn, int enabled)
{
    PyThreadState *ts = NULL;
    if (enabled) {
        ts = PyThreadState_EnsureFromView(view);
    }
    if (ts != NULL) {
        PyObject *r = PyObject_CallNoArgs(fn);
        if (r == NULL) {
            PyErr_WriteUnraisable(fn);
        }
        else {
            Py_DECREF(r);
        }
        PyThreadState_Release(ts);
    }
}
