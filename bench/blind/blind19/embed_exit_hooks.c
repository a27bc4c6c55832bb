/*
 * embed_exit_hooks.c -- shutdown plumbing for the "tessa" modelling app.
 *
 * The app's main() calls Py_Initialize() at start-up and Py_FinalizeEx()
 * just before returning.  Everything here is about what may still run
 * after (or during) finalization.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static PyObject *g_asset_cache; /* dict: path -> bytes, owned */
static PyObject *g_history;     /* list of str, owned */
static FILE *g_history_fp;
static FILE *g_log_fp;
static char *g_log_buf;

// BAD: finalize-without-gil,api-without-gil Py_AtExit callback runs after the interpreter is torn down and still clears/DECREFs a dict
static void bad_drop_cache_at_py_exit(void)
{
    if (g_asset_cache != NULL) {
        PyDict_Clear(g_asset_cache);
        Py_CLEAR(g_asset_cache);
    }
}

// BAD: finalize-without-gil,api-without-gil registers with Py_AtExit a callback that uses the Python API after finalization
int bad_install_cache_cleanup(void)
{
    /* GIL held, during start-up */
    g_asset_cache = PyDict_New();
    if (g_asset_cache == NULL)
        return -1;
    return Py_AtExit(bad_drop_cache_at_py_exit);
}

// OK: Python-level atexit callback (atexit.register) runs inside Py_FinalizeEx with the GIL held
static PyObject *ok_flush_history_py_atexit(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    if (g_history == NULL || g_history_fp == NULL)
        Py_RETURN_NONE;

    Py_ssize_t n = PyList_GET_SIZE(g_history);
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *s = PyUnicode_AsUTF8(PyList_GET_ITEM(g_history, i));
        if (s == NULL)
            return NULL;
        fputs(s, g_history_fp);
        fputc('\n', g_history_fp);
    }
    fflush(g_history_fp);
    Py_CLEAR(g_history);
    Py_RETURN_NONE;
}

static PyMethodDef flush_history_def = {
    "_tessa_flush_history", ok_flush_history_py_atexit, METH_NOARGS, NULL};

// OK: registers the history flush through Python's atexit module (runs before interpreter teardown)
int ok_install_history_py_atexit(const char *path)
{
    /* GIL held, during start-up */
    g_history_fp = fopen(path, "a");
    if (g_history_fp == NULL)
        return -1;
    g_history = PyList_New(0);
    if (g_history == NULL)
        return -1;

    PyObject *fn = PyCFunction_New(&flush_history_def, NULL);
    if (fn == NULL)
        return -1;
    PyObject *atexit_mod = PyImport_ImportModule("atexit");
    if (atexit_mod == NULL) {
        Py_DECREF(fn);
        return -1;
    }
    PyObject *r = PyObject_CallMethod(atexit_mod, "register", "O", fn);
    Py_DECREF(atexit_mod);
    Py_DECREF(fn);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

// OK: Py_AtExit callback that only touches C state (closes the log file, frees a C buffer)
static void ok_close_log_at_py_exit(void)
{
    if (g_log_fp != NULL) {
        fflush(g_log_fp);
        fclose(g_log_fp);
        g_log_fp = NULL;
    }
    free(g_log_buf);
    g_log_buf = NULL;
}

// OK: Py_AtExit registration of a C-only cleanup function
int ok_install_log_cleanup(const char *path)
{
    g_log_fp = fopen(path, "a");
    if (g_log_fp == NULL)
        return -1;
    g_log_buf = malloc(1 << 16);
    if (g_log_buf != NULL)
        setvbuf(g_log_fp, g_log_buf, _IOFBF, 1 << 16);
    return Py_AtExit(ok_close_log_at_py_exit);
}

// BAD: finalize-without-gil,api-without-gil teardown DECREFs cached Python objects after Py_FinalizeEx
int bad_host_teardown(void)
{
    /* main thread, GIL held */
    int rc = Py_FinalizeEx();
    Py_XDECREF(g_asset_cache);
    g_asset_cache = NULL;
    Py_XDECREF(g_history);
    g_history = NULL;
    if (g_history_fp != NULL) {
        fclose(g_history_fp);
        g_history_fp = NULL;
    }
    return rc;
}

// OK: drops the Python references first, finalizes, then closes C resources
int ok_host_teardown(void)
{
    /* main thread, GIL held */
    Py_CLEAR(g_asset_cache);
    /* g_history is flushed and cleared by the atexit callback inside Py_FinalizeEx */
    int rc = Py_FinalizeEx();
    if (g_history_fp != NULL) {
        fclose(g_history_fp);
        g_history_fp = NULL;
    }
    return rc;
}
