/*
 * ft_api.h -- stand-in declarations for the CPython 3.13 / 3.14 / 3.15
 * free-threading C API, to be included after <Python.h> when only older
 * (3.11) headers are installed.  Shapes follow CPython's own headers:
 *   Include/cpython/lock.h              (PyMutex, 3.13)
 *   Include/cpython/critical_section.h  (PyCriticalSection, 3.13/3.14)
 *   Include/moduleobject.h              (Py_mod_gil, 3.13)
 *   Include/pystate.h                   (PEP 788, 3.15)
 *   Include/dictobject.h, listobject.h, weakrefobject.h, import.h (*Ref, 3.13)
 *
 * The critical-section macros always use the free-threaded (Py_GIL_DISABLED)
 * expansion, because that is the build this test set targets.
 */
#ifndef FT_API_H
#define FT_API_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* 3.13: PyMutex (Include/cpython/lock.h)                              */
/* ------------------------------------------------------------------ */
#if PY_VERSION_HEX < 0x030D0000

#define _Py_UNLOCKED    0
#define _Py_LOCKED      1

typedef struct PyMutex {
    uint8_t _bits;  /* (private) */
} PyMutex;

/* Slow paths, exported. */
PyAPI_FUNC(void) _PyMutex_Lock(PyMutex *m);
PyAPI_FUNC(void) _PyMutex_Unlock(PyMutex *m);

/* Public, exported (the real header additionally provides inline fast
   paths over _PyMutex_Lock/_PyMutex_Unlock; the public names are what
   extension code calls). */
PyAPI_FUNC(void) PyMutex_Lock(PyMutex *m);
PyAPI_FUNC(void) PyMutex_Unlock(PyMutex *m);

#endif /* < 3.13 */

#if PY_VERSION_HEX < 0x030E0000
/* 3.14 */
PyAPI_FUNC(int) PyMutex_IsLocked(PyMutex *m);
#endif

/* ------------------------------------------------------------------ */
/* 3.13 / 3.14: critical sections (Include/cpython/critical_section.h) */
/* ------------------------------------------------------------------ */
#if PY_VERSION_HEX < 0x030D0000

typedef struct PyCriticalSection PyCriticalSection;
typedef struct PyCriticalSection2 PyCriticalSection2;

struct PyCriticalSection {
    uintptr_t _cs_prev;
    PyMutex *_cs_mutex;
};

struct PyCriticalSection2 {
    PyCriticalSection _cs_base;
    PyMutex *_cs_mutex2;
};

PyAPI_FUNC(void) PyCriticalSection_Begin(PyCriticalSection *c, PyObject *op);
PyAPI_FUNC(void) PyCriticalSection_End(PyCriticalSection *c);
PyAPI_FUNC(void) PyCriticalSection2_Begin(PyCriticalSection2 *c,
                                          PyObject *a, PyObject *b);
PyAPI_FUNC(void) PyCriticalSection2_End(PyCriticalSection2 *c);

#define Py_BEGIN_CRITICAL_SECTION(op)                                   \
    {                                                                   \
        PyCriticalSection _py_cs;                                       \
        PyCriticalSection_Begin(&_py_cs, _PyObject_CAST(op))

#define Py_END_CRITICAL_SECTION()                                       \
        PyCriticalSection_End(&_py_cs);                                 \
    }

#define Py_BEGIN_CRITICAL_SECTION2(a, b)                                \
    {                                                                   \
        PyCriticalSection2 _py_cs2;                                     \
        PyCriticalSection2_Begin(&_py_cs2, _PyObject_CAST(a),           \
                                 _PyObject_CAST(b))

#define Py_END_CRITICAL_SECTION2()                                      \
        PyCriticalSection2_End(&_py_cs2);                               \
    }

#endif /* < 3.13 */

#if PY_VERSION_HEX < 0x030E0000
/* 3.14: sections over a bare PyMutex */
PyAPI_FUNC(void) PyCriticalSection_BeginMutex(PyCriticalSection *c,
                                              PyMutex *m);
PyAPI_FUNC(void) PyCriticalSection2_BeginMutex(PyCriticalSection2 *c,
                                               PyMutex *m1, PyMutex *m2);

