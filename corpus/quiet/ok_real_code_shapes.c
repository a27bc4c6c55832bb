// Shapes read in mature embedding hosts and extensions; all correct, all must stay quiet.
#include <Python.h>
extern int work(int);      // slow C work: released around below
extern int compute(int);   // quick C work, done with the GIL held
/* Blender-like use_gil flag */
static int PyC_IsInterpreterActive(void);
void ok_use_gil(void) {
    const int use_gil = !PyC_IsInterpreterActive();
    PyGILState_STATE gilstate;
    if (use_gil) gilstate = PyGILState_Ensure();
    if (compute(0) < 0) {
        if (use_gil) PyGILState_Release(gilstate);
        return;
    }
    compute(1);
    if (use_gil) PyGILState_Release(gilstate);
}
/* Blender-like release-if-held token */
void *BPY_thread_save(void) {
    if (_PyThreadState_UncheckedGet() && PyGILState_Check()) return (void *)PyEval_SaveThread();
    return NULL;
}
void BPY_thread_restore(void *tstate) {
    if (tstate) PyEval_RestoreThread((PyThreadState *)tstate);
}
#define BPy_BEGIN_ALLOW_THREADS { void *_bpy_saved_tstate = BPY_thread_save(); (void)0
#define BPy_END_ALLOW_THREADS BPY_thread_restore(_bpy_saved_tstate); } (void)0
void ok_frame_change(void) {
    BPy_BEGIN_ALLOW_THREADS;
    work(5);
    BPy_END_ALLOW_THREADS;
}
/* Blender lifecycle */
void BPY_python_start(void) {
    Py_Initialize();
    PyEval_ReleaseThread(PyGILState_GetThisThreadState());
}
void BPY_python_end(void) {
    PyGILState_Ensure();
    Py_Finalize();
}
/* ifdef-split save/restore */
void ok_ifdef_split(int x) {
#ifndef NO_THREADS
    Py_BEGIN_ALLOW_THREADS
#endif
    work(x);
#ifndef NO_THREADS
    Py_END_ALLOW_THREADS
#endif
}
/* NDEBUG ensure */
void ok_ndebug(PyObject *o) {
#ifndef NDEBUG
    PyGILState_STATE s = PyGILState_Ensure();
    assert(Py_REFCNT(o) > 0);
    PyGILState_Release(s);
#endif
}
/* struct field thread state across region, macro with fatal if set */
typedef struct { PyObject_HEAD void *db; PyThreadState *_save; } Conn;
#define CONN_BEGIN(c) do { if ((c)->_save) Py_FatalError("nested"); (c)->_save = PyEval_SaveThread(); } while (0)
#define CONN_END(c) do { PyEval_RestoreThread((c)->_save); (c)->_save = NULL; } while (0)
PyObject *ok_conn_exec(Conn *c) {
    int rc;
    CONN_BEGIN(c);
    rc = work(1);
    CONN_END(c);
    if (rc < 0) { PyErr_SetString(PyExc_RuntimeError, "x"); return NULL; }
    Py_RETURN_NONE;
}
/* CALL(x = f()) whole region in a macro argument */
#define CALL(stmt) do { Py_BEGIN_ALLOW_THREADS stmt; Py_END_ALLOW_THREADS } while (0)
PyObject *ok_call_macro(void) {
    int x;
    CALL(x = work(3));
    if (x < 0) return NULL;
    return PyLong_FromLong(x);
}
/* block threads raise unblock */
PyObject *ok_block_raise(int n) {
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = work(n);
    if (r < 0) {
        Py_BLOCK_THREADS
        PyErr_SetString(PyExc_OSError, "x");
        Py_UNBLOCK_THREADS
    }
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(r);
}
/* Cython-like nogil */
static int __pyx_f_nogil(int n) {
    int __pyx_r;
    {
        PyThreadState *_save;
        Py_UNBLOCK_THREADS
        {
            if (work(n) < 0) goto __pyx_L4_error;
        }
        {
            Py_BLOCK_THREADS
            goto __pyx_L5;
        }
        __pyx_L4_error: {
            Py_BLOCK_THREADS
            goto __pyx_L1_error;
        }
        __pyx_L5:;
    }
    __pyx_r = 0;
    goto __pyx_L0;
    __pyx_L1_error:;
    PyErr_SetString(PyExc_ValueError, "bad");
    __pyx_r = -1;
    __pyx_L0:;
    return __pyx_r;
}
/* cython with gil in nogil function */
static void __pyx_f_cb(int n) {
    PyGILState_STATE __pyx_gilstate_save = PyGILState_Ensure();
    if (compute(n) < 0) goto __pyx_L1_error;
    goto __pyx_L0;
    __pyx_L1_error:;
    PyErr_WriteUnraisable(Py_None);
    __pyx_L0:;
    PyGILState_Release(__pyx_gilstate_save);
}
/* hooks via function pointers */
struct hooks { void (*gil_get)(void); void (*gil_release)(void); } up;
void ok_hooks(void) { up.gil_get(); work(1); up.gil_release(); }
