/*
 * _busbridge.c -- MQTT bridge (libmosquitto) and device helpers of a home
 * automation package.  libmosquitto invokes the on_* callbacks on its own
 * network thread started by mosquitto_loop_start(), so every callback has
 * to take the GIL itself.  The file focuses on paths that leave a function
 * with a GIL state still held or with the GIL still released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* ---- mosquitto.h (subset) -------------------------------------------- */
struct mosquitto;
struct mosquitto_message {
    int mid;
    char *topic;
    void *payload;
    int payloadlen;
    int qos;
    bool retain;
};
struct mosquitto *mosquitto_new(const char *id, bool clean_session, void *obj);
void mosquitto_connect_callback_set(struct mosquitto *mosq,
                                    void (*on_connect)(struct mosquitto *, void *, int));
void mosquitto_disconnect_callback_set(struct mosquitto *mosq,
                                       void (*on_disconnect)(struct mosquitto *, void *, int));
void mosquitto_message_callback_set(struct mosquitto *mosq,
                                    void (*on_message)(struct mosquitto *, void *,
                                                       const struct mosquitto_message *));
void mosquitto_subscribe_callback_set(struct mosquitto *mosq,
                                      void (*on_subscribe)(struct mosquitto *, void *, int,
                                                           int, const int *));
void mosquitto_log_callback_set(struct mosquitto *mosq,
                                void (*on_log)(struct mosquitto *, void *, int, const char *));
int mosquitto_loop_start(struct mosquitto *mosq);

/* ---------------------------------------------------------------------- */

struct bridge {
    struct mosquitto *mosq;
    PyObject *subscribers;     /* dict: topic -> callable */
    PyObject *on_connect;      /* callable(rc) */
    PyObject *on_disconnect;   /* callable(rc) */
    PyObject *logger;          /* logging.Logger */
    PyObject *fanout;          /* list of callables */
};

// BAD: ensure-leak libmosquitto on_message callback (mosquitto network thread) returns early for topics without a subscriber while still holding the PyGILState_Ensure state
static void
bad_early_return_ensure(struct mosquitto *mosq, void *obj,
                        const struct mosquitto_message *msg)
{
    struct bridge *br = (struct bridge *)obj;
    PyGILState_STATE st;
    PyObject *cb, *r;
    (void)mosq;

    st = PyGILState_Ensure();
    cb = PyDict_GetItemString(br->subscribers, msg->topic);
    if (cb == NULL)
        return;
    r = PyObject_CallFunction(cb, "sy#", msg->topic, (const char *)msg->payload,
                              (Py_ssize_t)msg->payloadlen);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(st);
}

// OK: on_subscribe callback funnels every exit through a done: label that releases the GIL state
static void
ok_goto_cleanup_ensure(struct mosquitto *mosq, void *obj, int mid, int qos_count,
                       const int *granted_qos)
{
    struct bridge *br = (struct bridge *)obj;
    PyGILState_STATE st;
    PyObject *qos = NULL, *cb, *r = NULL;
    int i;
    (void)mosq;

    st = PyGILState_Ensure();
    cb = PyDict_GetItemString(br->subscribers, "$SYS/subscribed");
    if (cb == NULL)
        goto done;
    qos = PyTuple_New(qos_count);
    if (qos == NULL)
        goto error;
    for (i = 0; i < qos_count; i++) {
        PyObject *v = PyLong_FromLong(granted_qos[i]);
        if (v == NULL)
            goto error;
        PyTuple_SET_ITEM(qos, i, v);
    }
    r = PyObject_CallFunction(cb, "iO", mid, qos);
    if (r == NULL)
        goto error;
    goto done;
error:
    PyErr_Print();
done:
    Py_XDECREF(r);
    Py_XDECREF(qos);
    PyGILState_Release(st);
}

// BAD: ensure-leak on_log callback (mosquitto network thread): the fail: label sits after PyGILState_Release, so error paths return holding the state
static void
bad_goto_skips_release(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    struct bridge *br = (struct bridge *)obj;
    PyGILState_STATE st;
    PyObject *r;
    (void)mosq;

    st = PyGILState_Ensure();
    r = PyObject_CallMethod(br->logger, "log", "is", level >= 8 ? 40 : 20, str);
    if (r == NULL)
        goto fail;
    Py_DECREF(r);
    PyGILState_Release(st);
    return;
fail:
    PyErr_Print();
    return;
}

/* Wrapper macros used by the older half of the bridge. */
#define BRIDGE_WITH_GIL  { PyGILState_STATE bridge_gil_ = PyGILState_Ensure();
#define BRIDGE_END_GIL   PyGILState_Release(bridge_gil_); }

