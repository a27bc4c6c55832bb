/* _evsrc: event sources (POSIX timers, signals, libcurl multi worker, libuv loop,
 * ALSA async PCM) that forward events into Python callables. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

/* ---- curl/curl.h (subset) ---- */
typedef void CURL;
typedef void CURLM;
typedef int CURLcode;
typedef int CURLMcode;
typedef int CURLoption;
#define CURLOPT_URL            10002
#define CURLOPT_WRITEDATA      10001
#define CURLOPT_WRITEFUNCTION  20011
#define CURLOPT_HEADERFUNCTION 20079
#define CURLOPT_HEADERDATA     10029
CURL *curl_easy_init(void);
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...);
void curl_easy_cleanup(CURL *curl);
CURLM *curl_multi_init(void);
CURLMcode curl_multi_add_handle(CURLM *multi_handle, CURL *curl_handle);
CURLMcode curl_multi_perform(CURLM *multi_handle, int *running_handles);
CURLMcode curl_multi_poll(CURLM *multi_handle, void *extra_fds, unsigned int extra_nfds,
                          int timeout_ms, int *numfds);
CURLMcode curl_multi_cleanup(CURLM *multi_handle);
/* ---- uv.h (subset) ---- */
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_timer_s { void *data; char opaque_[152]; } uv_timer_t;
typedef struct uv_async_s { void *data; char opaque_[128]; } uv_async_t;
typedef void (*uv_timer_cb)(uv_timer_t *handle);
typedef void (*uv_async_cb)(uv_async_t *handle);
typedef enum { UV_RUN_DEFAULT = 0, UV_RUN_ONCE, UV_RUN_NOWAIT } uv_run_mode;
uv_loop_t *uv_loop_new(void);
int uv_timer_init(uv_loop_t *loop, uv_timer_t *handle);
int uv_timer_start(uv_timer_t *handle, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
int uv_async_init(uv_loop_t *loop, uv_async_t *async, uv_async_cb async_cb);
int uv_async_send(uv_async_t *async);
int uv_run(uv_loop_t *loop, uv_run_mode mode);
/* ---- alsa/asoundlib.h (subset) ---- */
typedef struct _snd_pcm snd_pcm_t;
typedef struct _snd_async_handler snd_async_handler_t;
typedef void (*snd_async_callback_t)(snd_async_handler_t *handler);
typedef long snd_pcm_sframes_t;
int snd_async_add_pcm_handler(snd_async_handler_t **handler, snd_pcm_t *pcm,
                              snd_async_callback_t callback, void *private_data);
void *snd_async_handler_get_callback_private(snd_async_handler_t *handler);
snd_pcm_sframes_t snd_pcm_avail_update(snd_pcm_t *pcm);
/* ---- end ---- */

typedef struct {
    PyObject_HEAD
    PyObject *callback;
    timer_t timerid;
    long ticks;
} Timer;

typedef struct {
    PyObject_HEAD
    CURLM *multi;
    CURL *easy;
    PyObject *sink;       /* file-like with .write() */
    PyObject *headers;    /* list */
    pthread_t worker;
} Download;

typedef struct {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_async_t wakeup;
    PyObject *on_timer;
    PyObject *pending;    /* list of callables queued from Python */
    pthread_t thread;
} LoopState;

typedef struct {
    snd_pcm_t *pcm;
    snd_async_handler_t *ah;
    PyObject *on_period;
} PcmState;

static LoopState g_loop;
static PcmState g_pcm;
static PyObject *g_sigchld_cb;
static PyObject *g_sigusr1_cb;

/* --- POSIX timer (SIGEV_THREAD) --- */

static void
bad_timer_tick(union sigval sv)
{
    Timer *t = (Timer *)sv.sival_ptr;
    PyObject *r;

    t->ticks++;
    r = PyObject_CallFunction(t->callback, "l", t->ticks);
    if (r == NULL)
        PyErr_Clear();
    else
        Py_DECREF(r);
}

static void
ok_timer_tick(union sigval sv)
{
    Timer *t = (Timer *)sv.sival_ptr;
    PyGILState_STATE gs;
    PyObject *r;

    t->ticks++;
    gs = PyGILState_Ensure();
    r = PyObject_CallFunction(t->callback, "l", t->ticks);
    if (r == NULL)
        PyErr_WriteUnraisable(t->callback);
    Py_XDECREF(r);
    PyGILState_Release(gs);
}

static PyObject *
Timer_arm(Timer *self, PyObject *args)
{
    struct sigevent sev;
    struct itimerspec its;
    double interval;
    int safe = 1;

    if (!PyArg_ParseTuple(args, "d|p", &interval, &safe))
        return NULL;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_value.sival_ptr = self;
    if (safe)
        sev.sigev_notify_function = ok_timer_tick;
    else
        sev.sigev_notify_function = bad_timer_tick;
    if (timer_create(CLOCK_MONOTONIC, &sev, &self->timerid) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    its.it_value.tv_sec = (time_t)interval;
    its.it_value.tv_nsec = (long)((interval - (double)(time_t)interval) * 1e9);
    its.it_interval = its.it_value;
    if (timer_settime(self->timerid, 0, &its, NULL) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* --- signals --- */

static void
bad_sigchld_handler(int signo)
{
    PyObject *r = PyObject_CallFunction(g_sigchld_cb, "i", signo);
    Py_XDECREF(r);
}

static int
run_sigusr1_callback(void *arg)
{
    PyObject *r;
    (void)arg;
    if (g_sigusr1_cb == NULL)
        return 0;
    r = PyObject_CallNoArgs(g_sigusr1_cb);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static void
ok_sigusr1_handler(int signo)
{
    int saved_errno = errno;
    (void)signo;
    /* Py_AddPendingCall is documented as callable without the GIL. */
    Py_AddPendingCall(run_sigusr1_callback, NULL);
    errno = saved_errno;
}

static PyObject *
evsrc_install_signals(PyObject *mod, PyObject *args)
{
    PyObject *chld, *usr1;
    struct sigaction sa;
    (void)mod;

    if (!PyArg_ParseTuple(args, "OO", &chld, &usr1))
        return NULL;
    Py_XSETREF(g_sigchld_cb, Py_NewRef(chld));
    Py_XSETREF(g_sigusr1_cb, Py_NewRef(usr1));
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = bad_sigchld_handler;
    if (sigaction(SIGCHLD, &sa, NULL) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    signal(SIGUSR1, ok_sigusr1_handler);
    Py_RETURN_NONE;
}

/* --- libcurl multi driven by a private worker thread --- */

static size_t
bad_curl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    Download *self = (Download *)userdata;
    size_t n = size * nmemb;
    PyObject *r = PyObject_CallMethod(self->sink, "write", "y#", ptr, (Py_ssize_t)n);
    if (r == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(r);
    return n;
}

static size_t
ok_curl_header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
    Download *self = (Download *)userdata;
    size_t n = size * nitems;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *line = PyUnicode_DecodeLatin1(buffer, (Py_ssize_t)n, "replace");
    if (line == NULL || PyList_Append(self->headers, line) < 0) {
        Py_XDECREF(line);
        PyErr_Clear();
        PyGILState_Release(g);
        return 0;
    }
    Py_DECREF(line);
    PyGILState_Release(g);
    return n;
}

static void *
download_worker(void *arg)
{
    Download *self = (Download *)arg;
    int running = 1;
    while (running) {
        if (curl_multi_perform(self->multi, &running) != 0)
            break;
        if (running)
            curl_multi_poll(self->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

static void *
bad_download_worker_finish(void *arg)
{
    Download *self = (Download *)arg;
    int running = 1;
    while (running) {
        if (curl_multi_perform(self->multi, &running) != 0)
            break;
        if (running)
            curl_multi_poll(self->multi, NULL, 0, 1000, NULL);
    }
    Py_CLEAR(self->sink);
    Py_DECREF((PyObject *)self);
    return NULL;
}

static PyObject *
Download_start(Download *self, PyObject *args)
{
    const char *url;
    int detach = 0;
    int rc;

    if (!PyArg_ParseTuple(args, "s|p", &url, &detach))
        return NULL;
    self->easy = curl_easy_init();
    self->multi = curl_multi_init();
    if (self->easy == NULL || self->multi == NULL)
        return PyErr_NoMemory();
    curl_easy_setopt(self->easy, CURLOPT_URL, url);
    curl_easy_setopt(self->easy, CURLOPT_WRITEFUNCTION, bad_curl_write_cb);
    curl_easy_setopt(self->easy, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->easy, CURLOPT_HEADERFUNCTION, ok_curl_header_cb);
    curl_easy_setopt(self->easy, CURLOPT_HEADERDATA, self);
    curl_multi_add_handle(self->multi, self->easy);
    if (detach) {
        Py_INCREF(self);
        rc = pthread_create(&self->worker, NULL, bad_download_worker_finish, self);
    }
    else
        rc = pthread_create(&self->worker, NULL, download_worker, self);
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* --- libuv loop on a background thread --- */

static void
bad_uv_timer_fire(uv_timer_t *handle)
{
    LoopState *ls = (LoopState *)handle->data;
    PyObject *r = PyObject_CallNoArgs(ls->on_timer);
    if (r == NULL) {
        PyErr_Print();
        return;
    }
    Py_DECREF(r);
}

static void
ok_uv_async_wakeup(uv_async_t *handle)
{
    LoopState *ls = (LoopState *)handle->data;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *batch = ls->pending;
    Py_ssize_t i;

    ls->pending = PyList_New(0);
    for (i = 0; batch != NULL && i < PyList_GET_SIZE(batch); i++) {
        PyObject *r = PyObject_CallNoArgs(PyList_GET_ITEM(batch, i));
        if (r == NULL) {
            PyErr_WriteUnraisable(PyList_GET_ITEM(batch, i));
            continue;
        }
        Py_DECREF(r);
    }
    Py_XDECREF(batch);
    PyGILState_Release(st);
}

static void *
loop_thread(void *arg)
{
    LoopState *ls = (LoopState *)arg;
    uv_run(ls->loop, UV_RUN_DEFAULT);
    return NULL;
}

static PyObject *
evsrc_start_loop(PyObject *mod, PyObject *on_timer)
{
    (void)mod;
    g_loop.loop = uv_loop_new();
    if (g_loop.loop == NULL)
        return PyErr_NoMemory();
    g_loop.on_timer = Py_NewRef(on_timer);
    g_loop.pending = PyList_New(0);
    if (g_loop.pending == NULL)
        return NULL;
    uv_timer_init(g_loop.loop, &g_loop.timer);
    g_loop.timer.data = &g_loop;
    uv_timer_start(&g_loop.timer, bad_uv_timer_fire, 100, 100);
    uv_async_init(g_loop.loop, &g_loop.wakeup, ok_uv_async_wakeup);
    g_loop.wakeup.data = &g_loop;
    if (pthread_create(&g_loop.thread, NULL, loop_thread, &g_loop) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot start loop thread");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* --- ALSA async (SIGIO-driven) --- */

static void
bad_alsa_period_elapsed(snd_async_handler_t *ahandler)
{
    PcmState *ps = (PcmState *)snd_async_handler_get_callback_private(ahandler);
    snd_pcm_sframes_t avail = snd_pcm_avail_update(ps->pcm);
    PyObject *r;

    if (avail <= 0)
        return;
    r = PyObject_CallFunction(ps->on_period, "l", (long)avail);
    Py_XDECREF(r);
}

static PyObject *
evsrc_pcm_async(PyObject *mod, PyObject *args)
{
    PyObject *cb;
    PyObject *capsule;
    int err;
    (void)mod;

    if (!PyArg_ParseTuple(args, "OO", &capsule, &cb))
        return NULL;
    g_pcm.pcm = (snd_pcm_t *)PyCapsule_GetPointer(capsule, "snd_pcm_t");
    if (g_pcm.pcm == NULL)
        return NULL;
    Py_XSETREF(g_pcm.on_period, Py_NewRef(cb));
    err = snd_async_add_pcm_handler(&g_pcm.ah, g_pcm.pcm, bad_alsa_period_elapsed, &g_pcm);
    if (err < 0) {
        PyErr_Format(PyExc_OSError, "snd_async_add_pcm_handler: %d", err);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Timer_methods[] = {
    {"arm", (PyCFunction)Timer_arm, METH_VARARGS, NULL},
    {NULL}
};
static PyMethodDef Download_methods[] = {
    {"start", (PyCFunction)Download_start, METH_VARARGS, NULL},
    {NULL}
};
static PyTypeObject TimerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_evsrc.Timer", .tp_basicsize = sizeof(Timer),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Timer_methods, .tp_new = PyType_GenericNew,
};
static PyTypeObject DownloadType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_evsrc.Download", .tp_basicsize = sizeof(Download),
    .tp_flags = Py_TPFLAGS_DEFAULT, .tp_methods = Download_methods, .tp_new = PyType_GenericNew,
};
static PyMethodDef evsrc_methods[] = {
    {"install_signals", evsrc_install_signals, METH_VARARGS, NULL},
    {"start_loop", evsrc_start_loop, METH_O, NULL},
    {"pcm_async", evsrc_pcm_async, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
static struct PyModuleDef evsrc_module = {
    PyModuleDef_HEAD_INIT, "_evsrc", NULL, -1, evsrc_methods,
};

PyMODINIT_FUNC
PyInit__evsrc(void)
{
    PyObject *m;
    if (PyType_Ready(&TimerType) < 0 || PyType_Ready(&DownloadType) < 0)
        return NULL;
    m = PyModule_Create(&evsrc_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&TimerType);
    PyModule_AddObject(m, "Timer", (PyObject *)&TimerType);
    Py_INCREF(&DownloadType);
    PyModule_AddObject(m, "Download", (PyObject *)&DownloadType);
    return m;
}
