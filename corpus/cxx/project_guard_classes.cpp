// gilcheck-args: -std=c++17
// A project's own guard classes, with no rules entry: the constructor saves the thread state (or takes a GIL
// state) into a member, the destructor gives it back. The member is a field of the object the constructor
// builds, so the pair is followed through `this`: the variable's scope is the released region, and methods that
// save and restore through the object pair up at their call sites.
#include <Python.h>
#include <stdexcept>
#include <vector>

struct codec_error : std::runtime_error {
    explicit codec_error(const char *w) : std::runtime_error(w) {}
};
[[noreturn]] static void fail(const char *what) { throw codec_error(what); }
extern int next_frame(void);
extern void crunch(std::vector<unsigned char> &out);

class Unlocked {
public:
    Unlocked() : ts_(PyEval_SaveThread()) {}
    ~Unlocked() { PyEval_RestoreThread(ts_); }
    Unlocked(const Unlocked &) = delete;
    Unlocked &operator=(const Unlocked &) = delete;

private:
    PyThreadState *ts_;
};

class Attached {
public:
    Attached() { st_ = PyGILState_Ensure(); }
    ~Attached() { PyGILState_Release(st_); }

private:
    PyGILState_STATE st_;
};

struct Decoder {
    size_t skip(size_t frames)
    {
        size_t done = 0;
        for (; done < frames; ++done) {
            int rc = next_frame();
            if (rc == 0)
                break;
            if (rc < 0)
                fail("decoder");
        }
        return done;
    }
};

PyObject *ok_work_in_unlocked_scope(PyObject *self, PyObject *arg)
{
    std::vector<unsigned char> out;
    {
        Unlocked nogil;
        crunch(out);
    }
    return PyBytes_FromStringAndSize(reinterpret_cast<const char *>(out.data()), (Py_ssize_t)out.size());
}

PyObject *bad_python_in_unlocked_scope(PyObject *self, PyObject *arg)
{
    Unlocked nogil;
    return PyLong_FromLong(1);                  // expect-error{{needs the GIL}} [api-without-gil]
}

// The handler runs inside the guard's scope: the GIL is still released there.
PyObject *bad_handler_inside_unlocked_scope(Decoder *d, PyObject *arg)
{
    size_t skipped = 0;
    bool failed = false;
    {
        Unlocked nogil;
        try {
            skipped = d->skip(8);
        } catch (const codec_error &e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());   // expect-error{{needs the GIL}} [api-without-gil]
            failed = true;
        }
    }
    if (failed)
        return nullptr;
    return PyLong_FromSize_t(skipped);
}

// The same handler after the scope: the destructor has given the GIL back while unwinding.
PyObject *ok_handler_after_unlocked_scope(Decoder *d, PyObject *arg)
{
    size_t skipped = 0;
    try {
        Unlocked nogil;
        skipped = d->skip(8);
    } catch (const codec_error &e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
        return nullptr;
    }
    return PyLong_FromSize_t(skipped);
}

void ok_callback_attached(PyObject *callable)
{
    Attached gil;
    PyObject *r = PyObject_CallNoArgs(callable);
    Py_XDECREF(r);
}

// Taking the GIL inside a released region of one's own is fine; the order of the destructors is LIFO.
void ok_attached_inside_unlocked(PyObject *callable)
{
    Unlocked nogil;
    {
        Attached gil;
        PyObject *r = PyObject_CallNoArgs(callable);
        Py_XDECREF(r);
    }
}

// A session object whose methods release and re-acquire through a member.
class Session {
public:
    void detach() { saved_ = PyEval_SaveThread(); }
    void attach() { PyEval_RestoreThread(saved_); }
    int poll();

private:
    PyThreadState *saved_ = nullptr;
};

PyObject *ok_session_detached_poll(Session *s)
{
    s->detach();
    int n = s->poll();
    s->attach();
    return PyLong_FromLong(n);
}

PyObject *bad_session_early_return(Session *s)
{
    s->detach();
    int n = s->poll();
    if (n < 0)
        return nullptr;                         // expect-error{{not restored}} [allow-threads-leak]
    s->attach();
    return PyLong_FromLong(n);
}

PyObject *bad_session_python_while_detached(Session &s)
{
    s.detach();
    PyObject *r = PyLong_FromLong(s.poll());    // expect-error{{needs the GIL}} [api-without-gil]
    s.attach();
    return r;
}

// A member guard: the holder's constructor builds it in place, and its destructor runs the member's.
struct Worker {
    Worker() : nogil_() {}
    Unlocked nogil_;
};
