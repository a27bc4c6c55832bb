// Python calls methods and type slots with the GIL held; the same blocking work as
// corpus/blocking-with-gil/extension_methods.c is fine when the GIL is dropped around it, when the lock is one the
// project lists as safe (never held by a thread that waits for the GIL), or in a function Python does not call.
// gilcheck-rules: ok_extension_methods_blocking.yml
#include <Python.h>
#include <structmember.h>
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    int fd;
    sem_t ready;
} Worker;

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static int queue_length;
static long calls;

static PyObject *Worker_join(PyObject *self, PyObject *unused)
{
    Worker *w = (Worker *)self;
    Py_BEGIN_ALLOW_THREADS
    pthread_join(w->thread, NULL);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *Worker_lock(PyObject *self, PyObject *unused)
{
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&queue_lock);
    queue_length++;
    pthread_mutex_unlock(&queue_lock);
    Py_END_ALLOW_THREADS
    // Listed in safe-locks: held for a few instructions, never while waiting for the GIL.
    pthread_mutex_lock(&stats_lock);
    calls++;
    pthread_mutex_unlock(&stats_lock);
    Py_RETURN_NONE;
}

static PyObject *Worker_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Worker *w = (Worker *)self;
    char buf[256];
    ssize_t n;
    PyThreadState *save = PyEval_SaveThread();
    n = read(w->fd, buf, sizeof buf);
    PyEval_RestoreThread(save);
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBytes_FromStringAndSize(buf, n);
}

static PyObject *Worker_sleep(PyObject *self, PyObject *args)
{
    unsigned int seconds;
    if (!PyArg_ParseTuple(args, "I", &seconds))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    sleep(seconds);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// regex's shape: try the lock without waiting (NOWAIT_LOCK), and drop the GIL before waiting for it.
static PyThread_type_lock state_lock;

static void acquire_state_lock(PyObject *owner)
{
    Py_INCREF(owner);
    if (!PyThread_acquire_lock(state_lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(state_lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
}

static PyObject *Worker_next_match(PyObject *self, PyObject *unused)
{
    acquire_state_lock(self);
    if (PyThread_acquire_lock_timed(state_lock, 0, 0) == PY_LOCK_ACQUIRED)
        PyThread_release_lock(state_lock);
    PyThread_release_lock(state_lock);
    Py_DECREF(self);
    Py_RETURN_NONE;
}

// Python calls it as a method, and the module also starts it as a thread's start routine (where it runs without
// the GIL): which of the two calls it is not known, so it stays quiet.
static void *Worker_poll(void *arg)
{
    usleep(1000);
    return NULL;
}

static PyMethodDef Worker_methods[] = {
    {"join", Worker_join, METH_NOARGS, NULL},
    {"lock", Worker_lock, METH_NOARGS, NULL},
    {"read", (PyCFunction)(void (*)(void))Worker_read, METH_FASTCALL, NULL},
    {"sleep", Worker_sleep, METH_VARARGS, NULL},
    {"next_match", Worker_next_match, METH_NOARGS, NULL},
    {"poll", (PyCFunction)(void (*)(void))Worker_poll, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyObject *Worker_get_ready(PyObject *self, void *closure)
{
    Worker *w = (Worker *)self;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sem_wait(&w->ready);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(r == 0);
}

static PyGetSetDef Worker_getset[] = {
    {"ready", Worker_get_ready, NULL, NULL, NULL},
    {NULL},
};

// PyMemberDef is data only: nothing in it is called.
static PyMemberDef Worker_members[] = {
    {"fd", T_INT, offsetof(Worker, fd), READONLY, NULL},
    {NULL},
};

static void Worker_dealloc(PyObject *self)
{
    Worker *w = (Worker *)self;
    Py_BEGIN_ALLOW_THREADS
    pthread_join(w->thread, NULL);
    Py_END_ALLOW_THREADS
    Py_TYPE(self)->tp_free(self);
}

static PyTypeObject WorkerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "demo.Worker",
    .tp_basicsize = sizeof(Worker),
    .tp_dealloc = Worker_dealloc,
    .tp_methods = Worker_methods,
    .tp_members = Worker_members,
    .tp_getset = Worker_getset,
};

// Blocks with the GIL's state unknown: a plain helper that Python does not call stays quiet.
void worker_wait_blocking(Worker *w)
{
    pthread_join(w->thread, NULL);
}

static struct PyModuleDef demo_module = {PyModuleDef_HEAD_INIT, "demo", NULL, -1, NULL};

PyMODINIT_FUNC PyInit_demo(void)
{
    if (PyType_Ready(&WorkerType) < 0)
        return NULL;
    pthread_t t;
    pthread_create(&t, NULL, Worker_poll, NULL);
    pthread_detach(t);
    return PyModule_Create(&demo_module);
}
