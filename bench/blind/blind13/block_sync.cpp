// _workq: a C++ work queue exposed to Python.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>
#include <string>

namespace {

struct Job {
    std::string payload;
    long id;
};

struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job> jobs;
    std::deque<std::string> results;
    bool stopping = false;
    std::vector<std::thread> workers;
};

struct WorkQ {
    PyObject_HEAD
    Queue *q;
};

void worker_loop(Queue *q)
{
    for (;;) {
        std::unique_lock<std::mutex> lk(q->mu);
        q->cv.wait(lk, [q] { return q->stopping || !q->jobs.empty(); });
        if (q->stopping && q->jobs.empty())
            return;
        Job j = std::move(q->jobs.front());
        q->jobs.pop_front();
        lk.unlock();
        std::string r = j.payload + ":done";
        lk.lock();
        q->results.push_back(std::move(r));
        q->cv.notify_all();
    }
}

} // namespace

extern "C" {

static PyObject *
bad_workq_join(WorkQ *self, PyObject *)
{
    {
        std::lock_guard<std::mutex> lk(self->q->mu);
        self->q->stopping = true;
    }
    self->q->cv.notify_all();
    for (auto &t : self->q->workers)
        if (t.joinable())
            t.join();
    self->q->workers.clear();
    Py_RETURN_NONE;
}

static PyObject *
ok_workq_join(WorkQ *self, PyObject *)
{
    Queue *q = self->q;
    Py_BEGIN_ALLOW_THREADS
    {
        std::lock_guard<std::mutex> lk(q->mu);
        q->stopping = true;
    }
    q->cv.notify_all();
    for (auto &t : q->workers)
        if (t.joinable())
            t.join();
    q->workers.clear();
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
bad_workq_get_result(WorkQ *self, PyObject *)
{
    std::unique_lock<std::mutex> lk(self->q->mu);
    self->q->cv.wait(lk, [this_q = self->q] { return !this_q->results.empty(); });
    std::string r = std::move(self->q->results.front());
    self->q->results.pop_front();
    lk.unlock();
    return PyUnicode_FromStringAndSize(r.data(), (Py_ssize_t)r.size());
}

static PyObject *
ok_workq_get_result(WorkQ *self, PyObject *)
{
    std::string r;
    Queue *q = self->q;
    Py_BEGIN_ALLOW_THREADS
    {
        std::unique_lock<std::mutex> lk(q->mu);
        q->cv.wait(lk, [q] { return !q->results.empty(); });
        r = std::move(q->results.front());
        q->results.pop_front();
    }
    Py_END_ALLOW_THREADS
    return PyUnicode_FromStringAndSize(r.data(), (Py_ssize_t)r.size());
}

static PyObject *
bad_workq_submit(WorkQ *self, PyObject *args)
{
    const char *s;
    Py_ssize_t n;
    long id;
    if (!PyArg_ParseTuple(args, "s#l", &s, &n, &id))
        return NULL;
    self->q->mu.lock();
    self->q->jobs.push_back(Job{std::string(s, (size_t)n), id});
    self->q->mu.unlock();
    self->q->cv.notify_one();
    Py_RETURN_NONE;
}

static PyObject *
ok_workq_submit(WorkQ *self, PyObject *args)
{
    const char *s;
    Py_ssize_t n;
    long id;
    if (!PyArg_ParseTuple(args, "s#l", &s, &n, &id))
        return NULL;
    Job job{std::string(s, (size_t)n), id};
    Queue *q = self->q;
    Py_BEGIN_ALLOW_THREADS
    q->mu.lock();
    q->jobs.push_back(std::move(job));
    q->mu.unlock();
    Py_END_ALLOW_THREADS
    q->cv.notify_one();
    Py_RETURN_NONE;
}

static PyObject *
ok_workq_start(WorkQ *self, PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (self->q == nullptr)
        self->q = new Queue();
    for (long i = 0; i < n; i++)
        self->q->workers.emplace_back(worker_loop, self->q);
    Py_RETURN_NONE;
}

static PyMethodDef WorkQ_methods[] = {
    {"start", (PyCFunction)ok_workq_start, METH_O, nullptr},
    {"submit", (PyCFunction)ok_workq_submit, METH_VARARGS, nullptr},
    {"submit_nowait", (PyCFunction)bad_workq_submit, METH_VARARGS, nullptr},
    {"get", (PyCFunction)ok_workq_get_result, METH_NOARGS, nullptr},
    {"get_locked", (PyCFunction)bad_workq_get_result, METH_NOARGS, nullptr},
    {"join", (PyCFunction)ok_workq_join, METH_NOARGS, nullptr},
    {"join_fast", (PyCFunction)bad_workq_join, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}
};

static PyTypeObject WorkQType = {
    PyVarObject_HEAD_INIT(nullptr, 0)
    "_workq.WorkQ",            /* tp_name */
    sizeof(WorkQ),             /* tp_basicsize */
};

static struct PyModuleDef workq_module = {
    PyModuleDef_HEAD_INIT, "_workq", nullptr, -1, nullptr,
};

PyMODINIT_FUNC
PyInit__workq(void)
{
    WorkQType.tp_flags = Py_TPFLAGS_DEFAULT;
    WorkQType.tp_methods = WorkQ_methods;
    WorkQType.tp_new = PyType_GenericNew;
    if (PyType_Ready(&WorkQType) < 0)
        return nullptr;
    PyObject *m = PyModule_Create(&workq_module);
    if (m == nullptr)
        return nullptr;
    Py_INCREF(&WorkQType);
    PyModule_AddObject(m, "WorkQ", (PyObject *)&WorkQType);
    return m;
}

} // extern "C"