// BAD: ensure-leak on_connect callback (mosquitto network thread) returns from inside a BRIDGE_WITH_GIL ... BRIDGE_END_GIL block, skipping the Release in the macro
static void
bad_macro_return_inside(struct mosquitto *mosq, void *obj, int rc)
{
    struct bridge *br = (struct bridge *)obj;
    (void)mosq;
    BRIDGE_WITH_GIL
        PyObject *r;
        if (br->on_connect == NULL)
            return;
        r = PyObject_CallFunction(br->on_connect, "i", rc);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
    BRIDGE_END_GIL
}

// OK: on_disconnect callback uses the same macros but keeps all control flow inside the block
static void
ok_macro_balanced(struct mosquitto *mosq, void *obj, int rc)
{
    struct bridge *br = (struct bridge *)obj;
    (void)mosq;
    BRIDGE_WITH_GIL
        if (br->on_disconnect != NULL) {
            PyObject *r = PyObject_CallFunction(br->on_disconnect, "i", rc);
            if (r == NULL)
                PyErr_Print();
            Py_XDECREF(r);
        }
    BRIDGE_END_GIL
}

// OK: fan-out from a mosquitto callback takes and releases the GIL per subscriber; the continue and break both come after the matching Release
void
ok_ensure_loop_continue_after_release(struct bridge *br, const char *topic,
                                      const struct mosquitto_message *msg)
{
    Py_ssize_t i, n;
    PyGILState_STATE st = PyGILState_Ensure();
    n = PyList_GET_SIZE(br->fanout);
    PyGILState_Release(st);

    for (i = 0; i < n; i++) {
        PyObject *cb, *r;
        st = PyGILState_Ensure();
        if (i >= PyList_GET_SIZE(br->fanout)) {
            PyGILState_Release(st);
            break;
        }
        cb = PyList_GET_ITEM(br->fanout, i);
        if (cb == Py_None) {
            PyGILState_Release(st);
            continue;
        }
        r = PyObject_CallFunction(cb, "sy#", topic, (const char *)msg->payload,
                                  (Py_ssize_t)msg->payloadlen);
        if (r == NULL)
            PyErr_Print();
        Py_XDECREF(r);
        PyGILState_Release(st);
    }
}

/* Not scored: registers all callbacks, then starts the network thread. */
int
bridge_start(struct bridge *br)
{
    mosquitto_message_callback_set(br->mosq, bad_early_return_ensure);
    mosquitto_subscribe_callback_set(br->mosq, ok_goto_cleanup_ensure);
    mosquitto_log_callback_set(br->mosq, bad_goto_skips_release);
    mosquitto_connect_callback_set(br->mosq, bad_macro_return_inside);
    mosquitto_disconnect_callback_set(br->mosq, ok_macro_balanced);
    return mosquitto_loop_start(br->mosq);
}

/* ---- scheduler lock vtable (set once at init) ------------------------ */

struct sched_lock_ops {
    const char *name;
    int (*enter)(void);
    void (*leave)(int token);
};

/* Not scored */
static int
py_sched_enter(void)
{
    return (int)PyGILState_Ensure();
}

/* Not scored */
static void
py_sched_leave(int token)
{
    PyGILState_Release((PyGILState_STATE)token);
}

static struct sched_lock_ops g_sched_lock;

/* Not scored: called once from module init. */
static void
sched_init_lock_ops(void)
{
    g_sched_lock.name = "python-gil";
    g_sched_lock.enter = py_sched_enter;
    g_sched_lock.leave = py_sched_leave;
}

struct sched_task {
    PyObject *fn;
    int cancelled;
};

// BAD: ensure-leak timer-wheel thread takes the GIL through the lock vtable (g_sched_lock.enter = PyGILState_Ensure) and returns on a cancelled task without calling leave()
static int
bad_vtable_leak(struct sched_task *task)
{
    int tok = g_sched_lock.enter();
    PyObject *r;
    if (task->cancelled) {
        Py_CLEAR(task->fn);
        return 0;
    }
    r = PyObject_CallNoArgs(task->fn);
    if (r == NULL)
        PyErr_Print();
    Py_XDECREF(r);
    g_sched_lock.leave(tok);
    return r != NULL;
}

// OK: same vtable usage, every path reaches g_sched_lock.leave(tok)
static int
ok_vtable_balanced(struct sched_task *task)
{
    int tok = g_sched_lock.enter();
    int ok = 1;
    if (task->cancelled) {
        Py_CLEAR(task->fn);
    }
    else {
        PyObject *r = PyObject_CallNoArgs(task->fn);
        if (r == NULL) {
            PyErr_Print();
            ok = 0;
        }
        Py_XDECREF(r);
    }
    g_sched_lock.leave(tok);
    return ok;
}

/* Not scored: timer-wheel thread (plain pthread, no GIL) runs due tasks. */
int
sched_run_due(struct sched_task *tasks, int n, int legacy)
{
    int i, ran = 0;
    for (i = 0; i < n; i++)
        ran += legacy ? bad_vtable_leak(&tasks[i]) : ok_vtable_balanced(&tasks[i]);
    return ran;
}

/* ---- device helpers called from Python methods (GIL held on entry) -- */

