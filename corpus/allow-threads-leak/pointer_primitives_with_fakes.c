// GIL primitives behind function pointers that an init function sets to the real functions when threads are
// on, and to functions that do nothing when they are off (uWSGI's python plugin: UWSGI_RELEASE_GIL is
// `up.gil_release();`). The real pair is what matters: a path between the two macros that returns leaves the
// GIL released (uWSGI 2.0.14 fixed farm_get_msg's error return).
#include <Python.h>
#include <pthread.h>
#include <poll.h>

struct plugin { pthread_key_t key; void (*gil_get)(void); void (*gil_release)(void); };
static struct plugin up;

#define RELEASE_GIL up.gil_release();
#define GET_GIL up.gil_get();

// The primitives themselves leave the GIL as their names say.
static void gil_real_get(void)
{
    PyEval_RestoreThread((PyThreadState *)pthread_getspecific(up.key));
}

static void gil_real_release(void)
{
    pthread_setspecific(up.key, (void *)PyThreadState_Get());
    PyEval_SaveThread();
}

static void gil_fake_get(void) {}
static void gil_fake_release(void) {}

void plugin_init(int threads)
{
    if (threads) {
        pthread_key_create(&up.key, NULL);
        up.gil_get = gil_real_get;
        up.gil_release = gil_real_release;
    } else {
        up.gil_get = gil_fake_get;
        up.gil_release = gil_fake_release;
    }
}

// A wrapper that only releases is a primitive too: nothing to re-acquire here.
void enter_blocking_section(void)
{
    RELEASE_GIL
}

static PyObject *bad_wait_message(PyObject *self, PyObject *arg)
{
    struct pollfd p = { (int)PyLong_AsLong(arg), POLLIN, 0 };
    int ret;
    RELEASE_GIL
    ret = poll(&p, 1, -1);
    if (ret <= 0) {
        Py_RETURN_NONE;             // expect-error{{the GIL released by RELEASE_GIL (calls gil_real_release()) is not re-acquired before this return}} [allow-threads-leak] expect-error{{Py_RETURN_NONE (calls _Py_NewRef()) needs the GIL}} [api-without-gil]
    }
    GET_GIL
    return PyLong_FromLong(p.revents);
}

static PyObject *bad_error_while_released(PyObject *self, PyObject *arg)
{
    struct pollfd p = { (int)PyLong_AsLong(arg), POLLIN, 0 };
    int ret;
    RELEASE_GIL
    ret = poll(&p, 1, 1000);
    if (ret < 0)
        PyErr_SetFromErrno(PyExc_OSError);      // expect-error{{PyErr_SetFromErrno() needs the GIL, which is released on this path}} [api-without-gil]
    GET_GIL
    return ret < 0 ? NULL : PyLong_FromLong(ret);
}

static PyObject *ok_wait_message(PyObject *self, PyObject *arg)
{
    struct pollfd p = { (int)PyLong_AsLong(arg), POLLIN, 0 };
    int ret;
    RELEASE_GIL
    ret = poll(&p, 1, -1);
    GET_GIL
    if (ret <= 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(p.revents);
}

static PyMethodDef methods[] = {
    {"bad_wait_message", bad_wait_message, METH_O, NULL},
    {"bad_error_while_released", bad_error_while_released, METH_O, NULL},
    {"ok_wait_message", ok_wait_message, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
