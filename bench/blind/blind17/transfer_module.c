/* transfer_module.c - _xfer: a thin libcurl binding (Easy, Multi, Share) plus
 * a few file and socket helpers used by the upload/download code.
 *
 * libcurl runs our callbacks synchronously, on the thread that called
 * curl_easy_perform / curl_easy_pause / curl_multi_perform, while that call
 * has the GIL released.  Like pycurl, the thread state saved for such a call
 * is kept where the callbacks can find it: in the Multi when the handle is
 * attached to one, else in the Easy itself.  check_easy() refuses to start a
 * call while another one is running on the same handle or Multi, and a handle
 * cannot be detached from its Multi during a call, so self->multi is stable
 * while the GIL is released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ libcurl (curl/curl.h) */

typedef void CURL;
typedef void CURLM;
typedef void CURLSH;
typedef int CURLcode;
typedef int CURLMcode;
typedef int CURLoption;
typedef int CURLINFO;
typedef int curl_socket_t;
typedef long long curl_off_t;

#define CURLE_OK 0
#define CURLM_OK 0
#define CURL_ERROR_SIZE 256
#define CURL_WRITEFUNC_PAUSE 0x10000001
#define CURLOPT_WRITEDATA 10001
#define CURLOPT_URL 10002
#define CURLOPT_READDATA 10009
#define CURLOPT_ERRORBUFFER 10010
#define CURLOPT_WRITEFUNCTION 20011
#define CURLOPT_READFUNCTION 20012
#define CURLOPT_UPLOAD 46
#define CURLOPT_INFILESIZE_LARGE 30115
#define CURLINFO_ACTIVESOCKET (0x500000 + 44)

CURL *curl_easy_init(void);
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...);
CURLcode curl_easy_perform(CURL *curl);
CURLcode curl_easy_pause(CURL *curl, int bitmask);
CURLcode curl_easy_upkeep(CURL *curl);
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...);
const char *curl_easy_strerror(CURLcode code);
void curl_easy_cleanup(CURL *curl);
CURLM *curl_multi_init(void);
CURLMcode curl_multi_add_handle(CURLM *multi, CURL *easy);
CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *easy);
CURLMcode curl_multi_perform(CURLM *multi, int *running_handles);
CURLMcode curl_multi_cleanup(CURLM *multi);
typedef void (*curl_lock_function)(CURL *handle, int data, int locktype, void *userptr);
typedef void (*curl_unlock_function)(CURL *handle, int data, void *userptr);
#define CURLSHOPT_SHARE 1
#define CURLSHOPT_LOCKFUNC 3
#define CURLSHOPT_UNLOCKFUNC 4
#define CURLSHOPT_USERDATA 5
#define CURL_LOCK_DATA_COOKIE 2
CURLSH *curl_share_init(void);
int curl_share_setopt(CURLSH *share, int option, ...);
int curl_share_cleanup(CURLSH *share);

/* ------------------------------------------------------------------ objects */

static PyObject *XferError;

typedef struct {
    PyObject_HEAD
    CURLM *multi;
    PyThreadState *state;       /* set while curl_multi_perform runs without the GIL */
} MultiObject;

typedef struct {
    PyObject_HEAD
    CURL *handle;
    PyThreadState *state;       /* set while an easy call runs without the GIL */
    MultiObject *multi;         /* the Multi this handle is attached to, or NULL */
    PyObject *w_cb;             /* write callback, called with each received chunk */
    int upload_fd;
    int download_fd;
    char errbuf[CURL_ERROR_SIZE];
} EasyObject;

typedef struct {
    PyObject_HEAD
    CURLSH *share;
    pthread_mutex_t mu;         /* taken by libcurl's share lock callbacks, without the GIL */
    PyObject *cookies;          /* list of cookie lines, mirrored from the share */
} ShareObject;

static PyTypeObject Easy_Type, Multi_Type, Share_Type;

