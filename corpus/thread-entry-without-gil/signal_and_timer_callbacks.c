// gilcheck-rules: timer_callbacks.yml
// Callbacks that a timer library and a file watcher call on their own threads (declared in the rules file).
#include <Python.h>

struct watch { PyObject *on_change; const char *path; };

void bad_on_timer(void *user)
{
    PyObject *cb = user;
    PyObject *r = PyObject_CallNoArgs(cb);      // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    Py_XDECREF(r);                              // the same missing acquisition: only the first use is reported
}

void bad_on_file_changed(const char *path, void *user)
{
    struct watch *w = user;
    if (path == NULL)
        return;
    PyObject *p = PyUnicode_DecodeFSDefault(path);  // expect-error{{runs on a thread without it}} [thread-entry-without-gil]
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallOneArg(w->on_change, p);
    Py_XDECREF(r);
    Py_XDECREF(p);
    PyGILState_Release(st);
}

void ok_on_timer_checked(void *user)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs((PyObject *)user);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
}
