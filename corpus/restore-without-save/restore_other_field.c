// A save into one field of an object and a restore from another field of it: the state restored is not the one
// this path released (a helper restoring the wrong member, a macro pair that saves into self->state and restores
// self->multi->state). Helpers that copy the member into a local first restore the caller's member all the same.
#include <Python.h>

struct bridge {
    PyThreadState *render_ts;
    PyThreadState *io_ts;
};

struct multi { PyThreadState *state; };
struct easy {
    struct multi *multi;
    PyThreadState *state;
};

extern int load_one(struct bridge *b, int i);
extern int easy_poll(struct easy *e);

static void suspend_io(struct bridge *b) { b->io_ts = PyEval_SaveThread(); }
static void resume_io(struct bridge *b) { PyEval_RestoreThread(b->io_ts); }
static void suspend_render(struct bridge *b) { b->render_ts = PyEval_SaveThread(); }
static void resume_render(struct bridge *b)
{
    PyThreadState *ts = b->render_ts;
    b->render_ts = NULL;
    PyEval_RestoreThread(ts);
}

int bad_error_path_resumes_other_member(struct bridge *b, int n)
{
    suspend_io(b);
    for (int i = 0; i < n; i++) {
        if (load_one(b, i) < 0) {
            resume_render(b);   // expect-error{{restores thread state 'b->render_ts', which was not saved on this path}} [restore-without-save]
            PyErr_SetString(PyExc_OSError, "load failed");
            return -1;
        }
    }
    resume_io(b);
    return 0;
}

int ok_each_member_with_its_own_pair(struct bridge *b, int n)
{
    suspend_render(b);
    if (load_one(b, 0) < 0) {
        resume_render(b);
        return -1;
    }
    resume_render(b);
    suspend_io(b);
    load_one(b, n);
    resume_io(b);
    return 0;
}

#define EASY_BEGIN(e) ((e)->state = PyEval_SaveThread())

int bad_easy_save_multi_restore(struct easy *e)
{
    int rc;
    EASY_BEGIN(e);
    rc = easy_poll(e);
    if (e->multi != NULL)
        PyEval_RestoreThread(e->multi->state);   // expect-error{{which was not saved on this path}} [restore-without-save]
    else
        PyEval_RestoreThread(e->state);
    return rc;
}

int ok_easy_same_place(struct easy *e)
{
    int rc;
    EASY_BEGIN(e);
    rc = easy_poll(e);
    PyEval_RestoreThread(e->state);
    return rc;
}