#define Py_BEGIN_CRITICAL_SECTION_MUTEX(mutex)                          \
    {                                                                   \
        PyCriticalSection _py_cs;                                       \
        PyCriticalSection_BeginMutex(&_py_cs, mutex)

#define Py_BEGIN_CRITICAL_SECTION2_MUTEX(m1, m2)                        \
    {                                                                   \
        PyCriticalSection2 _py_cs2;                                     \
        PyCriticalSection2_BeginMutex(&_py_cs2, m1, m2)
#endif /* < 3.14 */

/* ------------------------------------------------------------------ */
/* 3.13: Py_mod_gil (Include/moduleobject.h)                           */
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

#if PY_VERSION_HEX < 0x030D0000
/* Real headers only declare this under Py_GIL_DISABLED; declared
   unconditionally here so both guarded and unguarded call sites compile. */
PyAPI_FUNC(int) PyUnstable_Module_SetGIL(PyObject *module, void *gil);
#endif

/* ------------------------------------------------------------------ */
/* 3.13: strong-reference ("Ref") replacements for borrowed getters    */
/* ------------------------------------------------------------------ */
#if PY_VERSION_HEX < 0x030D0000
PyAPI_FUNC(PyObject *) PyList_GetItemRef(PyObject *list, Py_ssize_t i);
PyAPI_FUNC(int) PyDict_GetItemRef(PyObject *mp, PyObject *key,
                                  PyObject **result);
PyAPI_FUNC(int) PyDict_GetItemStringRef(PyObject *mp, const char *key,
                                        PyObject **result);
PyAPI_FUNC(int) PyDict_SetDefaultRef(PyObject *mp, PyObject *key,
                                     PyObject *default_value,
                                     PyObject **result);
PyAPI_FUNC(int) PyDict_Pop(PyObject *dict, PyObject *key, PyObject **result);
PyAPI_FUNC(int) PyDict_ContainsString(PyObject *mp, const char *key);
PyAPI_FUNC(int) PyWeakref_GetRef(PyObject *ref, PyObject **pobj);
PyAPI_FUNC(PyObject *) PyImport_AddModuleRef(const char *name);
PyAPI_FUNC(int) PyModule_Add(PyObject *mod, const char *name,
                             PyObject *value);
PyAPI_FUNC(PyThreadState *) PyThreadState_GetUnchecked(void);
#endif

/* ------------------------------------------------------------------ */
/* 3.15: PEP 788 (Include/pystate.h)                                   */
/* ------------------------------------------------------------------ */
#if PY_VERSION_HEX < 0x030F0000
typedef struct _PyInterpreterGuard PyInterpreterGuard;
typedef struct _PyInterpreterView PyInterpreterView;
typedef struct _PyThreadStateToken PyThreadStateToken;

/* Interpreter guards: prevent finalization while held. */
PyAPI_FUNC(PyInterpreterGuard *) PyInterpreterGuard_FromCurrent(void);
PyAPI_FUNC(PyInterpreterGuard *) PyInterpreterGuard_FromView(
    PyInterpreterView *view);
PyAPI_FUNC(void) PyInterpreterGuard_Close(PyInterpreterGuard *guard);

/* Interpreter views: thread-safe handle that does not pin the
   interpreter. */
PyAPI_FUNC(PyInterpreterView *) PyInterpreterView_FromCurrent(void);
PyAPI_FUNC(PyInterpreterView *) PyInterpreterView_FromMain(void);
PyAPI_FUNC(void) PyInterpreterView_Close(PyInterpreterView *view);

/* Attach a thread state; NULL on failure (no exception set). */
PyAPI_FUNC(PyThreadStateToken *) PyThreadState_Ensure(
    PyInterpreterGuard *guard);
PyAPI_FUNC(PyThreadStateToken *) PyThreadState_EnsureFromView(
    PyInterpreterView *view);
PyAPI_FUNC(void) PyThreadState_Release(PyThreadStateToken *token);
#endif /* < 3.15 */

#ifdef __cplusplus
}
#endif

#endif /* FT_API_H */
