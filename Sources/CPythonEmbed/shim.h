/* CPython's embedding API for the threaded test host (flags from pkg-config's python3-embed). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
