# cython: language_level=3
# Two real GIL bugs that Cython itself cannot see, planted in otherwise correct Cython code.
# gilcheck-expect: api-without-gil in bump_without_gil
# gilcheck-expect: ensure-leak in leaky_hook

cdef extern from "Python.h":
    ctypedef struct PyObject
    # Declared nogil by mistake: Py_IncRef touches the reference count and needs the GIL.
    void Py_IncRef(PyObject *o) nogil

cdef extern from *:
    """
    static int leaky_hook(int fail)
    {
        PyGILState_STATE st = PyGILState_Ensure();
        if (fail)
            return -1;
        PyGILState_Release(st);
        return 0;
    }
    """
    int leaky_hook(int fail) nogil

cdef void bump_without_gil(PyObject *o) noexcept nogil:
    Py_IncRef(o)

def run(obj, int fail):
    with nogil:
        bump_without_gil(<PyObject *>obj)
        leaky_hook(fail)