/* Saves the thread state where the callbacks look for it. */
#define XFER_BEGIN_ALLOW_THREADS(self)                          \
    do {                                                        \
        if ((self)->multi != NULL)                              \
            (self)->multi->state = PyEval_SaveThread();         \
        else                                                    \
            (self)->state = PyEval_SaveThread();                \
    } while (0)

#define XFER_END_ALLOW_THREADS(self)                            \
    do {                                                        \
        if ((self)->multi != NULL) {                            \
            PyEval_RestoreThread((self)->multi->state);         \
            (self)->multi->state = NULL;                        \
        } else {                                                \
            PyEval_RestoreThread((self)->state);                \
            (self)->state = NULL;                               \
        }                                                       \
    } while (0)

/* For calls that never run callbacks: the state always goes in the handle. */
#define XFER_BEGIN_ALLOW_THREADS_EASY(self) ((self)->state = PyEval_SaveThread())
#define XFER_END_ALLOW_THREADS_EASY(self)                       \
    do {                                                        \
        PyEval_RestoreThread((self)->state);                    \
        (self)->state = NULL;                                   \
    } while (0)

static int check_easy(EasyObject *self)
{
    if (self->handle == NULL) {
        PyErr_SetString(XferError, "handle is closed");
        return -1;
    }
    if (self->state != NULL || (self->multi != NULL && self->multi->state != NULL)) {
        PyErr_SetString(XferError, "a transfer is already running on this handle");
        return -1;
    }
    return 0;
}

static PyObject *xfer_error(CURLcode rc, const char *errbuf)
{
    PyErr_Format(XferError, "(%d) %s", rc, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return NULL;
}

static PyThreadState *xfer_saved_state(const EasyObject *self)
{
    if (self->multi != NULL)
        return self->multi->state;
    return self->state;
}

// OK: libcurl calls this with the GIL released; it attaches with the thread state the BEGIN macro saved (found by the same multi/easy test) and detaches before returning, and refuses data when no state is saved
static size_t xfer_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    EasyObject *self = userdata;
    PyThreadState *ts = xfer_saved_state(self);
    size_t total = size * nmemb, ret = 0;
    PyObject *chunk, *r;

    if (ts == NULL)
        return 0;                       /* not inside one of our calls */
    PyEval_AcquireThread(ts);
    if (self->w_cb == NULL) {
        ret = total;
        goto out;
    }
    chunk = PyBytes_FromStringAndSize(ptr, (Py_ssize_t)total);
    if (chunk == NULL)
        goto error;
    r = PyObject_CallOneArg(self->w_cb, chunk);
    Py_DECREF(chunk);
    if (r == NULL)
        goto error;
    ret = (PyLong_Check(r) && PyLong_AsLong(r) == CURL_WRITEFUNC_PAUSE) ? CURL_WRITEFUNC_PAUSE : total;
    PyErr_Clear();
    Py_DECREF(r);
    goto out;
error:
    PyErr_WriteUnraisable(self->w_cb);
out:
    PyEval_ReleaseThread(ts);
    return ret;
}

/* C only: feeds the upload from upload_fd. */
static size_t xfer_read_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
    EasyObject *self = userdata;
    ssize_t n;
    do
        n = read(self->upload_fd, buf, size * nitems);
    while (n < 0 && errno == EINTR);
    return n < 0 ? 0x10000000 /* CURL_READFUNC_ABORT */ : (size_t)n;
}

/* C only: writes the download to download_fd. */
static size_t xfer_file_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    EasyObject *self = userdata;
    size_t total = size * nmemb, done = 0;
    while (done < total) {
        ssize_t n = write(self->download_fd, ptr + done, total - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        done += (size_t)n;
    }
    return total;
}

/* ------------------------------------------------------------------ Easy */

static PyObject *Easy_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    EasyObject *self = (EasyObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->upload_fd = self->download_fd = -1;
    self->handle = curl_easy_init();
    if (self->handle == NULL) {
        Py_DECREF(self);
        PyErr_SetString(XferError, "curl_easy_init failed");
        return NULL;
    }
    curl_easy_setopt(self->handle, CURLOPT_ERRORBUFFER, self->errbuf);
    curl_easy_setopt(self->handle, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_WRITEFUNCTION, xfer_write_cb);
    return (PyObject *)self;
}

