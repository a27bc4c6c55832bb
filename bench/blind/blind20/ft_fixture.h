/*
 * ft_fixture.h -- declarations of the CPython 3.13 .. 3.15 C API that a
 * FREE-THREADED 3.15 build ("3.15t") would provide, layered on top of an
 * older Python.h (the machine has 3.11 headers).
 *
 * Written from the public documentation only (docs.python.org c-api
 * "Synchronization primitives", "Module objects", "Thread states and the
 * GIL", and PEP 788 as finally documented: PyInterpreterGuard * /
 * PyInterpreterView * pointers, PyThreadState_Ensure returning a
 * PyThreadState * token).  Every block is guarded so that it vanishes on
 * real headers that already declare it.
 *
 * Include order in every case file:  #include <Python.h>  then
 *                                    #include "ft_fixture.h"
 */
#ifndef BLIND20_FT_FIXTURE_H
#define BLIND20_FT_FIXTURE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A free-threaded build defines Py_GIL_DISABLED in pyconfig.h. */
#ifndef Py_GIL_DISABLED
#  define Py_GIL_DISABLED 1
#endif

/* ------------------------------------------------------------------ */
/* PyMutex (3.13)                                                     */
/* ------------------------------------------------------------------ */
#if PY_VERSION_HEX < 0x030D0000
typedef struct PyMutex {
    uint8_t _bits;              /* 0 == unlocked */
} PyMutex;

/* Blocks if already locked; detaches the thread state while waiting. */
PyAPI_FUNC(void) PyMutex_Lock(PyMutex *m);
/* The mutex must be locked, otherwise a fatal error is issued. */
PyAPI_FUNC(void) PyMutex_Unlock(PyMutex *m);
#endif

#if PY_VERSION_HEX < 0x030E0000
/* 3.14: for assertions / debugging only. */
PyAPI_FUNC(int) PyMutex_IsLocked(PyMutex *m);
#endif

/* ------------------------------------------------------------------ */
/* Critical sections (3.13; mutex variants 3.14)                      */
/* ------------------------------------------------------------------ */
#if PY_VERSION_HEX < 0x030D0000
typedef struct PyCriticalSection {
    uintptr_t _cs_prev;
    PyMutex *_cs_mutex;
} PyCriticalSection;

typedef struct PyCriticalSection2 {
    PyCriticalSection _cs_base;
    PyMutex *_cs_mutex2;
} PyCriticalSection2;

PyAPI_FUNC(void) PyCriticalSection_Begin(PyCriticalSection *c, PyObject *op);
PyAPI_FUNC(void) PyCriticalSection_End(PyCriticalSection *c);
PyAPI_FUNC(void) PyCriticalSection2_Begin(PyCriticalSection2 *c,
                                          PyObject *a, PyObject *b);
PyAPI_FUNC(void) PyCriticalSection2_End(PyCriticalSection2 *c);
#endif

#if PY_VERSION_HEX < 0x030E0000
PyAPI_FUNC(void) PyCriticalSection_BeginMutex(PyCriticalSection *c,
                                              PyMutex *m);
PyAPI_FUNC(void) PyCriticalSection2_BeginMutex(PyCriticalSection2 *c,
                                               PyMutex *m1, PyMutex *m2);
#endif

