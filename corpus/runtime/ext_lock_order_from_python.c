// An extension module's method (called from Python, with the GIL) takes the module's cache mutex; its
// background thread takes the same mutex and then the GIL. The two orders form a cycle; the report also shows
// the Python code that was running when the method took the mutex.
// trace-shape: extension
// expect-trace-anywhere{{lock-order-inversion}}
#include <Python.h>
#include <pthread.h>

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static long cache_size;

static void *refresher(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cache_lock);
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *n = PyLong_FromLong(cache_size);
    Py_XDECREF(n);
    PyGILState_Release(gil);
    pthread_mutex_unlock(&cache_lock);
    return NULL;
}

static PyObject *lookup(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    pthread_mutex_lock(&cache_lock); /* with the GIL held: GIL, then cache_lock */
    long size = ++cache_size;
    pthread_mutex_unlock(&cache_lock);
    return PyLong_FromLong(size);
}

static PyObject *run(PyObject *self, PyObject *unused)
{
    PyObject *r = lookup(self, unused);
    Py_XDECREF(r);
    pthread_t t;
    pthread_create(&t, NULL, refresher, NULL);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(t, NULL);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"run", run, METH_NOARGS, NULL}, {"lookup", lookup, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ext_lock_order_from_python", NULL, -1, methods};
PyMODINIT_FUNC PyInit_ext_lock_order_from_python(void) { return PyModule_Create(&module); }
