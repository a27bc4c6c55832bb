// The project's own wrappers need no rules entry: their effect is inferred from their bodies and used at
// every call site (out-pointer, struct field, returned state, conditional on the result).
#include <Python.h>

typedef struct { PyGILState_STATE gil; int depth; } ctx_t;

static void ctx_enter(ctx_t *c) { c->gil = PyGILState_Ensure(); c->depth++; }
static void ctx_exit(ctx_t *c) { c->depth--; PyGILState_Release(c->gil); }
static PyGILState_STATE acquire_gil(void) { return PyGILState_Ensure(); }
static void release_gil(PyGILState_STATE s) { PyGILState_Release(s); }
static void enter_out(PyGILState_STATE *out) { *out = PyGILState_Ensure(); }
static void leave_out(PyGILState_STATE *st) { PyGILState_Release(*st); }
static int try_acquire(PyGILState_STATE *out)
{
    if (!Py_IsInitialized())
        return -1;
    *out = PyGILState_Ensure();
    return 0;
}
extern int step(void);

int ok_ctx_pair(void) { ctx_t c = {0}; ctx_enter(&c); int r = step(); ctx_exit(&c); return r; }

int bad_ctx_early_return(void)
{
    ctx_t c = {0};
    ctx_enter(&c);                      // expect-note{{acquires the GIL and hands its state to the caller (summary)}}
    if (step() < 0)
        return -1;                      // expect-error{{is not released}} [ensure-leak]
    ctx_exit(&c);
    return 0;
}

void ok_returned_state(void) { PyGILState_STATE s = acquire_gil(); step(); release_gil(s); }

void bad_returned_state(void)
{
    PyGILState_STATE s = acquire_gil();
    if (step())
        return;                         // expect-error{{is not released}} [ensure-leak]
    release_gil(s);
}

void ok_out_pointer(void) { PyGILState_STATE s; enter_out(&s); step(); leave_out(&s); }

void bad_double_release_through_wrapper(void)
{
    PyGILState_STATE s = acquire_gil();
    release_gil(s);
    release_gil(s);                     // expect-error{{already released}} [release-without-ensure]
}

int ok_conditional_acquire(void)
{
    PyGILState_STATE s;
    if (try_acquire(&s) < 0)
        return -1;                      // nothing was acquired on this path
    step();
    PyGILState_Release(s);
    return 0;
}

int bad_conditional_acquire_ignored_result(void)
{
    PyGILState_STATE s;
    if (try_acquire(&s) != 0)
        return -1;
    if (step() < 0)
        return -2;                      // expect-error{{is not released}} [ensure-leak]
    PyGILState_Release(s);
    return 0;
}