/* The macros, as a free-threaded (Py_GIL_DISABLED) build expands them. */
#ifndef Py_BEGIN_CRITICAL_SECTION
#  define Py_BEGIN_CRITICAL_SECTION(op)                                  \
    {                                                                    \
        PyCriticalSection _py_cs;                                        \
        PyCriticalSection_Begin(&_py_cs, _PyObject_CAST(op))

#  define Py_BEGIN_CRITICAL_SECTION_MUTEX(mutex)                         \
    {                                                                    \
        PyCriticalSection _py_cs;                                        \
        PyCriticalSection_BeginMutex(&_py_cs, mutex)

#  define Py_END_CRITICAL_SECTION()                                      \
        PyCriticalSection_End(&_py_cs);                                  \
    }

#  define Py_BEGIN_CRITICAL_SECTION2(a, b)                               \
    {                                                                    \
        PyCriticalSection2 _py_cs2;                                      \
        PyCriticalSection2_Begin(&_py_cs2, _PyObject_CAST(a),            \
                                 _PyObject_CAST(b))

#  define Py_BEGIN_CRITICAL_SECTION2_MUTEX(m1, m2)                       \
    {                                                                    \
        PyCriticalSection2 _py_cs2;                                      \
        PyCriticalSection2_BeginMutex(&_py_cs2, m1, m2)

#  define Py_END_CRITICAL_SECTION2()                                     \
        PyCriticalSection2_End(&_py_cs2);                                \
    }
#endif

/* ------------------------------------------------------------------ */
/* Module slots: Py_mod_multiple_interpreters (3.12), Py_mod_gil (3.13) */
/* ------------------------------------------------------------------ */
#ifndef Py_mod_multiple_interpreters
#  define Py_mod_multiple_interpreters 3
#  define Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED ((void *)0)
#  define Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED ((void *)1)
#  define Py_MOD_PER_INTERPRETER_GIL_SUPPORTED ((void *)2)
#endif

#ifndef Py_mod_gil
#  define Py_mod_gil 4
#  define Py_MOD_GIL_USED ((void *)0)
#  define Py_MOD_GIL_NOT_USED ((void *)1)
#endif

#if PY_VERSION_HEX < 0x030D0000 && defined(Py_GIL_DISABLED)
/* Single-phase init: declare GIL support on the created module. */
PyAPI_FUNC(int) PyUnstable_Module_SetGIL(PyObject *module, void *gil);
#endif

/* ------------------------------------------------------------------ */
/* Strong-reference ("Ref") replacements for borrowed-reference APIs  */
/* ------------------------------------------------------------------ */
#if PY_VERSION_HEX < 0x030D0000
/* Returns a new reference, or NULL with IndexError/TypeError set. */
PyAPI_FUNC(PyObject *) PyList_GetItemRef(PyObject *list, Py_ssize_t index);
/* 1: found (*result is a new ref); 0: missing (*result NULL);
   -1: error (*result NULL). */
PyAPI_FUNC(int) PyDict_GetItemRef(PyObject *p, PyObject *key,
                                  PyObject **result);
PyAPI_FUNC(int) PyDict_GetItemStringRef(PyObject *p, const char *key,
                                        PyObject **result);
/* 1: key was present; 0: default inserted; -1: error.  *result (if
   result != NULL) receives a new reference to the stored value. */
PyAPI_FUNC(int) PyDict_SetDefaultRef(PyObject *p, PyObject *key,
                                     PyObject *default_value,
                                     PyObject **result);
PyAPI_FUNC(int) PyDict_Pop(PyObject *p, PyObject *key, PyObject **result);
PyAPI_FUNC(int) PyDict_PopString(PyObject *p, const char *key,
                                 PyObject **result);
PyAPI_FUNC(int) PyDict_ContainsString(PyObject *p, const char *key);
/* 1: alive (*pobj new ref); 0: dead (*pobj NULL); -1: error. */
PyAPI_FUNC(int) PyWeakref_GetRef(PyObject *ref, PyObject **pobj);
/* New reference to sys.modules[name], creating it if needed. */
PyAPI_FUNC(PyObject *) PyImport_AddModuleRef(const char *name);
#endif

/* ------------------------------------------------------------------ */
/* PEP 788 (3.15): interpreter guards, views, thread-state tokens     */
/* ------------------------------------------------------------------ */
#if PY_VERSION_HEX < 0x030F0000
typedef struct PyInterpreterGuard PyInterpreterGuard;   /* opaque */
typedef struct PyInterpreterView PyInterpreterView;     /* opaque */

/* Needs an attached thread state; NULL + exception on failure. */
PyAPI_FUNC(PyInterpreterGuard *) PyInterpreterGuard_FromCurrent(void);
/* No thread state needed; NULL (no exception) if the interpreter is
   gone, finalizing, or out of memory. */
PyAPI_FUNC(PyInterpreterGuard *) PyInterpreterGuard_FromView(
    PyInterpreterView *view);
/* Cannot fail; no thread state needed.  A guard never closed hangs
   interpreter finalization forever. */
PyAPI_FUNC(void) PyInterpreterGuard_Close(PyInterpreterGuard *guard);

/* Needs an attached thread state; NULL + exception on failure. */
PyAPI_FUNC(PyInterpreterView *) PyInterpreterView_FromCurrent(void);
/* No thread state needed; NULL without exception on failure. */
PyAPI_FUNC(PyInterpreterView *) PyInterpreterView_FromMain(void);
PyAPI_FUNC(void) PyInterpreterView_Close(PyInterpreterView *view);

/* Attach a thread state for the guarded / viewed interpreter.  Returns
   an opaque token (the previously attached thread state, or a marker);
   NULL on failure WITHOUT an exception -- then PyThreadState_Release
   must NOT be called.  Each successful call needs exactly one
   PyThreadState_Release(token). */
PyAPI_FUNC(PyThreadState *) PyThreadState_Ensure(PyInterpreterGuard *guard);
PyAPI_FUNC(PyThreadState *) PyThreadState_EnsureFromView(
    PyInterpreterView *view);
PyAPI_FUNC(void) PyThreadState_Release(PyThreadState *tstate);
#endif

/* 3.13 public name of _PyThreadState_UncheckedGet */
#if PY_VERSION_HEX < 0x030D0000
PyAPI_FUNC(PyThreadState *) PyThreadState_GetUnchecked(void);
#endif

#ifdef __cplusplus
}
#endif

#endif /* BLIND20_FT_FIXTURE_H */
