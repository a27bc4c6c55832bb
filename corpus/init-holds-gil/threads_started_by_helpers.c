// The GIL-taking thread is started by a helper of the project (directly, or through a spawn(fn) wrapper)
// after Py_Initialize(): the helper's summary names the threads it starts.
#include <Python.h>
#include <pthread.h>

static pthread_t worker;

static void *worker_main(void *arg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyRun_SimpleString("pass");
    PyGILState_Release(st);
    return arg;
}

static void *c_only_main(void *arg) { return arg; }

static void start_worker(void) { pthread_create(&worker, NULL, worker_main, NULL); }
static void start_c_only(void) { pthread_create(&worker, NULL, c_only_main, NULL); }
static void spawn(void *(*fn)(void *)) { pthread_create(&worker, NULL, fn, NULL); }

int bad_helper_after_init(void)
{
    Py_Initialize();
    start_worker();                 // expect-error{{thread 'worker_main' takes the GIL}} [init-holds-gil]
    pthread_join(worker, NULL);     // expect-warning{{may block}} [blocking-with-gil]
    return Py_FinalizeEx();
}

int bad_spawn_after_init(void)
{
    Py_Initialize();
    spawn(worker_main);             // expect-error{{thread 'worker_main' takes the GIL}} [init-holds-gil]
    pthread_join(worker, NULL);     // expect-warning{{may block}} [blocking-with-gil]
    return Py_FinalizeEx();
}

int ok_helper_after_save(void)
{
    Py_Initialize();
    PyThreadState *ts = PyEval_SaveThread();
    start_worker();
    pthread_join(worker, NULL);
    PyEval_RestoreThread(ts);
    return Py_FinalizeEx();
}

int ok_c_only_thread(void)
{
    Py_Initialize();
    start_c_only();
    PyThreadState *ts = PyEval_SaveThread();
    pthread_join(worker, NULL);
    PyEval_RestoreThread(ts);
    return Py_FinalizeEx();
}
