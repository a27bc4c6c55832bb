/*
 * callback_error_paths.c -- "evtbus", a C event bus whose dispatcher
 * threads deliver events to Python listeners, plus a progressive PNG
 * decoder that streams rows to Python.  All entry points here run on
 * native (non-Python) threads unless stated otherwise.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

/* ---- libpng (png.h), progressive reader subset ------------------------ */
typedef struct png_struct_def png_struct;
typedef png_struct *png_structp;
typedef png_struct *png_structrp;
typedef const png_struct *png_const_structrp;
typedef struct png_info_def png_info;
typedef png_info *png_infop;
typedef unsigned char png_byte;
typedef png_byte *png_bytep;
typedef unsigned int png_uint_32;
typedef const char *png_const_charp;
typedef void (*png_progressive_info_ptr)(png_structp, png_infop);
typedef void (*png_progressive_row_ptr)(png_structp, png_bytep, png_uint_32, int);
typedef void (*png_progressive_end_ptr)(png_structp, png_infop);
void png_set_progressive_read_fn(png_structrp png_ptr, void *progressive_ptr,
                                 png_progressive_info_ptr info_fn, png_progressive_row_ptr row_fn,
                                 png_progressive_end_ptr end_fn);
void *png_get_progressive_ptr(png_const_structrp png_ptr);
void png_process_data(png_structrp png_ptr, png_infop info_ptr, png_bytep buffer, size_t buffer_size);
__attribute__((noreturn)) void png_error(png_const_structrp png_ptr, png_const_charp error_message);
typedef void (*png_longjmp_ptr)(jmp_buf, int);
jmp_buf *png_set_longjmp_fn(png_structrp png_ptr, png_longjmp_ptr longjmp_fn, size_t jmp_buf_size);
#define png_jmpbuf(png_ptr) (*png_set_longjmp_fn((png_ptr), longjmp, (sizeof(jmp_buf))))

/* ----------------------------------------------------------------------- */

enum ev_kind { EV_DATA, EV_FLUSH, EV_CLOSE };

struct event {
    enum ev_kind kind;
    const char *topic;
    const char *data;
    size_t len;
};

#define DEFERRED_MAX 64

struct bus {
    PyObject *listener; /* callable(topic, data), owned */
    PyObject *on_close; /* callable(), owned */
    int shutting_down;
    char pending[4096];
    size_t npending;
    pthread_mutex_t deferred_mu; /* never held while waiting for the GIL */
    PyObject *deferred[DEFERRED_MAX];
    int ndeferred;
};

struct png_job {
    PyObject *on_row; /* callable(row_index, bytes, pass), owned */
    png_uint_32 rowbytes;
};

/* Pure C. */
static void flush_c_buffers(struct bus *b)
{
    b->npending = 0;
}

/* Requires the GIL. */
static void bus_drain_deferred(struct bus *b)
{
    PyObject *batch[DEFERRED_MAX];
    int n;
    pthread_mutex_lock(&b->deferred_mu);
    n = b->ndeferred;
    memcpy(batch, b->deferred, (size_t)n * sizeof batch[0]);
    b->ndeferred = 0;
    pthread_mutex_unlock(&b->deferred_mu);
    for (int i = 0; i < n; i++)
        Py_DECREF(batch[i]);
}

// OK: every failure after PyGILState_Ensure jumps to one cleanup label that releases exactly once
int ok_emit_json_event(struct bus *b, const struct event *ev)
{
    int rc = -1;
    PyObject *json = NULL, *payload = NULL, *res = NULL;
    PyGILState_STATE st = PyGILState_Ensure();

    json = PyImport_ImportModule("json");
    if (json == NULL)
        goto done;
    payload = PyObject_CallMethod(json, "loads", "s#", ev->data, (Py_ssize_t)ev->len);
    if (payload == NULL)
        goto done;
    res = PyObject_CallFunction(b->listener, "sO", ev->topic, payload);
    if (res == NULL)
        goto done;
    rc = 0;

done:
    if (rc < 0)
        PyErr_Print();
    Py_XDECREF(res);
    Py_XDECREF(payload);
    Py_XDECREF(json);
    PyGILState_Release(st);
    return rc;
}

// BAD: release-without-ensure EV_CLOSE releases the state and falls through into code that releases it again after the switch
int bad_dispatch_event(struct bus *b, const struct event *ev)
{
    PyObject *r;
    PyGILState_STATE st = PyGILState_Ensure();

    switch (ev->kind) {
    case EV_CLOSE:
        r = b->on_close ? PyObject_CallNoArgs(b->on_close) : NULL;
        if (r == NULL && PyErr_Occurred())
            PyErr_Print();
        Py_XDECREF(r);
        PyGILState_Release(st); /* the close hook may tear the bus down */
        /* fall through */
    case EV_FLUSH:
        flush_c_buffers(b);
        break;
    case EV_DATA:
        r = PyObject_CallFunction(b->listener, "sy#", ev->topic, ev->data, (Py_ssize_t)ev->len);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
        break;
    }

    PyGILState_Release(st);
    return 0;
}

// OK: EV_CLOSE falls through into the shared pure-C flush; the single release is after the switch
int ok_dispatch_event(struct bus *b, const struct event *ev)
{
    PyObject *r;
    PyGILState_STATE st = PyGILState_Ensure();

    switch (ev->kind) {
    case EV_CLOSE:
        r = b->on_close ? PyObject_CallNoArgs(b->on_close) : NULL;
        if (r == NULL && PyErr_Occurred())
            PyErr_Print();
        Py_XDECREF(r);
        b->shutting_down = 1;
        /* fall through */
    case EV_FLUSH:
        flush_c_buffers(b);
        break;
    case EV_DATA:
        r = PyObject_CallFunction(b->listener, "sy#", ev->topic, ev->data, (Py_ssize_t)ev->len);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
        break;
    }

    PyGILState_Release(st);
    return 0;
}

