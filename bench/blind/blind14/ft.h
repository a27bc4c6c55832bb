/* ft.h - local shims for free-threading and PEP 788 APIs (3.11 headers only) */
#ifndef FT_SHIM_H
#define FT_SHIM_H
#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030D0000
typedef struct PyMutex { uint8_t _bits; } PyMutex;
void PyMutex_Lock(PyMutex *m);
void PyMutex_Unlock(PyMutex *m);

typedef struct PyCriticalSection {
    uintptr_t _cs_prev;
    PyMutex *_cs_mutex;
} PyCriticalSection;

typedef struct PyCriticalSection2 {
    PyCriticalSection _cs_base;
    PyMutex *_cs_mutex2;
} PyCriticalSection2;

void PyCriticalSection_Begin(PyCriticalSection *c, PyObject *op);
void PyCriticalSection_End(PyCriticalSection *c);
void PyCriticalSection2_Begin(PyCriticalSection2 *c, PyObject *a, PyObject *b);
void PyCriticalSection2_End(PyCriticalSection2 *c);

#define Py_BEGIN_CRITICAL_SECTION(op) \
    { PyCriticalSection _py_cs; PyCriticalSection_Begin(&_py_cs, (PyObject*)(op))
#define Py_END_CRITICAL_SECTION() \
    PyCriticalSection_End(&_py_cs); }
#define Py_BEGIN_CRITICAL_SECTION2(a, b) \
    { PyCriticalSection2 _py_cs2; PyCriticalSection2_Begin(&_py_cs2, (PyObject*)(a), (PyObject*)(b))
#define Py_END_CRITICAL_SECTION2() \
    PyCriticalSection2_End(&_py_cs2); }

int PyDict_GetItemRef(PyObject *p, PyObject *key, PyObject **result);
int PyUnstable_Module_SetGIL(PyObject *module, void *gil);

#define Py_mod_gil 4
#define Py_MOD_GIL_USED ((void *)0)
#define Py_MOD_GIL_NOT_USED ((void *)1)
#endif /* < 3.13 */

#if PY_VERSION_HEX < 0x030F0000
typedef struct PyInterpreterGuard PyInterpreterGuard;
typedef struct PyInterpreterView PyInterpreterView;
typedef struct PyThreadStateToken PyThreadStateToken;

PyInterpreterGuard *PyInterpreterGuard_FromCurrent(void);
PyInterpreterGuard *PyInterpreterGuard_FromView(PyInterpreterView *view);
void PyInterpreterGuard_Close(PyInterpreterGuard *guard);
PyInterpreterView *PyInterpreterView_FromCurrent(void);
void PyInterpreterView_Close(PyInterpreterView *view);
/* Returns NULL on failure. */
PyThreadStateToken *PyThreadState_Ensure(PyInterpreterGuard *guard);
void PyThreadState_Release(PyThreadStateToken *token);
#endif /* < 3.15 */

#endif
