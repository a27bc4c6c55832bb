// A project's GIL primitives reached through function pointers: a hook table filled by a static initializer
// (positional and designated) or by an init function, and a function-pointer variable, each called through a
// macro. A pointer the project stores exactly one function into is read as a call of that function.
#include <Python.h>
#include <pthread.h>

struct py_hooks {
    PyGILState_STATE (*enter)(void);
    void (*leave)(PyGILState_STATE st);
    void (*log)(const char *msg);
};

static PyGILState_STATE hooks_enter(void) { return PyGILState_Ensure(); }
static void hooks_leave(PyGILState_STATE st) { PyGILState_Release(st); }
static void hooks_log(const char *msg) { PySys_WriteStderr("%s\n", msg); }

static struct py_hooks hooks = { hooks_enter, hooks_leave, .log = hooks_log };

#define PY_ENTER()    hooks.enter()
#define PY_LEAVE(st)  hooks.leave(st)

struct job { PyObject *callback; int code; };

static void *bad_job_early_exit(void *arg)
{
    struct job *j = arg;
    PyGILState_STATE st = PY_ENTER();     // expect-note{{GIL acquired here}}
    if (j->callback == Py_None)
        return NULL;                      // expect-error{{is not released}} [ensure-leak]
    PyObject *r = PyObject_CallNoArgs(j->callback);
    Py_XDECREF(r);
    PY_LEAVE(st);
    return NULL;
}

static void *bad_job_result_after_leave(void *arg)
{
    struct job *j = arg;
    PyGILState_STATE st = PY_ENTER();
    PyObject *r = PyObject_CallNoArgs(j->callback);
    PY_LEAVE(st);
    if (r != NULL)
        j->code = (int)PyLong_AsLong(r);  // expect-error{{needs the GIL, which is released on this path}} [api-without-gil]
    return NULL;
}

static void *ok_job(void *arg)
{
    struct job *j = arg;
    PyGILState_STATE st = PY_ENTER();
    PyObject *r = PyObject_CallNoArgs(j->callback);
    if (r != NULL) {
        j->code = (int)PyLong_AsLong(r);
        Py_DECREF(r);
    }
    PY_LEAVE(st);
    return NULL;
}

static void *bad_job_logs_without_gil(void *arg)
{
    (void)arg;
    hooks.log("starting");                // expect-error{{needs the GIL}} [thread-entry-without-gil]
    return NULL;
}

// The entry chosen by a switch into a local function pointer: each function it may hold is started.
int start_job(struct job *j, int mode)
{
    void *(*entry)(void *);
    pthread_t t;
    switch (mode) {
    case 0: entry = bad_job_early_exit; break;
    case 1: entry = bad_job_result_after_leave; break;
    case 2: entry = bad_job_logs_without_gil; break;
    default: entry = ok_job; break;
    }
    return pthread_create(&t, NULL, entry, j);
}

// Hooks set by an init function, and a function-pointer variable initialized at file scope.
struct lock_hooks { void (*unblock)(void); void (*block)(void); };
static struct lock_hooks lock_hooks;
static PyThreadState *parked;
static void py_unblock(void) { parked = PyEval_SaveThread(); }
static void py_block(void) { PyEval_RestoreThread(parked); }

void install_lock_hooks(void)
{
    lock_hooks.unblock = py_unblock;
    lock_hooks.block = py_block;
}

typedef PyGILState_STATE (*enter_fn)(void);
static enter_fn rt_enter = hooks_enter;

extern long crunch(long n);

PyObject *bad_report_while_unblocked(PyObject *self, PyObject *cb)
{
    long v;
    lock_hooks.unblock();
    v = crunch(1000);
    PyObject *r = PyObject_CallFunction(cb, "l", v);  // expect-error{{needs the GIL}} [api-without-gil]
    lock_hooks.block();
    return r;
}

PyObject *ok_crunch(PyObject *self, PyObject *arg)
{
    long n = PyLong_AsLong(arg), v;
    if (n < 0 && PyErr_Occurred())
        return NULL;
    lock_hooks.unblock();
    v = crunch(n);
    lock_hooks.block();
    return PyLong_FromLong(v);
}

int bad_rt_notify(PyObject *cb)
{
    PyGILState_STATE st = rt_enter();     // expect-note{{GIL acquired here}}
    PyObject *r = PyObject_CallNoArgs(cb);
    if (r == NULL)
        return -1;                        // expect-error{{is not released}} [ensure-leak]
    Py_DECREF(r);
    PyGILState_Release(st);
    return 0;
}

// A pointer given two different functions stays unknown: nothing is assumed about calls through it.
struct sink { void (*emit)(PyObject *o); };
static void emit_quietly(PyObject *o) { (void)o; }
static void emit_locked(PyObject *o) { PyGILState_STATE st = PyGILState_Ensure(); Py_XDECREF(o); PyGILState_Release(st); }
static struct sink sinks[] = { { emit_quietly }, { emit_locked } };

void ok_emit_through_either(int which, PyObject *o)
{
    sinks[which & 1].emit(o);
}