static void Easy_dealloc(EasyObject *self)
{
    if (self->multi != NULL) {
        curl_multi_remove_handle(self->multi->multi, self->handle);
        Py_CLEAR(self->multi);
    }
    if (self->handle != NULL)
        curl_easy_cleanup(self->handle);
    if (self->upload_fd >= 0)
        close(self->upload_fd);
    if (self->download_fd >= 0)
        close(self->download_fd);
    Py_CLEAR(self->w_cb);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Easy_set_url(EasyObject *self, PyObject *arg)
{
    const char *url = PyUnicode_AsUTF8(arg);
    if (url == NULL || check_easy(self) < 0)
        return NULL;
    curl_easy_setopt(self->handle, CURLOPT_URL, url);   /* libcurl copies the string */
    Py_RETURN_NONE;
}

static PyObject *Easy_set_write_callback(EasyObject *self, PyObject *cb)
{
    if (cb != Py_None && !PyCallable_Check(cb)) {
        PyErr_SetString(PyExc_TypeError, "callback must be callable or None");
        return NULL;
    }
    Py_XSETREF(self->w_cb, cb == Py_None ? NULL : Py_NewRef(cb));
    curl_easy_setopt(self->handle, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_WRITEFUNCTION, xfer_write_cb);
    Py_RETURN_NONE;
}

static PyObject *Easy_perform(EasyObject *self, PyObject *Py_UNUSED(ignored))
{
    CURLcode rc;
    if (check_easy(self) < 0)
        return NULL;
    if (self->multi != NULL) {
        PyErr_SetString(XferError, "handle is attached to a Multi; use Multi.perform()");
        return NULL;
    }
    XFER_BEGIN_ALLOW_THREADS(self);
    rc = curl_easy_perform(self->handle);
    XFER_END_ALLOW_THREADS(self);
    if (rc != CURLE_OK)
        return xfer_error(rc, self->errbuf);
    Py_RETURN_NONE;
}

// OK: the BEGIN and END macros pick the same place (the Multi's state or the handle's) by the same self->multi test, and self->multi cannot change while the GIL is released
static PyObject *Easy_pause(EasyObject *self, PyObject *args)
{
    int bitmask;
    CURLcode rc;

    if (!PyArg_ParseTuple(args, "i:pause", &bitmask))
        return NULL;
    if (check_easy(self) < 0)
        return NULL;
    /* unpausing can deliver buffered data to xfer_write_cb from inside curl_easy_pause() */
    XFER_BEGIN_ALLOW_THREADS(self);
    rc = curl_easy_pause(self->handle, bitmask);
    XFER_END_ALLOW_THREADS(self);
    if (rc != CURLE_OK)
        return xfer_error(rc, self->errbuf);
    Py_RETURN_NONE;
}

// BAD: restore-without-save,release-order saves with XFER_BEGIN_ALLOW_THREADS_EASY (always self->state) but restores with XFER_END_ALLOW_THREADS, which for a handle attached to a Multi restores multi->state instead
static PyObject *Easy_upkeep(EasyObject *self, PyObject *Py_UNUSED(ignored))
{
    CURLcode rc;

    if (check_easy(self) < 0)
        return NULL;
    /* keeps idle connections alive; runs no callbacks */
    XFER_BEGIN_ALLOW_THREADS_EASY(self);
    rc = curl_easy_upkeep(self->handle);
    XFER_END_ALLOW_THREADS(self);
    if (rc != CURLE_OK)
        return xfer_error(rc, self->errbuf);
    Py_RETURN_NONE;
}

// OK: both error exits inside the Py_BEGIN_ALLOW_THREADS block re-take the GIL with Py_BLOCK_THREADS before raising and returning
static PyObject *Easy_set_upload_file(EasyObject *self, PyObject *args)
{
    PyObject *pathobj;
    const char *path;
    struct stat sb;
    int fd, err;

    if (!PyArg_ParseTuple(args, "O&:set_upload_file", PyUnicode_FSConverter, &pathobj))
        return NULL;
    path = PyBytes_AS_STRING(pathobj);
    Py_BEGIN_ALLOW_THREADS
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        Py_BLOCK_THREADS
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, pathobj);
        Py_DECREF(pathobj);
        return NULL;
    }
    err = fstat(fd, &sb) < 0 ? errno : (S_ISREG(sb.st_mode) ? 0 : EINVAL);
    if (err != 0) {
        close(fd);
        Py_BLOCK_THREADS
        errno = err;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, pathobj);
        Py_DECREF(pathobj);
        return NULL;
    }
    Py_END_ALLOW_THREADS
    if (self->upload_fd >= 0)
        close(self->upload_fd);
    self->upload_fd = fd;
    curl_easy_setopt(self->handle, CURLOPT_READDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_READFUNCTION, xfer_read_cb);
    curl_easy_setopt(self->handle, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(self->handle, CURLOPT_INFILESIZE_LARGE, (curl_off_t)sb.st_size);
    Py_DECREF(pathobj);
    Py_RETURN_NONE;
}

