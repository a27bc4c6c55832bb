// A forked child aborts while its thread holds the GIL; the parent goes on and exits 0. The run failed all the
// same: the report lists the child as killed by SIGABRT while holding the GIL, and gilcheck trace exits 3.
// trace-shape: embed
// trace-exit: 3
#include <Python.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    Py_Initialize();
    PyOS_BeforeFork();
    pid_t pid = fork();
    if (pid == 0) {
        PyOS_AfterFork_Child();
        abort();
    }
    PyOS_AfterFork_Parent();
    int status = 0;
    waitpid(pid, &status, 0);
    Py_FinalizeEx();
    return 0;
}
