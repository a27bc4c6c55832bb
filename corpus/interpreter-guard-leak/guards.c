// gilcheck-args: -I../include
// PEP 788 interpreter guards and views: a path that keeps a guard open makes finalization wait for it.
#include "freethreading_api.h"
#include <pthread.h>
#include <stdlib.h>

struct job { PyInterpreterView *view; PyObject *fn; };
extern void *job_main(void *arg);
extern int compress_file(const char *path);

PyObject *bad_compress(PyObject *self, PyObject *arg)
{
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL)
        return NULL;
    PyInterpreterGuard *guard = PyInterpreterGuard_FromCurrent();
    if (guard == NULL)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = compress_file(path);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return PyErr_SetFromErrno(PyExc_OSError);  // expect-error{{interpreter guard 'guard' begun by PyInterpreterGuard_FromCurrent() is not ended}} [interpreter-guard-leak]
    PyInterpreterGuard_Close(guard);
    Py_RETURN_NONE;
}

PyObject *bad_start_job(PyObject *self, PyObject *fn)
{
    pthread_t t;
    PyInterpreterView *view = PyInterpreterView_FromCurrent();
    if (view == NULL)
        return NULL;
    struct job *j = malloc(sizeof *j);
    if (j == NULL) {
        PyInterpreterView_Close(view);
        return PyErr_NoMemory();
    }
    j->view = view;
    j->fn = Py_NewRef(fn);
    if (pthread_create(&t, NULL, job_main, j) != 0) {
        Py_DECREF(j->fn);
        free(j);
        return PyErr_NoMemory();              // expect-error{{interpreter view 'view' begun by PyInterpreterView_FromCurrent() is not ended}} [interpreter-guard-leak]
    }
    pthread_detach(t);
    Py_RETURN_NONE;
}

PyObject *ok_start_job(PyObject *self, PyObject *fn)
{
    pthread_t t;
    PyInterpreterView *view = PyInterpreterView_FromCurrent();
    if (view == NULL)
        return NULL;
    struct job *j = malloc(sizeof *j);
    if (j == NULL) {
        PyInterpreterView_Close(view);
        return PyErr_NoMemory();
    }
    j->view = view;                           // the thread closes it
    j->fn = Py_NewRef(fn);
    if (pthread_create(&t, NULL, job_main, j) != 0) {
        Py_DECREF(j->fn);
        PyInterpreterView_Close(view);
        free(j);
        return PyErr_NoMemory();
    }
    pthread_detach(t);
    Py_RETURN_NONE;
}

struct timer { PyObject_HEAD PyInterpreterGuard *guard; };

int ok_timer_arm(struct timer *t)
{
    PyInterpreterGuard *g = PyInterpreterGuard_FromCurrent();
    if (g == NULL)
        return -1;
    if (t->guard != NULL)
        PyInterpreterGuard_Close(t->guard);
    t->guard = g;                             // kept by the object until it is disarmed
    return 0;
}
