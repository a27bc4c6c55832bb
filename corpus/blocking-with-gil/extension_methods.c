// Python calls an extension's methods and type slots with the GIL held (CPython's calling convention): a
// method registered in a PyMethodDef table, a getter of a PyGetSetDef table, or a slot of a PyTypeObject or of
// a PyType_Slot array that blocks without Py_BEGIN_ALLOW_THREADS stalls every other Python thread, and
// deadlocks with a thread that holds what it waits for and needs the GIL.
// gilcheck-rules: safe_locks.yml
#include <Python.h>
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
static pthread_cond_t queue_ready = PTHREAD_COND_INITIALIZER;
static int queue_length;

static void wait_for_queue(void)
{
    pthread_mutex_lock(&queue_lock);
    while (queue_length == 0)
        pthread_cond_wait(&queue_ready, &queue_lock);
    pthread_mutex_unlock(&queue_lock);
}

// expect-note@+1{{the GIL is held on entry: Python calls 'Worker_join' (registered in PyMethodDef 'Worker_methods'}}
static PyObject *Worker_join(PyObject *self, PyObject *unused)
{
    Worker *w = (Worker *)self;
    pthread_join(w->thread, NULL);          // expect-warning{{may block while this thread holds the GIL}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyObject *Worker_lock(PyObject *self, PyObject *unused)
{
    pthread_mutex_lock(&queue_lock);        // expect-warning{{pthread_mutex_lock() may block}} [blocking-with-gil]
    queue_length++;
    pthread_mutex_unlock(&queue_lock);
    Py_RETURN_NONE;
}

static PyObject *Worker_sleep(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"seconds", NULL};
    unsigned int seconds;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "I", keywords, &seconds))
        return NULL;
    sleep(seconds);                         // expect-warning{{sleep() may block}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyObject *Worker_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Worker *w = (Worker *)self;
    char buf[256];
    ssize_t n = read(w->fd, buf, sizeof buf);   // expect-warning{{read() may block}} [blocking-with-gil]
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBytes_FromStringAndSize(buf, n);
}

static PyObject *Worker_drain(PyObject *self, PyObject *unused)
{
    wait_for_queue();                       // expect-warning{{may block while this thread holds the GIL}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyThread_type_lock state_lock;

static PyObject *Worker_acquire(PyObject *self, PyObject *unused)
{
    if (!PyThread_acquire_lock(state_lock, NOWAIT_LOCK))
        PyThread_acquire_lock(state_lock, WAIT_LOCK);   // expect-warning{{PyThread_acquire_lock() may block}} [blocking-with-gil]
    PyThread_release_lock(state_lock);
    Py_RETURN_NONE;
}

static PyMethodDef Worker_methods[] = {
    {"join", Worker_join, METH_NOARGS, NULL},
    {"lock", Worker_lock, METH_NOARGS, NULL},
    {"sleep", (PyCFunction)(void (*)(void))Worker_sleep, METH_VARARGS | METH_KEYWORDS, NULL},
    {"read", (PyCFunction)(void (*)(void))Worker_read, METH_FASTCALL, NULL},
    {"drain", Worker_drain, METH_NOARGS, NULL},
    {"acquire", Worker_acquire, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyObject *Worker_get_ready(PyObject *self, void *closure)
{
    Worker *w = (Worker *)self;
    sem_wait(&w->ready);                    // expect-warning{{sem_wait() may block}} [blocking-with-gil]
    Py_RETURN_TRUE;
}

static PyGetSetDef Worker_getset[] = {
    {"ready", Worker_get_ready, NULL, NULL, NULL},
    {NULL},
};

static void Worker_dealloc(PyObject *self)
{
    Worker *w = (Worker *)self;
    pthread_join(w->thread, NULL);          // expect-warning{{pthread_join() may block}} [blocking-with-gil]
    Py_TYPE(self)->tp_free(self);
}

static PyObject *Worker_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    usleep(1000);                           // expect-warning{{usleep() may block}} [blocking-with-gil]
    Py_RETURN_NONE;
}

static PyTypeObject WorkerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "demo.Worker",
    .tp_basicsize = sizeof(Worker),
    .tp_dealloc = Worker_dealloc,
    .tp_call = Worker_call,
    .tp_methods = Worker_methods,
    .tp_getset = Worker_getset,
};

// Slots assigned in the module's init function.
// expect-note@+1{{Python calls 'Worker_next' (assigned to tp_iternext}}
static PyObject *Worker_next(PyObject *self)
{
    pthread_mutex_lock(&queue_lock);        // expect-warning{{pthread_mutex_lock() may block}} [blocking-with-gil]
    int n = queue_length--;
    pthread_mutex_unlock(&queue_lock);
    return n > 0 ? PyLong_FromLong(n) : NULL;
}

static PyObject *Worker_compare(PyObject *a, PyObject *b, int op)
{
    wait_for_queue();                       // expect-warning{{may block while this thread holds the GIL}} [blocking-with-gil]
    Py_RETURN_NOTIMPLEMENTED;
}

// A heap type's slots.
static int Pool_init(PyObject *self, PyObject *args, PyObject *kwargs)
{
    struct timespec ts = {0, 1000};
    nanosleep(&ts, NULL);                   // expect-warning{{nanosleep() may block}} [blocking-with-gil]
    return 0;
}

static PyType_Slot Pool_slots[] = {
    {Py_tp_init, Pool_init},
    {0, NULL},
};

static PyType_Spec Pool_spec = {"demo.Pool", sizeof(PyObject), 0, Py_TPFLAGS_DEFAULT, Pool_slots};

static struct PyModuleDef demo_module = {PyModuleDef_HEAD_INIT, "demo", NULL, -1, NULL};

PyMODINIT_FUNC PyInit_demo(void)
{
    WorkerType.tp_iternext = Worker_next;
    WorkerType.tp_richcompare = Worker_compare;
    if (PyType_Ready(&WorkerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&demo_module);
    if (m == NULL)
        return NULL;
    PyObject *pool = PyType_FromSpec(&Pool_spec);
    if (pool == NULL || PyModule_AddObject(m, "Pool", pool) < 0)
        return NULL;
    return m;
}
