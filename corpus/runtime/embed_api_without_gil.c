// An audio callback thread builds a Python object without taking the GIL first. PyLong_FromLong of a small
// int does not allocate, so CPython's debug allocator (PYTHONMALLOC=debug) never notices; the tracer checks
// every watched C API call the program makes.
// trace-shape: embed
#include <Python.h>
#include <pthread.h>

static PyObject *last_level;

static void *audio_callback(void *arg)
{
    (void)arg;
    PyObject *level = PyLong_FromLong(5); // expect-trace{{api-without-gil}}
    last_level = level;
    return NULL;
}

int main(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_t t;
    pthread_create(&t, NULL, audio_callback, NULL);
    pthread_join(t, NULL);
    PyEval_RestoreThread(main_state);
    Py_FinalizeEx();
    return 0;
}
