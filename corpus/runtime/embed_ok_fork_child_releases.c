// A thread holds a PyGILState_Ensure state when it forks. The child calls PyOS_AfterFork_Child() and releases
// that state, as the parent does: both are correct. The child's copy of the thread carries the state across
// fork(), so its release is not a release-without-ensure.
// trace-shape: embed
#include <Python.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static void *forking_thread(void *arg)
{
    (void)arg;
    PyGILState_STATE state = PyGILState_Ensure();
    PyOS_BeforeFork();
    pid_t pid = fork();
    if (pid == 0) {
        PyOS_AfterFork_Child();
        PyRun_SimpleString("x = 1 + 1");
        PyGILState_Release(state);
        _exit(0);
    }
    PyOS_AfterFork_Parent();
    PyGILState_Release(state);
    int status = 0;
    waitpid(pid, &status, 0);
    return NULL;
}

int main(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_t t;
    pthread_create(&t, NULL, forking_thread, NULL);
    pthread_join(t, NULL);
    PyEval_RestoreThread(main_state);
    Py_FinalizeEx();
    return 0;
}