// BAD: ensure-leak png_error() longjmps out of the row callback (to the decoder's setjmp) while the PyGILState_Ensure is still held
static void bad_png_row_cb(png_structp png, png_bytep new_row, png_uint_32 row_num, int pass)
{
    struct png_job *job = png_get_progressive_ptr(png);
    if (new_row == NULL)
        return;

    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(job->on_row, "Iy#i", (unsigned int)row_num, (const char *)new_row,
                                        (Py_ssize_t)job->rowbytes, pass);
    if (r == NULL) {
        PyErr_Print();
        png_error(png, "row callback raised");
    }
    Py_DECREF(r);
    PyGILState_Release(st);
}

// OK: the GIL state is released before png_error() longjmps back into the decoder
static void ok_png_row_cb(png_structp png, png_bytep new_row, png_uint_32 row_num, int pass)
{
    struct png_job *job = png_get_progressive_ptr(png);
    if (new_row == NULL)
        return;

    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(job->on_row, "Iy#i", (unsigned int)row_num, (const char *)new_row,
                                        (Py_ssize_t)job->rowbytes, pass);
    int failed = (r == NULL);
    if (failed)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);

    if (failed)
        png_error(png, "row callback raised");
}

/* Decoder thread body: no GIL held here; setjmp catches png_error(). */
int decode_png_stream(png_structp png, png_infop info, struct png_job *job, png_bytep data, size_t len,
                      int strict)
{
    if (setjmp(png_jmpbuf(png)))
        return -1; /* decoder or row-callback error */
    png_set_progressive_read_fn(png, job, NULL, strict ? ok_png_row_cb : bad_png_row_cb, NULL);
    png_process_data(png, info, data, len);
    return 0;
}

// BAD: api-without-gil error path releases the GIL first and then calls PyErr_Print and Py_XDECREF
int bad_bus_load_listener(struct bus *b, const char *module, const char *attr)
{
    PyObject *mod = NULL, *fn = NULL;
    PyGILState_STATE st = PyGILState_Ensure();

    mod = PyImport_ImportModule(module);
    if (mod == NULL)
        goto fail;
    fn = PyObject_GetAttrString(mod, attr);
    if (fn == NULL)
        goto fail;
    if (!PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not callable", module, attr);
        goto fail;
    }
    Py_XSETREF(b->listener, fn);
    Py_DECREF(mod);
    PyGILState_Release(st);
    return 0;

fail:
    PyGILState_Release(st);
    PyErr_Print();
    Py_XDECREF(fn);
    Py_XDECREF(mod);
    return -1;
}

// BAD: release-without-ensure the early `goto out` path reaches PyGILState_Release without a matching Ensure
int bad_bus_deliver(struct bus *b, const struct event *ev)
{
    PyGILState_STATE st;
    PyObject *r;
    int rc = 0;

    if (b->shutting_down || b->listener == NULL)
        goto out;

    st = PyGILState_Ensure();
    r = PyObject_CallFunction(b->listener, "sy#", ev->topic, ev->data, (Py_ssize_t)ev->len);
    if (r == NULL) {
        PyErr_Print();
        rc = -1;
    } else {
        Py_DECREF(r);
    }

out:
    PyGILState_Release(st);
    return rc;
}

// OK: `have_py` is computed once; Ensure, the Python call and Release are all guarded by the same flag
int ok_bus_deliver(struct bus *b, const struct event *ev)
{
    const int have_py = !b->shutting_down && b->listener != NULL;
    PyGILState_STATE st;
    int rc = 0;

    if (have_py)
        st = PyGILState_Ensure();

    if (ev->len <= sizeof b->pending - b->npending) {
        memcpy(b->pending + b->npending, ev->data, ev->len);
        b->npending += ev->len;
    }

    if (have_py) {
        PyObject *r = PyObject_CallFunction(b->listener, "sy#", ev->topic, ev->data, (Py_ssize_t)ev->len);
        if (r == NULL) {
            PyErr_Print();
            rc = -1;
        } else {
            Py_DECREF(r);
        }
    }

    if (have_py)
        PyGILState_Release(st);
    return rc;
}

// OK: DECREFs directly only when PyGILState_Check() says this thread holds the GIL; otherwise defers or takes the GIL
void ok_bus_drop_ref(struct bus *b, PyObject *obj)
{
    if (obj == NULL)
        return;
    if (PyGILState_Check()) {
        Py_DECREF(obj);
        return;
    }

    pthread_mutex_lock(&b->deferred_mu);
    if (b->ndeferred < DEFERRED_MAX) {
        b->deferred[b->ndeferred++] = obj;
        obj = NULL;
    }
    pthread_mutex_unlock(&b->deferred_mu);

    if (obj != NULL) {
        PyGILState_STATE st = PyGILState_Ensure();
        Py_DECREF(obj);
        PyGILState_Release(st);
    }
}

// OK: Py_FatalError is noreturn and aborts the process, so the path without PyGILState_Release is not a leak
int ok_bus_close(struct bus *b)
{
    PyGILState_STATE st = PyGILState_Ensure();
    if (b->on_close == NULL)
        Py_FatalError("evtbus: close hook vanished while the bus was open");

    PyObject *r = PyObject_CallNoArgs(b->on_close);
    if (r == NULL)
        PyErr_Print();
    else
        Py_DECREF(r);
    Py_CLEAR(b->on_close);
    Py_CLEAR(b->listener);
    b->shutting_down = 1;
    bus_drain_deferred(b);
    PyGILState_Release(st);
    return 0;
}