struct serial_dev {
    int fd;
};

/* Not scored */
static speed_t
baud_to_speed(int baud)
{
    switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 57600: return B57600;
    default: return B115200;
    }
}

// BAD: allow-threads-leak tcgetattr failure returns -errno while the GIL is still released by PyEval_SaveThread (caller is a Python method holding the GIL)
static int
bad_dev_set_mode(struct serial_dev *dev, int baud)
{
    struct termios tio;
    int rc, err;
    PyThreadState *ts = PyEval_SaveThread();
    if (tcgetattr(dev->fd, &tio) < 0)
        return -errno;
    cfsetispeed(&tio, baud_to_speed(baud));
    cfsetospeed(&tio, baud_to_speed(baud));
    rc = tcsetattr(dev->fd, TCSADRAIN, &tio);   /* waits for output to drain */
    err = errno;
    PyEval_RestoreThread(ts);
    return rc < 0 ? -err : 0;
}

static struct serial_dev g_port = {-1};

static PyObject *
serial_set_baud(PyObject *self, PyObject *arg)
{
    long baud = PyLong_AsLong(arg);
    int rc;
    (void)self;
    if (baud == -1 && PyErr_Occurred())
        return NULL;
    rc = bad_dev_set_mode(&g_port, (int)baud);
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

typedef struct {
    PyObject_HEAD
    int fd;
} LogTailObject;

// BAD: allow-threads-leak,api-without-gil break on EOF inside Py_BEGIN_ALLOW_THREADS leaves the for loop skipping Py_END_ALLOW_THREADS; PyBytes_FromStringAndSize then runs without the GIL and the method returns with it released
static PyObject *
bad_break_in_released_loop(LogTailObject *self, PyObject *Py_UNUSED(ignored))
{
    char buf[65536];
    size_t total = 0;
    int fd = self->fd;
    for (;;) {
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = read(fd, buf + total, sizeof buf - total);
        if (n <= 0)
            break;
        total += (size_t)n;
        Py_END_ALLOW_THREADS
        if (total == sizeof buf)
            break;
    }
    return PyBytes_FromStringAndSize(buf, (Py_ssize_t)total);
}

// OK: EINTR retry uses continue only after Py_END_ALLOW_THREADS, and checks signals with the GIL held
static PyObject *
ok_continue_after_region(LogTailObject *self, PyObject *Py_UNUSED(ignored))
{
    char buf[8192];
    int fd = self->fd;
    for (;;) {
        ssize_t n;
        int err;
        Py_BEGIN_ALLOW_THREADS
        n = read(fd, buf, sizeof buf);
        err = errno;
        Py_END_ALLOW_THREADS
        if (n < 0 && err == EINTR) {
            if (PyErr_CheckSignals() < 0)
                return NULL;
            continue;
        }
        if (n < 0) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        return PyBytes_FromStringAndSize(buf, n);
    }
}

/* Not scored: table-driven CRC-32C. */
static uint32_t
crc32c_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        int k;
        crc ^= *p++;
        for (k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

// BAD: nested-release,allow-threads-leak continue for a short/empty block inside Py_BEGIN_ALLOW_THREADS skips Py_END_ALLOW_THREADS, so the next iteration releases again (and the last one returns without the GIL)
static PyObject *
bad_continue_skips_end(LogTailObject *self, PyObject *args)
{
    unsigned char blk[4096];
    long nblocks, i;
    uint32_t crc = 0;
    int fd = self->fd;
    if (!PyArg_ParseTuple(args, "l", &nblocks))
        return NULL;
    for (i = 0; i < nblocks; i++) {
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = pread(fd, blk, sizeof blk, (off_t)i * (off_t)sizeof blk);
        if (n <= 0)
            continue;               /* sparse hole */
        crc = crc32c_update(crc, blk, (size_t)n);
        Py_END_ALLOW_THREADS
    }
    return PyLong_FromUnsignedLong(crc);
}

static PyMethodDef LogTail_methods[] = {
    {"read_all", (PyCFunction)bad_break_in_released_loop, METH_NOARGS, NULL},
    {"read_chunk", (PyCFunction)ok_continue_after_region, METH_NOARGS, NULL},
    {"checksum", (PyCFunction)bad_continue_skips_end, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject LogTailType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_busbridge.LogTail",
    .tp_basicsize = sizeof(LogTailObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = LogTail_methods,
};

static PyMethodDef module_methods[] = {
    {"set_baud", serial_set_baud, METH_O, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef busbridge_module = {
    PyModuleDef_HEAD_INIT, "_busbridge", NULL, -1, module_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__busbridge(void)
{
    PyObject *m;
    sched_init_lock_ops();
    if (PyType_Ready(&LogTailType) < 0)
        return NULL;
    m = PyModule_Create(&busbridge_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&LogTailType);
    PyModule_AddObject(m, "LogTail", (PyObject *)&LogTailType);
    return m;
}
