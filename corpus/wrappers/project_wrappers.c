// gilcheck-rules: ctx_pair.yml
// A project's own GIL wrappers, declared in a rules file, are checked like the real calls.
#include <Python.h>

typedef struct { PyGILState_STATE gil; int depth; } ctx_t;
void ctx_enter(PyGILState_STATE *state);
void ctx_exit(PyGILState_STATE *state);
PyGILState_STATE acquire_gil(void);
void release_gil(PyGILState_STATE state);
extern int step(void);

int ok_out_pointer_pair(void) {
    PyGILState_STATE st;
    ctx_enter(&st);
    int rc = step();
    ctx_exit(&st);
    return rc;
}

int bad_out_pointer_early_return(void) {
    PyGILState_STATE st;
    ctx_enter(&st);                       // expect-note{{GIL acquired here}}
    if (step() < 0)
        return -1;                        // expect-error{{is not released}} [ensure-leak]
    ctx_exit(&st);
    return 0;
}

void ok_returned_state(void) {
    PyGILState_STATE st = acquire_gil();
    step();
    release_gil(st);
}

void bad_double_wrapper_release(void) {
    PyGILState_STATE st = acquire_gil();
    release_gil(st);
    release_gil(st);                      // expect-error{{already released}} [release-without-ensure]
}

void ok_field_of_local_struct(void) {
    ctx_t ctx;
    ctx_enter(&ctx.gil);
    step();
    ctx_exit(&ctx.gil);
}
