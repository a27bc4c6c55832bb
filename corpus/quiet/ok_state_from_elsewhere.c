// States that come from outside the function (a field, a helper's result, a parameter) may be released or
// restored here without an Ensure or a save in the same function.
#include <Python.h>

typedef struct {
    PyThreadState *saved;
    PyGILState_STATE gil;
} Session;

extern PyThreadState *take_saved_state(Session *s);

void ok_restore_state_copied_from_field(Session *s)
{
    PyThreadState *ts = s->saved;
    s->saved = NULL;
    PyEval_RestoreThread(ts);
}

void ok_release_state_copied_from_field(Session *s)
{
    PyGILState_STATE st = s->gil;
    PyGILState_Release(st);
}

void ok_restore_state_from_helper(Session *s)
{
    PyThreadState *ts = take_saved_state(s);
    if (ts != NULL)
        PyEval_RestoreThread(ts);
}

void ok_release_parameter(PyGILState_STATE st)
{
    PyGILState_Release(st);
}
