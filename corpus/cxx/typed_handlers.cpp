// gilcheck-args: -std=c++17
// A handler catches an exception by its type or a base class of it: what no handler around a throw (or around a
// call that throws) catches leaves the function, past the handler that gives the GIL back.
#include <Python.h>
#include <cerrno>
#include <stdexcept>
#include <system_error>

struct codec_error : std::runtime_error {
    explicit codec_error(const char *w) : std::runtime_error(w) {}
};
struct truncated : codec_error {
    truncated() : codec_error("truncated") {}
};

[[noreturn]] static void fail(const char *what) { throw codec_error(what); }
[[noreturn]] static void fail_errno(const char *what) { throw std::system_error(errno, std::generic_category(), what); }
static void check_length(long n) { if (n < 0) throw truncated(); }
extern long read_chunk(int fd);

// The handler only catches codec_error; fail_errno() throws std::system_error.
long bad_system_error_passes_codec_handler(int fd)
{
    PyThreadState *ts = PyEval_SaveThread();
    long n = 0;
    try {
        n = read_chunk(fd);
        if (n < 0)
            fail_errno("read");                     // expect-error{{not restored when fail_errno() throws}} [allow-threads-leak]
    } catch (const codec_error &) {
        PyEval_RestoreThread(ts);
        throw;
    }
    PyEval_RestoreThread(ts);
    return n;
}

// The same throw caught by a handler of a base class: std::exception catches std::system_error.
long ok_base_class_handler(int fd)
{
    PyThreadState *ts = PyEval_SaveThread();
    long n = 0;
    try {
        n = read_chunk(fd);
        if (n < 0)
            fail_errno("read");
    } catch (const std::exception &) {
        PyEval_RestoreThread(ts);
        throw;
    }
    PyEval_RestoreThread(ts);
    return n;
}

// A derived class is caught by the handler of its base, two levels up.
long ok_derived_caught_by_base(long n)
{
    PyThreadState *ts = PyEval_SaveThread();
    try {
        check_length(n);
    } catch (codec_error &) {
        n = 0;
    }
    PyEval_RestoreThread(ts);
    return n;
}

// A throw statement of a type the handler does not catch.
void bad_throw_of_other_type(long n)
{
    PyGILState_STATE st = PyGILState_Ensure();
    try {
        if (n < 0)
            throw std::invalid_argument("n");       // expect-error{{is not released before this throw}} [ensure-leak]
        if (n == 0)
            fail("empty");
    } catch (const codec_error &) {
        PyGILState_Release(st);
        return;
    }
    PyGILState_Release(st);
}

// Handlers tried in order: the first that catches wins, and here each gives the GIL back.
void ok_handlers_in_order(long n)
{
    PyGILState_STATE st = PyGILState_Ensure();
    try {
        check_length(n);
        fail_errno("x");
    } catch (const truncated &) {
        PyGILState_Release(st);
        return;
    } catch (const std::system_error &) {
        PyGILState_Release(st);
        return;
    }
    PyGILState_Release(st);
}

// An inner try that does not catch it, and an outer one that does: the region is left open on the way.
long bad_outer_handler_leaves_region_open(int fd)
{
    long n = 0;
    try {
        PyThreadState *ts = PyEval_SaveThread();
        try {
            n = read_chunk(fd);
            if (n < 0)
                fail("bad chunk");
        } catch (const std::system_error &) {
            n = -1;
        }
        PyEval_RestoreThread(ts);
    } catch (const codec_error &) {
        return -2;                                   // expect-error{{not restored before this return}} [allow-threads-leak]
    }
    return n;
}

// catch (...) takes everything.
void ok_catch_all(long n)
{
    PyGILState_STATE st = PyGILState_Ensure();
    try {
        fail_errno("x");
    } catch (...) {
    }
    PyGILState_Release(st);
}
