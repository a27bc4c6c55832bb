// gilcheck-args: -std=c++17
// A class without a destructor of its own destroys its members, and a std::unique_ptr the object it owns: where
// one of them holds a Python reference (a member with a Py_XDECREF destructor), that happens at the end of the
// owner's scope, which may be after the GIL was given back. A reset() with the GIL held destroys it there.
// The workers below run on threads of their own, which start without the GIL.
#include <Python.h>
#include <memory>
#include <string>
#include <thread>

class PyRef {
public:
    explicit PyRef(PyObject *o = nullptr) : o_(o) {}
    PyRef(const PyRef &) = delete;
    ~PyRef() { Py_XDECREF(o_); }
    PyObject *get() const { return o_; }

private:
    PyObject *o_;
};

struct Job {
    std::string name;
    PyRef callback;
};

extern int crunch(const std::string &name);

void bad_job_destroyed_after_release(Job *raw)
{
    std::unique_ptr<Job> job(raw);
    int n = crunch(job->name);
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(job->callback.get(), "i", n);
    Py_XDECREF(r);
    PyGILState_Release(st);
}   // expect-error{{~PyRef() (cleanup of 'job') (summary: it calls Py_XDECREF()) needs the GIL}} [api-without-gil]

void ok_job_reset_with_gil(Job *raw)
{
    std::unique_ptr<Job> job(raw);
    int n = crunch(job->name);
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(job->callback.get(), "i", n);
    Py_XDECREF(r);
    job.reset();
    PyGILState_Release(st);
}

void ok_job_destroyed_inside_gil_scope(Job *raw)
{
    PyGILState_STATE st = PyGILState_Ensure();
    {
        std::unique_ptr<Job> job(raw);
        PyObject *r = PyObject_CallNoArgs(job->callback.get());
        Py_XDECREF(r);
    }
    PyGILState_Release(st);
}

void bad_member_destroyed_after_release(PyObject *cb)
{
    PyGILState_STATE st = PyGILState_Ensure();
    Py_INCREF(cb);
    Job local{"job", PyRef(cb)};
    PyGILState_Release(st);
    crunch(local.name);
}   // expect-error{{~PyRef() (cleanup of 'local') (summary: it calls Py_XDECREF()) needs the GIL}} [api-without-gil]

void start_workers(Job *a, Job *b, Job *c, PyObject *cb)
{
    std::thread(bad_job_destroyed_after_release, a).detach();
    std::thread(ok_job_reset_with_gil, b).detach();
    std::thread(ok_job_destroyed_inside_gil_scope, c).detach();
    std::thread(bad_member_destroyed_after_release, cb).detach();
}
