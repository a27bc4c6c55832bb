// Threads started by the extension: each entry takes the GIL before touching Python objects and gives
// it back before exiting; pure C parts run without it.
#include <Python.h>
#include <pthread.h>
#include <threads.h>
#include <stdlib.h>

struct task { PyObject *callback; int n; double result; };

static double crunch(int n) { double x = 0; for (int i = 0; i < n; i++) x += i * 0.5; return x; }

static void *worker_main(void *arg)
{
    struct task *t = arg;
    t->result = crunch(t->n);               /* no Python here */

    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(t->callback, "d", t->result);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    Py_DECREF(t->callback);
    PyGILState_Release(st);
    free(t);
    return NULL;
}

static int c11_worker(void *arg)
{
    struct task *t = arg;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_CLEAR(t->callback);
    PyGILState_Release(st);
    free(t);
    return 0;
}

static void pythread_worker(void *arg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs((PyObject *)arg);
    Py_XDECREF(r);
    Py_DECREF((PyObject *)arg);
    PyGILState_Release(st);
}

static void *c_only(void *arg)
{
    struct task *t = arg;
    t->result = crunch(t->n);
    return arg;
}

PyObject *ok_start(PyObject *self, PyObject *cb)
{
    pthread_t tid;
    thrd_t c11;
    struct task *t = malloc(sizeof *t);
    struct task *u = malloc(sizeof *u);
    if (t == NULL || u == NULL) {
        free(t);
        free(u);
        return PyErr_NoMemory();
    }
    t->callback = Py_NewRef(cb);
    t->n = 1000;
    u->callback = Py_NewRef(cb);
    u->n = 10;
    if (pthread_create(&tid, NULL, worker_main, t) != 0) {
        Py_DECREF(t->callback);
        free(t);
    } else {
        pthread_detach(tid);
    }
    if (thrd_create(&c11, c11_worker, u) != thrd_success) {
        Py_DECREF(u->callback);
        free(u);
    }
    Py_INCREF(cb);
    if (PyThread_start_new_thread(pythread_worker, cb) == PYTHREAD_INVALID_THREAD_ID)
        Py_DECREF(cb);
    Py_RETURN_NONE;
}

int ok_join_without_gil(struct task *t)
{
    pthread_t tid;
    if (pthread_create(&tid, NULL, c_only, t) != 0)
        return -1;
    Py_BEGIN_ALLOW_THREADS
    pthread_join(tid, NULL);
    Py_END_ALLOW_THREADS
    return 0;
}