// BAD: allow-threads-leak,api-without-gil the `goto error` for a failed ftruncate leaves the Py_BEGIN_ALLOW_THREADS block without Py_BLOCK_THREADS, so the error label raises and returns with the GIL released
static PyObject *Easy_set_download_file(EasyObject *self, PyObject *args)
{
    PyObject *pathobj;
    const char *path;
    int fd, truncate = 1, err = 0;

    if (!PyArg_ParseTuple(args, "O&|p:set_download_file", PyUnicode_FSConverter, &pathobj, &truncate))
        return NULL;
    path = PyBytes_AS_STRING(pathobj);
    Py_BEGIN_ALLOW_THREADS
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        Py_BLOCK_THREADS
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, pathobj);
        Py_DECREF(pathobj);
        return NULL;
    }
    if (truncate && ftruncate(fd, 0) < 0) {
        err = errno;
        close(fd);
        goto error;
    }
    Py_END_ALLOW_THREADS
    if (self->download_fd >= 0)
        close(self->download_fd);
    self->download_fd = fd;
    curl_easy_setopt(self->handle, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->handle, CURLOPT_WRITEFUNCTION, xfer_file_write_cb);
    Py_DECREF(pathobj);
    Py_RETURN_NONE;

error:
    errno = err;
    PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, pathobj);
    Py_DECREF(pathobj);
    return NULL;
}

// BAD: api-without-gil PyMem_Realloc and PyMem_Free (the GIL-requiring "mem" domain) are called inside Py_BEGIN_ALLOW_THREADS while the header file is read
static PyObject *Easy_load_headers(EasyObject *self, PyObject *arg)
{
    int fd = PyObject_AsFileDescriptor(arg);
    char *buf = NULL, *tmp;
    size_t len = 0, cap = 0;
    ssize_t n;
    int err = 0;
    PyObject *text, *lines;

    if (fd < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            tmp = PyMem_Realloc(buf, cap);
            if (tmp == NULL) {
                err = ENOMEM;
                break;
            }
            buf = tmp;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        len += (size_t)n;
    }
    if (err != 0) {
        PyMem_Free(buf);
        buf = NULL;
    }
    Py_END_ALLOW_THREADS
    if (err != 0) {
        errno = err;
        return err == ENOMEM ? PyErr_NoMemory() : PyErr_SetFromErrno(PyExc_OSError);
    }
    text = PyUnicode_DecodeLatin1(buf ? buf : "", (Py_ssize_t)len, NULL);
    PyMem_Free(buf);
    if (text == NULL)
        return NULL;
    lines = PyUnicode_Splitlines(text, 0);
    Py_DECREF(text);
    (void)self;
    return lines;
}

