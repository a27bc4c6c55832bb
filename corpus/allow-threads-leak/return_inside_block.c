// A return inside Py_BEGIN_ALLOW_THREADS ... Py_END_ALLOW_THREADS leaves the function without the GIL.
#include <Python.h>
#include <stdio.h>

extern int db_step(void *stmt);
extern int db_busy(void *stmt);

PyObject *bad_return_inside(PyObject *self, void *stmt)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = db_step(stmt);
    if (rc < 0)
        return NULL;    // expect-error{{is not re-acquired (thread state '_save' is not restored) before this return}} [allow-threads-leak]
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(rc);
}

int bad_return_from_loop_inside(void *stmt, int tries)
{
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    while (tries-- > 0) {
        rc = db_step(stmt);
        if (rc == 0)
            return 0;   // expect-error{{is not restored}} [allow-threads-leak]
        if (!db_busy(stmt))
            break;
    }
    Py_END_ALLOW_THREADS
    return rc;
}

PyObject *ok_block_before_return(PyObject *self, void *stmt)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = db_step(stmt);
    if (rc < 0) {
        Py_BLOCK_THREADS
        PyErr_SetString(PyExc_RuntimeError, "step failed");
        return NULL;
    }
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(rc);
}

long bad_file_size(FILE *fp)
{
    long size;
    Py_BEGIN_ALLOW_THREADS
    if (fseek(fp, 0, SEEK_END) != 0)
        return -1;      // expect-error{{is not restored}} [allow-threads-leak]
    size = ftell(fp);
    Py_END_ALLOW_THREADS
    return size;
}
