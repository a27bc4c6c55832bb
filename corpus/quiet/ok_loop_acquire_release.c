// Worker loops that take the GIL for each item and give it back before the next one, with continue,
// break and early exits that all release first.
#include <Python.h>
#include <stddef.h>

struct job { int id; const char *payload; };

extern struct job *next_job(void *queue);
extern int job_is_valid(const struct job *j);
extern void finish_job(struct job *j);

void ok_drain_queue(void *queue, PyObject *cb)
{
    struct job *j;
    while ((j = next_job(queue)) != NULL) {
        if (!job_is_valid(j)) {
            finish_job(j);
            continue;
        }
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallFunction(cb, "is", j->id, j->payload);
        if (r == NULL) {
            PyErr_Print();
            PyGILState_Release(st);
            finish_job(j);
            continue;
        }
        int stop = PyObject_IsTrue(r) > 0;
        Py_DECREF(r);
        PyGILState_Release(st);
        finish_job(j);
        if (stop)
            break;
    }
}

int ok_for_loop_with_return(PyObject **objs, int n)
{
    for (int i = 0; i < n; i++) {
        PyGILState_STATE st = PyGILState_Ensure();
        if (objs[i] == NULL) {
            PyGILState_Release(st);
            return -1;
        }
        Py_DECREF(objs[i]);
        objs[i] = NULL;
        PyGILState_Release(st);
    }
    return 0;
}

void ok_do_while_batches(PyObject *sink, int batches)
{
    int done = 0;
    do {
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallMethod(sink, "flush", NULL);
        Py_XDECREF(r);
        PyGILState_Release(st);
        done++;
    } while (done < batches);
}

/* The opposite shape: hold the GIL outside, drop it for each blocking step inside the loop. */
extern int read_chunk(int fd, char *buf, int len);
PyObject *ok_read_all(int fd)
{
    char buf[4096];
    PyObject *out = PyBytes_FromStringAndSize(NULL, 0);
    if (out == NULL)
        return NULL;
    for (;;) {
        int n;
        Py_BEGIN_ALLOW_THREADS
        n = read_chunk(fd, buf, (int)sizeof buf);
        Py_END_ALLOW_THREADS
        if (n < 0) {
            Py_DECREF(out);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (n == 0)
            break;
        PyObject *piece = PyBytes_FromStringAndSize(buf, n);
        if (piece == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyBytes_ConcatAndDel(&out, piece);
        if (out == NULL)
            return NULL;
    }
    return out;
}
