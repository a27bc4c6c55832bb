# cython: language_level=3
# Correct GIL handling written in Cython: with nogil / with gil blocks, nogil functions, callbacks that
# take the GIL. gilcheck must stay quiet on the C that Cython generates from it.
from libc.stdlib cimport malloc, free

cdef int crunch(int *data, int n) noexcept nogil:
    cdef int i, total = 0
    for i in range(n):
        total += data[i]
    return total

cdef int checked_crunch(int *data, int n) except -1 nogil:
    if n < 0:
        with gil:
            raise ValueError("negative length")
    return crunch(data, n)

cdef void notify_from_c_thread(void *user) noexcept with gil:
    callback = <object>user
    callback()

def total(values):
    cdef int n = len(values)
    cdef int *data = <int *>malloc(n * sizeof(int))
    cdef int result
    if data == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            data[i] = values[i]
        with nogil:
            result = checked_crunch(data, n)
    finally:
        free(data)
    return result

def wait_and_report(callback, int rounds):
    cdef int i
    for i in range(rounds):
        with nogil:
            if crunch(&i, 1) > 100:
                break
        callback(i)
    notify_from_c_thread(<void *>callback)
