// A plugin host that starts Python and then worker threads that run plugin code.
#include <Python.h>
#include <pthread.h>

struct plugin { const char *name; PyObject *module; };

static void *plugin_thread(void *arg)
{
    struct plugin *p = arg;
    PyGILState_STATE st = PyGILState_Ensure();
    p->module = PyImport_ImportModule(p->name);
    if (p->module == NULL)
        PyErr_Print();
    PyGILState_Release(st);
    return NULL;
}

static void *io_thread(void *arg)
{
    int *fd = arg;
    *fd = 3;
    return NULL;
}

int bad_load_plugins(struct plugin *plugins, int n)
{
    pthread_t tids[8];
    Py_InitializeEx(0);
    for (int i = 0; i < n && i < 8; i++)
        pthread_create(&tids[i], NULL, plugin_thread, &plugins[i]);  // expect-error{{the thread waits forever}} [init-holds-gil]
    return 0;
}

int ok_load_plugins(struct plugin *plugins, int n)
{
    pthread_t tids[8];
    int count = n < 8 ? n : 8;
    Py_InitializeEx(0);
    PyThreadState *main_ts = PyEval_SaveThread();
    for (int i = 0; i < count; i++)
        pthread_create(&tids[i], NULL, plugin_thread, &plugins[i]);
    for (int i = 0; i < count; i++)
        pthread_join(tids[i], NULL);
    PyEval_RestoreThread(main_ts);
    return 0;
}

int ok_io_thread_only(int *fd)
{
    pthread_t t;
    Py_InitializeEx(0);
    pthread_create(&t, NULL, io_thread, fd);
    return 0;
}