static PyMethodDef Easy_methods[] = {
    {"set_url", (PyCFunction)Easy_set_url, METH_O, NULL},
    {"set_write_callback", (PyCFunction)Easy_set_write_callback, METH_O, NULL},
    {"perform", (PyCFunction)Easy_perform, METH_NOARGS, NULL},
    {"pause", (PyCFunction)Easy_pause, METH_VARARGS, NULL},
    {"upkeep", (PyCFunction)Easy_upkeep, METH_NOARGS, NULL},
    {"set_upload_file", (PyCFunction)Easy_set_upload_file, METH_VARARGS, NULL},
    {"set_download_file", (PyCFunction)Easy_set_download_file, METH_VARARGS, NULL},
    {"load_headers", (PyCFunction)Easy_load_headers, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Easy_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_xfer.Easy",
    .tp_basicsize = sizeof(EasyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Easy_new,
    .tp_dealloc = (destructor)Easy_dealloc,
    .tp_methods = Easy_methods,
};

/* ------------------------------------------------------------------ Multi */

static PyObject *Multi_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    MultiObject *self = (MultiObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->multi = curl_multi_init();
    if (self->multi == NULL) {
        Py_DECREF(self);
        PyErr_SetString(XferError, "curl_multi_init failed");
        return NULL;
    }
    return (PyObject *)self;
}

static void Multi_dealloc(MultiObject *self)
{
    if (self->multi != NULL)
        curl_multi_cleanup(self->multi);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Multi_add_handle(MultiObject *self, PyObject *arg)
{
    EasyObject *easy = (EasyObject *)arg;
    if (!PyObject_TypeCheck(arg, &Easy_Type)) {
        PyErr_SetString(PyExc_TypeError, "add_handle() takes an Easy");
        return NULL;
    }
    if (check_easy(easy) < 0 || self->state != NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(XferError, "cannot add a handle while perform() runs");
        return NULL;
    }
    if (easy->multi != NULL) {
        PyErr_SetString(XferError, "handle is already attached to a Multi");
        return NULL;
    }
    if (curl_multi_add_handle(self->multi, easy->handle) != CURLM_OK) {
        PyErr_SetString(XferError, "curl_multi_add_handle failed");
        return NULL;
    }
    easy->multi = (MultiObject *)Py_NewRef(self);
    Py_RETURN_NONE;
}

static PyObject *Multi_remove_handle(MultiObject *self, PyObject *arg)
{
    EasyObject *easy = (EasyObject *)arg;
    if (!PyObject_TypeCheck(arg, &Easy_Type) || easy->multi != self) {
        PyErr_SetString(XferError, "handle is not attached to this Multi");
        return NULL;
    }
    if (self->state != NULL || easy->state != NULL) {
        PyErr_SetString(XferError, "cannot remove a handle while a transfer runs");
        return NULL;
    }
    curl_multi_remove_handle(self->multi, easy->handle);
    easy->multi = NULL;
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyObject *Multi_perform(MultiObject *self, PyObject *Py_UNUSED(ignored))
{
    int running = 0;
    CURLMcode mrc;
    if (self->state != NULL) {
        PyErr_SetString(XferError, "perform() is already running");
        return NULL;
    }
    self->state = PyEval_SaveThread();
    mrc = curl_multi_perform(self->multi, &running);
    PyEval_RestoreThread(self->state);
    self->state = NULL;
    if (mrc != CURLM_OK) {
        PyErr_Format(XferError, "curl_multi_perform failed (%d)", mrc);
        return NULL;
    }
    return PyLong_FromLong(running);
}

static PyMethodDef Multi_methods[] = {
    {"add_handle", (PyCFunction)Multi_add_handle, METH_O, NULL},
    {"remove_handle", (PyCFunction)Multi_remove_handle, METH_O, NULL},
    {"perform", (PyCFunction)Multi_perform, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Multi_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_xfer.Multi",
    .tp_basicsize = sizeof(MultiObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Multi_new,
    .tp_dealloc = (destructor)Multi_dealloc,
    .tp_methods = Multi_methods,
};

/* ------------------------------------------------------------------ Share */

// OK: the share mutex is first tried with pthread_mutex_trylock, which never blocks, while the GIL is held; only the blocking fallback runs with the GIL released
static int share_lock(ShareObject *self)
{
    int rc = pthread_mutex_trylock(&self->mu);
    if (rc == EBUSY) {
        /* a transfer thread holds it inside libcurl; it never needs the GIL while it does */
        Py_BEGIN_ALLOW_THREADS
        rc = pthread_mutex_lock(&self->mu);
        Py_END_ALLOW_THREADS
    }
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/* libcurl calls these on transfer threads, without the GIL; C only. */
static void share_lock_cb(CURL *handle, int data, int locktype, void *userptr)
{
    (void)handle;
    (void)data;
    (void)locktype;
    pthread_mutex_lock(&((ShareObject *)userptr)->mu);
}

static void share_unlock_cb(CURL *handle, int data, void *userptr)
{
    (void)handle;
    (void)data;
    pthread_mutex_unlock(&((ShareObject *)userptr)->mu);
}

static PyObject *Share_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    ShareObject *self = (ShareObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    pthread_mutex_init(&self->mu, NULL);
    self->cookies = PyList_New(0);
    self->share = curl_share_init();
    if (self->cookies == NULL || self->share == NULL) {
        int no_share = self->cookies != NULL;
        Py_DECREF(self);
        return no_share ? PyErr_NoMemory() : NULL;
    }
    curl_share_setopt(self->share, CURLSHOPT_LOCKFUNC, share_lock_cb);
    curl_share_setopt(self->share, CURLSHOPT_UNLOCKFUNC, share_unlock_cb);
    curl_share_setopt(self->share, CURLSHOPT_USERDATA, self);
    curl_share_setopt(self->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
    return (PyObject *)self;
}

static void Share_dealloc(ShareObject *self)
{
    if (self->share != NULL)
        curl_share_cleanup(self->share);
    pthread_mutex_destroy(&self->mu);
    Py_CLEAR(self->cookies);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Share_clear_cookies(ShareObject *self, PyObject *Py_UNUSED(ignored))
{
    int rc;
    if (share_lock(self) < 0)
        return NULL;
    rc = PyList_SetSlice(self->cookies, 0, PyList_GET_SIZE(self->cookies), NULL);
    pthread_mutex_unlock(&self->mu);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef Share_methods[] = {
    {"clear_cookies", (PyCFunction)Share_clear_cookies, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Share_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_xfer.Share",
    .tp_basicsize = sizeof(ShareObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Share_new,
    .tp_dealloc = (destructor)Share_dealloc,
    .tp_methods = Share_methods,
};

/* ------------------------------------------------------------------ helpers */

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        int k;
        crc ^= *p++;
        for (k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

#define XFER_NOGIL_THRESHOLD (64 * 1024)

// OK: the GIL is released only for large buffers; `released` records it and the restore is guarded by the same flag
static PyObject *xfer_checksum(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    PyThreadState *ts = NULL;
    int released = 0;
    uint32_t crc;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len >= XFER_NOGIL_THRESHOLD) {
        ts = PyEval_SaveThread();
        released = 1;
    }
    crc = crc32_update(0, view.buf, (size_t)view.len);
    if (released)
        PyEval_RestoreThread(ts);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(crc);
}

// OK: only the raw allocator (PyMem_RawRealloc / PyMem_RawFree), which is documented as safe without the GIL, is used while the GIL is released
static PyObject *xfer_slurp(PyObject *module, PyObject *arg)
{
    int fd = PyObject_AsFileDescriptor(arg);
    char *buf = NULL, *tmp;
    size_t len = 0, cap = 0;
    ssize_t n;
    int err = 0;
    PyObject *result;

    if (fd < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            tmp = PyMem_RawRealloc(buf, cap);
            if (tmp == NULL) {
                err = ENOMEM;
                break;
            }
            buf = tmp;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        len += (size_t)n;
    }
    if (err != 0) {
        PyMem_RawFree(buf);
        buf = NULL;
    }
    Py_END_ALLOW_THREADS
    if (err != 0) {
        errno = err;
        return err == ENOMEM ? PyErr_NoMemory() : PyErr_SetFromErrno(PyExc_OSError);
    }
    result = PyBytes_FromStringAndSize(buf, (Py_ssize_t)len);
    PyMem_RawFree(buf);
    return result;
}

// OK: recv() with MSG_DONTWAIT never blocks, so reading what the peer already sent is done with the GIL held; EAGAIN ends the loop
static PyObject *xfer_read_available(PyObject *module, PyObject *arg)
{
    int fd = PyObject_AsFileDescriptor(arg);
    PyObject *out;
    char buf[16384];

    if (fd < 0)
        return NULL;
    out = PyByteArray_FromStringAndSize(NULL, 0);
    if (out == NULL)
        return NULL;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            Py_ssize_t old = PyByteArray_GET_SIZE(out);
            if (PyByteArray_Resize(out, old + n) < 0)
                goto error;
            memcpy(PyByteArray_AS_STRING(out) + old, buf, (size_t)n);
            continue;
        }
        if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        if (errno == EINTR)
            continue;
        PyErr_SetFromErrno(PyExc_OSError);
        goto error;
    }
    return out;
error:
    Py_DECREF(out);
    return NULL;
}

// BAD: blocking-with-gil recv() without MSG_DONTWAIT on a blocking socket waits for the peer while the GIL is held
static PyObject *xfer_read_exact(PyObject *module, PyObject *args)
{
    int fd;
    Py_ssize_t want, got = 0;
    PyObject *out;
    char *p;

    if (!PyArg_ParseTuple(args, "in:read_exact", &fd, &want))
        return NULL;
    if (want < 0) {
        PyErr_SetString(PyExc_ValueError, "negative size");
        return NULL;
    }
    out = PyBytes_FromStringAndSize(NULL, want);
    if (out == NULL)
        return NULL;
    p = PyBytes_AS_STRING(out);
    while (got < want) {
        ssize_t n = recv(fd, p + got, (size_t)(want - got), 0);
        if (n == 0) {
            Py_DECREF(out);
            PyErr_SetString(PyExc_ConnectionError, "connection closed by peer");
            return NULL;
        }
        if (n < 0) {
            if (errno == EINTR && PyErr_CheckSignals() == 0)
                continue;
            if (!PyErr_Occurred())
                PyErr_SetFromErrno(PyExc_OSError);
            Py_DECREF(out);
            return NULL;
        }
        got += n;
    }
    return out;
}

static PyMethodDef xfer_methods[] = {
    {"checksum", xfer_checksum, METH_O, "CRC-32 of a buffer"},
    {"slurp", xfer_slurp, METH_O, "read a file descriptor to EOF"},
    {"read_available", xfer_read_available, METH_O, "read what a socket has buffered"},
    {"read_exact", xfer_read_exact, METH_VARARGS, "read exactly n bytes from a socket"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef xfer_module = {
    PyModuleDef_HEAD_INIT, "_xfer", "libcurl transfers", -1, xfer_methods,
};

PyMODINIT_FUNC PyInit__xfer(void)
{
    PyObject *m;
    if (PyType_Ready(&Easy_Type) < 0 || PyType_Ready(&Multi_Type) < 0 || PyType_Ready(&Share_Type) < 0)
        return NULL;
    m = PyModule_Create(&xfer_module);
    if (m == NULL)
        return NULL;
    XferError = PyErr_NewException("_xfer.error", NULL, NULL);
    if (XferError == NULL || PyModule_AddObjectRef(m, "error", XferError) < 0
        || PyModule_AddObjectRef(m, "Easy", (PyObject *)&Easy_Type) < 0
        || PyModule_AddObjectRef(m, "Multi", (PyObject *)&Multi_Type) < 0
        || PyModule_AddObjectRef(m, "Share", (PyObject *)&Share_Type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
