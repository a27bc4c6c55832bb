// A worker builds a Python object without the GIL, and later the program dies of a segmentation fault. The
// finding recorded before the crash still reaches the report: the tracer's crash handler writes every
// thread's buffered events out before the signal takes its course.
// trace-shape: embed
// trace-exit: 1
#include <Python.h>
#include <pthread.h>

static volatile int *nowhere;

static void *meter_thread(void *arg)
{
    (void)arg;
    PyObject *level = PyFloat_FromDouble(0.5); // expect-trace{{api-without-gil}}
    (void)level;
    return NULL;
}

int main(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_t t;
    pthread_create(&t, NULL, meter_thread, NULL);
    pthread_join(t, NULL);
    PyEval_RestoreThread(main_state);
    return *nowhere; /* crashes */
}
