// A library call that runs callbacks set on its handle earlier (rules: `runs-callbacks: true`), made while this
// thread holds the GIL. A callback that takes the GIL with a saved thread state (PyEval_AcquireThread) cannot:
// the thread that would give it the GIL is the one waiting for the callback. pycurl 7.43.0.3 added and removed
// easy handles this way; 7.43.0.4 released the GIL around those calls. The callbacks are set in one method and
// run by calls in others. The prototypes are declared here.
#include <Python.h>

typedef void CURLM;
typedef int CURLMcode;
CURLMcode curl_multi_setopt(CURLM *multi, int option, ...);
CURLMcode curl_multi_add_handle(CURLM *multi, void *easy);
CURLMcode curl_multi_remove_handle(CURLM *multi, void *easy);
CURLMcode curl_multi_fdset(CURLM *multi, void *r, void *w, void *e, int *max);
#define CURLMOPT_SOCKETFUNCTION 20001
#define CURLMOPT_TIMERFUNCTION 20004
#define CURLMOPT_TIMERDATA 10005

typedef struct { PyObject_HEAD CURLM *multi; PyThreadState *state; PyObject *on_timer; PyObject *on_socket; } Multi;

// Takes the GIL with the state the multi method saved before releasing it; 0 when no method released it.
static int acquire_saved(Multi *self, PyThreadState **st)
{
    *st = self->state;
    if (*st == NULL)
        return 0;
    PyEval_AcquireThread(*st);
    return 1;
}

static int timer_callback(CURLM *multi, long timeout_ms, void *userp)
{
    Multi *self = userp;
    PyThreadState *st;
    if (!acquire_saved(self, &st))
        return 0;
    PyObject *r = PyObject_CallFunction(self->on_timer, "l", timeout_ms);
    Py_XDECREF(r);
    PyEval_ReleaseThread(st);
    return 0;
}

// Takes the GIL with PyGILState_Ensure(), which nests: it may run where the GIL is held.
static int socket_callback(void *easy, int fd, int what, void *userp, void *socketp)
{
    Multi *self = userp;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(self->on_socket, "ii", fd, what);
    Py_XDECREF(r);
    PyGILState_Release(g);
    return 0;
}

static PyObject *set_timer(PyObject *op, PyObject *cb)
{
    Multi *self = (Multi *)op;
    Py_XSETREF(self->on_timer, Py_NewRef(cb));
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, timer_callback);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
    Py_RETURN_NONE;
}

static PyObject *bad_add_handle(PyObject *op, PyObject *easy)
{
    Multi *self = (Multi *)op;
    CURLMcode rc = curl_multi_add_handle(self->multi, easy);   // expect-warning{{curl_multi_add_handle() may call back timer_callback() (set with curl_multi_setopt() at callbacks_run_by_held_calls.c:57), which takes the GIL with acquire_saved() (calls PyEval_AcquireThread()); called while this thread holds the GIL, the callback waits for this thread or cannot run}} [blocking-with-gil]
    return PyLong_FromLong(rc);
}

// A helper without a known GIL state: its summary carries the blocking call to the method that holds the GIL.
static void detach(Multi *self, void *easy)
{
    curl_multi_remove_handle(self->multi, easy);
}

static PyObject *bad_remove_handle(PyObject *op, PyObject *easy)
{
    detach((Multi *)op, easy);      // expect-warning{{detach() (summary: it calls curl_multi_remove_handle()) may block while this thread holds the GIL}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyObject *ok_add_handle(PyObject *op, PyObject *easy)
{
    Multi *self = (Multi *)op;
    CURLMcode rc;
    self->state = PyThreadState_Get();
    Py_BEGIN_ALLOW_THREADS
    rc = curl_multi_add_handle(self->multi, easy);
    Py_END_ALLOW_THREADS
    self->state = NULL;
    return PyLong_FromLong(rc);
}

// curl_multi_fdset() runs no callback: holding the GIL is fine.
static PyObject *ok_fdset(PyObject *op, PyObject *unused)
{
    Multi *self = (Multi *)op;
    int max = -1;
    curl_multi_fdset(self->multi, NULL, NULL, NULL, &max);
    return PyLong_FromLong(max);
}

static PyMethodDef methods[] = {
    {"set_timer", set_timer, METH_O, NULL},
    {"bad_add_handle", bad_add_handle, METH_O, NULL},
    {"bad_remove_handle", bad_remove_handle, METH_O, NULL},
    {"ok_add_handle", ok_add_handle, METH_O, NULL},
    {"ok_fdset", ok_fdset, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
