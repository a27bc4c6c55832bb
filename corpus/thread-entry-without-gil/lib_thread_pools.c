// Functions that GLib, libuv and SQLite run on threads of their own (rules/libs/glib.yml, libuv.yml,
// sqlite.yml): new threads, thread-pool work, and SQLite's unlock notification, which runs on the thread of the
// connection that ends the blocking transaction. The loop callbacks (uv_queue_work's after-work callback,
// g_idle_add) run on the loop's thread and are not reported. The prototypes are declared here.
#include <Python.h>

typedef void *gpointer;
typedef struct _GThread GThread;
typedef struct _GThreadPool GThreadPool;
typedef struct _GError GError;
typedef gpointer (*GThreadFunc)(gpointer data);
typedef void (*GFunc)(gpointer data, gpointer user_data);
GThread *g_thread_new(const char *name, GThreadFunc func, gpointer data);
GThreadPool *g_thread_pool_new(GFunc func, gpointer user_data, int max_threads, int exclusive, GError **error);
typedef int (*GSourceFunc)(gpointer user_data);
unsigned g_idle_add(GSourceFunc function, gpointer data);

typedef struct uv_loop_s uv_loop_t;
typedef struct uv_work_s { void *data; } uv_work_t;
typedef unsigned long uv_thread_t;
typedef void (*uv_work_cb)(uv_work_t *req);
typedef void (*uv_after_work_cb)(uv_work_t *req, int status);
typedef void (*uv_thread_cb)(void *arg);
int uv_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work_cb, uv_after_work_cb after_work_cb);
int uv_thread_create(uv_thread_t *tid, uv_thread_cb entry, void *arg);

typedef struct sqlite3 sqlite3;
int sqlite3_unlock_notify(sqlite3 *blocked, void (*notify)(void **args, int n), void *arg);

static PyObject *results;

static gpointer bad_worker(gpointer data)
{
    PyObject *n = PyLong_FromVoidPtr(data);        // expect-error{{started by g_thread_new() at lib_thread_pools.c:84}} [thread-entry-without-gil]
    Py_XDECREF(n);
    return NULL;
}

static void ok_pool_job(gpointer data, gpointer user_data)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallOneArg((PyObject *)user_data, (PyObject *)data);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

static void bad_work(uv_work_t *req)
{
    PyList_Append(results, (PyObject *)req->data);  // expect-error{{registered with uv_queue_work() at lib_thread_pools.c:86, which calls it on a thread of libuv's thread pool}} [thread-entry-without-gil]
}

/* Runs on the loop's thread, inside uv_run(): not a thread of libuv's own. */
static void after_work(uv_work_t *req, int status)
{
    (void)req;
    (void)status;
}

static void ok_uv_thread(void *arg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs((PyObject *)arg);
    Py_XDECREF(r);
    PyGILState_Release(st);
}

static void bad_unlocked(void **args, int n)
{
    for (int i = 0; i < n; i++) {
        PyObject *r = PyObject_CallNoArgs((PyObject *)args[i]);   // expect-error{{registered with sqlite3_unlock_notify() at lib_thread_pools.c:89, which calls it on the thread of the connection that ends the blocking transaction}} [thread-entry-without-gil]
        Py_XDECREF(r);
    }
}

static int on_idle(gpointer data)
{
    (void)data;
    return 0;
}

int start_workers(uv_loop_t *loop, uv_work_t *req, PyObject *handler, sqlite3 *db)
{
    uv_thread_t tid;
    g_thread_new("worker", bad_worker, NULL);
    g_thread_pool_new(ok_pool_job, handler, 4, 0, NULL);
    uv_queue_work(loop, req, bad_work, after_work);
    uv_thread_create(&tid, ok_uv_thread, handler);
    g_idle_add(on_idle, NULL);
    return sqlite3_unlock_notify(db, bad_unlocked, handler);
}
