// Embedding hosts: after Py_Initialize() the main thread holds the GIL; workers that take it must be let in.
#include <Python.h>
#include <pthread.h>

static void *python_worker(void *arg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyRun_SimpleString("x = 1");
    PyGILState_Release(st);
    return arg;
}

static void *c_only_worker(void *arg) { return arg; }

static void start_python(void) { Py_Initialize(); }

int bad_host_never_releases(void)
{
    pthread_t t;
    Py_Initialize();
    pthread_create(&t, NULL, python_worker, NULL);   // expect-error{{the thread waits forever}} [init-holds-gil]
    pthread_join(t, NULL);                           // expect-warning{{may block}} [blocking-with-gil]
    Py_FinalizeEx();
    return 0;
}

int bad_host_init_in_helper(void)
{
    pthread_t t;
    start_python();
    pthread_create(&t, NULL, python_worker, NULL);   // expect-error{{the thread waits forever}} [init-holds-gil]
    pthread_join(t, NULL);                           // expect-warning{{may block}} [blocking-with-gil]
    return 0;
}

int ok_host_releases(void)
{
    pthread_t t;
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_create(&t, NULL, python_worker, NULL);
    pthread_join(t, NULL);
    PyEval_RestoreThread(main_state);
    return Py_FinalizeEx() < 0 ? 1 : 0;
}

int ok_host_with_c_only_threads(void)
{
    pthread_t t;
    Py_Initialize();
    pthread_create(&t, NULL, c_only_worker, NULL);
    Py_FinalizeEx();
    return 0;
}
