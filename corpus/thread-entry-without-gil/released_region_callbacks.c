// Callbacks handed to a C library inside a region where the GIL is released: the library calls them back
// synchronously, on the same thread, still without the GIL.
#include <Python.h>
#include <stdlib.h>

extern int solver_run(int n, int (*progress)(int step, void *ctx), void *ctx);
struct decode_opts { int flags; void (*on_frame)(int frame, void *ctx); void *ctx; };
extern int decoder_run(const char *path, struct decode_opts *opts);

static int bad_progress(int step, void *ctx)
{
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "i", step);  // expect-error{{handed to solver_run() at released_region_callbacks.c:49 while the GIL is released there}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

static int ok_progress_takes_gil(int step, void *ctx)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "i", step);
    Py_XDECREF(r);
    PyGILState_Release(st);
    return 0;
}

static void bad_on_frame(int frame, void *ctx)
{
    PyObject *n = PyLong_FromLong(frame);  // expect-error{{handed to decoder_run() at released_region_callbacks.c:67 while the GIL is released there}} [thread-entry-without-gil]
    Py_XDECREF(n);
}

static int ok_compare_ints(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int ok_progress_with_gil(int step, void *ctx)
{
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "i", step);  // called with the GIL held (below)
    Py_XDECREF(r);
    return 0;
}

static PyObject *solve(PyObject *self, PyObject *cb)
{
    int r, r2;
    Py_BEGIN_ALLOW_THREADS
    r = solver_run(100, bad_progress, cb);
    r2 = solver_run(100, ok_progress_takes_gil, cb);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(r + r2);
}

static PyObject *solve_held(PyObject *self, PyObject *cb)
{
    return PyLong_FromLong(solver_run(100, ok_progress_with_gil, cb));
}

static PyObject *decode(PyObject *self, PyObject *args)
{
    struct decode_opts opts = {0};
    opts.on_frame = bad_on_frame;
    opts.ctx = args;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = decoder_run("in.bin", &opts);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(r);
}

static PyObject *sort_values(PyObject *self, PyObject *args)
{
    int values[4] = {3, 1, 2, 0};
    Py_BEGIN_ALLOW_THREADS
    qsort(values, 4, sizeof values[0], ok_compare_ints);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(values[0]);
}

// Handlers set earlier, with the GIL held, and called back by a later call of the same library that runs with
// the GIL released: a tokenizer's handlers called from tok_feed(), a global log hook called by tok_flush(),
// an option set on a transfer handle called during xfer_perform().
typedef struct tokenizer tokenizer;
extern tokenizer *tok_new(void);
extern void tok_set_handlers(tokenizer *t, void (*on_word)(void *ud, const char *w), void (*on_end)(void *ud));
extern int tok_feed(tokenizer *t, const char *text, size_t n);
extern void tok_set_log_hook(void (*hook)(const char *line));
extern int tok_flush(void);
typedef struct xfer xfer;
extern int xfer_setopt(xfer *x, int option, ...);
extern int xfer_perform(xfer *x);
#define XFER_PROGRESS_FN 301
#define XFER_PROGRESS_DATA 302

struct words { PyObject *list; int failed; };

static void bad_on_word(void *ud, const char *w)
{
    struct words *ws = ud;
    PyObject *s = PyUnicode_FromString(w);  // expect-error{{handed to tok_set_handlers() at released_region_callbacks.c:149, then called back by tok_feed() at released_region_callbacks.c:151, where the GIL is released}} [thread-entry-without-gil]
    if (s == NULL || PyList_Append(ws->list, s) < 0)
        ws->failed = 1;
    Py_XDECREF(s);
}

static void ok_on_word_held(void *ud, const char *w)
{
    struct words *ws = ud;
    PyObject *s = PyUnicode_FromString(w);  // only ever called by a tok_feed() made with the GIL held
    if (s == NULL || PyList_Append(ws->list, s) < 0)
        ws->failed = 1;
    Py_XDECREF(s);
}

static void ok_on_end(void *ud)
{
    struct words *ws = ud;
    PyObject *r = PyObject_CallMethod(ws->list, "reverse", NULL);  // the handlers are cleared before the release
    Py_XDECREF(r);
}

static void bad_log_line(const char *line)
{
    PySys_WriteStderr("%s\n", line);  // expect-error{{handed to tok_set_log_hook() at released_region_callbacks.c:175, then called back by tok_flush() at released_region_callbacks.c:177, where the GIL is released}} [thread-entry-without-gil]
}

static int bad_xfer_progress(void *ud, long done)
{
    PyObject *r = PyObject_CallFunction((PyObject *)ud, "l", done);  // expect-error{{then called back by xfer_perform() at released_region_callbacks.c:193, where the GIL is released}} [thread-entry-without-gil]
    Py_XDECREF(r);
    return 0;
}

static int ok_xfer_progress_other_handle(void *ud, long done)
{
    PyObject *r = PyObject_CallFunction((PyObject *)ud, "l", done);  // set on a handle performed with the GIL held
    Py_XDECREF(r);
    return 0;
}

static PyObject *split_words(PyObject *self, PyObject *text)
{
    struct words ws = { PyList_New(0), 0 };
    tokenizer *t = tok_new();
    const char *s = PyUnicode_AsUTF8(text);
    if (ws.list == NULL || t == NULL || s == NULL)
        return NULL;
    tok_set_handlers(t, bad_on_word, NULL);
    Py_BEGIN_ALLOW_THREADS
    tok_feed(t, s, strlen(s));
    Py_END_ALLOW_THREADS
    return ws.list;
}

static PyObject *split_words_held(PyObject *self, PyObject *text)
{
    struct words ws = { PyList_New(0), 0 };
    tokenizer *t = tok_new();
    const char *s = PyUnicode_AsUTF8(text);
    if (ws.list == NULL || t == NULL || s == NULL)
        return NULL;
    tok_set_handlers(t, ok_on_word_held, ok_on_end);
    tok_feed(t, s, strlen(s));                // with the GIL: the handlers may use Python
    tok_set_handlers(t, NULL, NULL);          // cleared before the region below
    Py_BEGIN_ALLOW_THREADS
    tok_feed(t, "", 0);
    Py_END_ALLOW_THREADS
    return ws.list;
}

static PyObject *flush_with_log(PyObject *self, PyObject *unused)
{
    int r;
    tok_set_log_hook(bad_log_line);
    Py_BEGIN_ALLOW_THREADS
    r = tok_flush();
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(r);
}

static PyObject *perform_both(PyObject *self, PyObject *cb)
{
    xfer *a = PyCapsule_GetPointer(self, "xfer.a"), *b = PyCapsule_GetPointer(self, "xfer.b");
    int ra, rb;
    if (a == NULL || b == NULL)
        return NULL;
    xfer_setopt(a, XFER_PROGRESS_FN, bad_xfer_progress);
    xfer_setopt(a, XFER_PROGRESS_DATA, cb);   // another option: the progress function stays set
    xfer_setopt(b, XFER_PROGRESS_FN, ok_xfer_progress_other_handle);
    rb = xfer_perform(b);
    Py_BEGIN_ALLOW_THREADS
    ra = xfer_perform(a);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("ii", ra, rb);
}
