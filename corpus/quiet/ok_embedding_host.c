// A complete embedding host: configure before initialization (no GIL needed), initialize, let worker
// threads in, take the GIL back to finalize.
#include <Python.h>
#include <pthread.h>

static void *run_script(void *arg)
{
    const char *code = arg;
    PyGILState_STATE st = PyGILState_Ensure();
    if (PyRun_SimpleString(code) != 0)
        PyErr_Print();
    PyGILState_Release(st);
    return NULL;
}

static int init_python(const char *home, int argc, char **argv)
{
    PyConfig config;
    PyStatus status;
    PyConfig_InitPythonConfig(&config);
    status = PyConfig_SetBytesString(&config, &config.home, home);
    if (PyStatus_Exception(status))
        goto fail;
    status = PyConfig_SetBytesArgv(&config, argc, argv);
    if (PyStatus_Exception(status))
        goto fail;
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status))
        goto fail;
    PyConfig_Clear(&config);
    return 0;
fail:
    PyConfig_Clear(&config);
    return -1;
}

int main(int argc, char **argv)
{
    pthread_t workers[4];
    static const char *scripts[4] = { "a = 1", "b = 2", "c = 3", "d = 4" };

    if (init_python("/opt/python", argc, argv) < 0)
        return 1;

    PyThreadState *main_ts = PyEval_SaveThread();
    for (int i = 0; i < 4; i++)
        pthread_create(&workers[i], NULL, run_script, (void *)scripts[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(workers[i], NULL);
    PyEval_RestoreThread(main_ts);

    if (Py_FinalizeEx() < 0)
        return 120;
    return 0;
}
