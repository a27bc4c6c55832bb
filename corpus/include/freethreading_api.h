/* The parts of the C API that free-threaded CPython (3.13t, 3.14t) and PEP 788 (3.15) add, declared for the
 * corpus: Debian 12 carries only Python 3.11's headers. The critical-section macros are spelled as the
 * free-threaded build expands them (on a GIL build they are only braces). */
#ifndef GILCHECK_FREETHREADING_API_H
#define GILCHECK_FREETHREADING_API_H
#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030D0000
typedef struct PyMutex { uint8_t _bits; } PyMutex;
void PyMutex_Lock(PyMutex *m);
void PyMutex_Unlock(PyMutex *m);

typedef struct PyCriticalSection { uintptr_t _prev; PyMutex *_mutex; } PyCriticalSection;
typedef struct PyCriticalSection2 { PyCriticalSection _base; PyMutex *_mutex2; } PyCriticalSection2;
void PyCriticalSection_Begin(PyCriticalSection *c, PyObject *op);
void PyCriticalSection_End(PyCriticalSection *c);
void PyCriticalSection2_Begin(PyCriticalSection2 *c, PyObject *a, PyObject *b);
void PyCriticalSection2_End(PyCriticalSection2 *c);
void PyCriticalSection_BeginMutex(PyCriticalSection *c, PyMutex *m);

#define Py_BEGIN_CRITICAL_SECTION(op) { PyCriticalSection _py_cs; PyCriticalSection_Begin(&_py_cs, (PyObject *)(op))
#define Py_END_CRITICAL_SECTION() PyCriticalSection_End(&_py_cs); }
#define Py_BEGIN_CRITICAL_SECTION2(a, b) { PyCriticalSection2 _py_cs2; \
    PyCriticalSection2_Begin(&_py_cs2, (PyObject *)(a), (PyObject *)(b))
#define Py_END_CRITICAL_SECTION2() PyCriticalSection2_End(&_py_cs2); }
#define Py_BEGIN_CRITICAL_SECTION_MUTEX(m) { PyCriticalSection _py_cs; PyCriticalSection_BeginMutex(&_py_cs, (m))
#endif

#if PY_VERSION_HEX < 0x030F0000
typedef struct PyInterpreterGuard PyInterpreterGuard;
typedef struct PyInterpreterView PyInterpreterView;
typedef struct PyThreadStateToken PyThreadStateToken;
PyInterpreterGuard *PyInterpreterGuard_FromCurrent(void);
PyInterpreterGuard *PyInterpreterGuard_FromView(PyInterpreterView *view);
void PyInterpreterGuard_Close(PyInterpreterGuard *guard);
PyInterpreterView *PyInterpreterView_FromCurrent(void);
PyInterpreterView *PyInterpreterView_FromMain(void);
void PyInterpreterView_Close(PyInterpreterView *view);
PyThreadStateToken *PyThreadState_Ensure(PyInterpreterGuard *guard);
PyThreadStateToken *PyThreadState_EnsureFromView(PyInterpreterView *view);
void PyThreadState_Release(PyThreadStateToken *token);
#endif
#endif
