// A C signal handler runs on whatever thread the signal lands on, in the middle of anything: it may not call
// Python, except PyErr_SetInterrupt() and PyErr_SetInterruptEx(), which are async-signal-safe and need no GIL.
#include <Python.h>
#include <signal.h>
#include <string.h>

static PyObject *on_hup_callable;

static void bad_hup_handler(int sig)
{
    PyObject *r = PyObject_CallNoArgs(on_hup_callable);   // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    Py_XDECREF(r);
}

static void ok_usr1_handler(int sig)
{
    PyErr_SetInterruptEx(SIGINT);
}

static void ok_usr2_handler(int sig)
{
    PyErr_SetInterrupt();
}

int install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ok_usr1_handler;
    if (sigaction(SIGUSR1, &sa, NULL) < 0)
        return -1;
    sa.sa_handler = ok_usr2_handler;
    if (sigaction(SIGUSR2, &sa, NULL) < 0)
        return -1;
    signal(SIGHUP, bad_hup_handler);
    return 0;
}
