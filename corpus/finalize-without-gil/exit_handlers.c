// Code that runs at process exit, after the interpreter is finalized: atexit() handlers run after main() returns
// (and Python's own main, like this embedding program, finalizes first); Py_AtExit() handlers run at the very end
// of Py_FinalizeEx(). No Python API may be used there, and the GIL cannot be taken. Python code used after a
// Py_FinalizeEx() of the same function is the same fault.
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static PyObject *g_stats;
static FILE *g_spool;

// Uploads the last statistics at exit: the interpreter is gone by then.
static void bad_upload_at_exit(void)
{
    PyObject *r = PyObject_CallMethod(g_stats, "flush", NULL);   // expect-error{{needs the interpreter, but 'bad_upload_at_exit' runs after the interpreter is finalized (registered with atexit() at exit_handlers.c:69}} [finalize-without-gil]
    Py_XDECREF(r);
}

// Takes the GIL first, which cannot work either: there is no interpreter to attach to.
static void bad_log_at_exit(void)
{
    PyGILState_STATE st = PyGILState_Ensure();   // expect-error{{PyGILState_Ensure() cannot take the GIL, but 'bad_log_at_exit' runs after the interpreter is finalized}} [finalize-without-gil]
    PySys_WriteStderr("bye\n");
    PyGILState_Release(st);
}

// A Py_AtExit() handler writing through sys.stderr.
static void bad_report_shutdown(void)
{
    PySys_WriteStderr("python is down\n");   // expect-error{{runs after the interpreter is finalized (registered with Py_AtExit() at exit_handlers.c:70}} [finalize-without-gil]
}

// Only C: closes the spool file.
static void ok_close_spool(void)
{
    if (g_spool != NULL) {
        fclose(g_spool);
        g_spool = NULL;
    }
    unlink("/tmp/spool");
}

// Asks first: Py_IsInitialized() needs no GIL and is 0 once the interpreter is finalized, so the Python part
// never runs at exit.
static void ok_guarded_flush(void)
{
    if (!Py_IsInitialized())
        return;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(g_stats, "flush", NULL);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

// Drops the statistics object after finalizing.
static int bad_decref_after_finalize(void)
{
    int rc = Py_FinalizeEx();
    Py_XDECREF(g_stats);   // expect-error{{Py_XDECREF() needs the interpreter, which is finalized on this path}} [finalize-without-gil]
    return rc;
}

int main(void)
{
    Py_Initialize();
    g_stats = PyDict_New();
    g_spool = fopen("/tmp/spool", "w");
    atexit(bad_upload_at_exit);
    Py_AtExit(bad_report_shutdown);
    atexit(bad_log_at_exit);
    Py_AtExit(ok_close_spool);
    atexit(ok_guarded_flush);
    PyRun_SimpleString("print('working')");
    Py_XDECREF(g_stats);
    g_stats = NULL;
    if (getenv("QUICK") != NULL)
        return bad_decref_after_finalize();
    if (Py_FinalizeEx() < 0)
        return 120;
    // Python again, after a new Py_Initialize(): fine.
    Py_Initialize();
    PyRun_SimpleString("print('again')");
    return Py_FinalizeEx() < 0 ? 120 : 0;
}
