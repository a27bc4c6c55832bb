// Control-flow shapes: switch, loops, noreturn, nested Ensure, fields, do-while(0) macros, ?:, &&, goto.
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>
extern int work(int);
extern void *worker_data;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* switch: release in every case */
int ok_switch(int kind) {
    PyGILState_STATE s = PyGILState_Ensure();
    switch (kind) {
    case 0: PyGILState_Release(s); return 0;
    case 1: work(1); PyGILState_Release(s); return 1;
    default: PyGILState_Release(s); return -1;
    }
}
/* switch: fallthrough missing release in case 2 */
int bad_switch(int kind) {
    PyGILState_STATE s = PyGILState_Ensure();
    switch (kind) {
    case 0: work(0);
    case 1: PyGILState_Release(s); break;
    case 2: return 2;   // expect-error{{is not released}} [ensure-leak]
    default: PyGILState_Release(s);
    }
    return 0;
}
/* loop with acquire/release inside and continue/break */
void ok_loop(int n) {
    for (int i = 0; i < n; i++) {
        PyGILState_STATE s = PyGILState_Ensure();
        if (work(i) < 0) { PyGILState_Release(s); continue; }
        if (work(i) > 10) { PyGILState_Release(s); break; }
        PyGILState_Release(s);
    }
}
void bad_loop_break(int n) {
    while (n--) {
        PyGILState_STATE s = PyGILState_Ensure();
        if (work(n) > 10) break;
        PyGILState_Release(s);
    }
}   // expect-error{{is not released before the end of the function}} [ensure-leak]
/* noreturn after Ensure */
void ok_noreturn(int e) {
    PyGILState_STATE s = PyGILState_Ensure();
    if (e) Py_FatalError("boom");
    if (e > 1) exit(1);
    PyGILState_Release(s);
}
/* nested ensure legal */
void ok_nested(void) {
    PyGILState_STATE a = PyGILState_Ensure();
    PyGILState_STATE b = PyGILState_Ensure();
    PyGILState_Release(b);
    PyGILState_Release(a);
}
/* struct field */
typedef struct { PyGILState_STATE st; int n; } Ctx;
void ok_field_handoff(Ctx *c) { c->st = PyGILState_Ensure(); }
void ok_field_release(Ctx *c) { PyGILState_Release(c->st); }
int bad_field(Ctx *c, int e) {
    c->st = PyGILState_Ensure();
    if (e) return -1;   // expect-error{{is not released}} [ensure-leak]
    PyGILState_Release(c->st);
    return 0;
}
/* do-while(0) macros */
#define ENTER(s) do { (s) = PyGILState_Ensure(); } while (0)
#define LEAVE(s) do { PyGILState_Release(s); } while (0)
void ok_macros(void) { PyGILState_STATE s; ENTER(s); work(0); LEAVE(s); }
int bad_macros(int e) { PyGILState_STATE s; ENTER(s); if (e) return e; LEAVE(s); return 0; }   // expect-error{{is not released}} [ensure-leak]
/* ternary and && guarding */
void ok_ternary(int need) {
    PyGILState_STATE s = need ? PyGILState_Ensure() : PyGILState_UNLOCKED;
    work(0);
    if (need) PyGILState_Release(s);
}
void ok_and(int need) {
    PyGILState_STATE s;
    int taken = need && (s = PyGILState_Ensure(), 1);
    work(0);
    if (taken) PyGILState_Release(s);
}
/* save/restore with goto */
int ok_save_goto(int fd) {
    PyThreadState *ts = PyEval_SaveThread();
    int r = work(fd);
    if (r < 0) goto fail;
    PyEval_RestoreThread(ts);
    return r;
fail:
    PyEval_RestoreThread(ts);
    PyErr_SetString(PyExc_OSError, "fail");
    return -1;
}
int bad_save_goto(int fd) {
    PyThreadState *ts = PyEval_SaveThread();
    int r = work(fd);
    if (r < 0) goto fail;
    PyEval_RestoreThread(ts);
    return r;
fail:
    PyErr_SetString(PyExc_OSError, "fail");   // expect-error{{needs the GIL}} [api-without-gil]
    return -1;   // expect-error{{is not restored}} [allow-threads-leak]
}
/* nested release */
void bad_nested_save(void) {
    Py_BEGIN_ALLOW_THREADS
    work(1);
    Py_BEGIN_ALLOW_THREADS   // expect-error{{already released on this path}} [nested-release]
    work(2);
    Py_END_ALLOW_THREADS
    Py_END_ALLOW_THREADS
}
/* embedding main */
static void *thread_main(void *arg) {
    PyGILState_STATE s = PyGILState_Ensure();
    PyRun_SimpleString("print('hi')");
    PyGILState_Release(s);
    return NULL;
}
int main(void) {
    Py_Initialize();
    PyThreadState *main_ts = PyEval_SaveThread();
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);
    PyEval_RestoreThread(main_ts);
    return Py_FinalizeEx() < 0 ? 1 : 0;
}
/* release thread/acquire thread */
void ok_release_thread(PyThreadState *ts) {
    PyEval_ReleaseThread(ts);
    work(0);
    PyEval_AcquireThread(ts);
}
/* error flag */
int ok_error_flag(int a) {
    int failed = 0;
    PyGILState_STATE s = PyGILState_Ensure();
    if (work(a) < 0) failed = 1;
    PyGILState_Release(s);
    if (failed) return -1;
    return 0;
}
int bad_ensure_in_if_cond_locked_state_kept(int a) {
    PyGILState_STATE s;
    if (a > 0 && (s = PyGILState_Ensure()) == PyGILState_UNLOCKED) {
        work(a);
        PyGILState_Release(s);
    }
    return 0;   // expect-error{{is not released}} [ensure-leak]
}
