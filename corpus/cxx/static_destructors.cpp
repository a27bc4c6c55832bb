// Destructors the C++ runtime runs on its own: those of objects with static storage duration at process exit,
// after Py_FinalizeEx() (Python's own main and this embedding program finalize before the statics are
// destroyed); those of thread_local objects when a thread exits, after its last release of the GIL; and those of
// a function's objects where their scope ends, after a Py_FinalizeEx() in the same scope.
#include <Python.h>
#include <thread>

class Ref {
public:
    explicit Ref(PyObject *p = nullptr) : p_(p) {}
    ~Ref();
    PyObject *get() const { return p_; }
private:
    PyObject *p_;
};

// Used by the objects below: a static one, a thread_local one, and a function's own.
Ref::~Ref()
{
    Py_XDECREF(p_);   // expect-error{{Py_XDECREF() needs the interpreter, but '~Ref' runs after the interpreter is finalized (it destroys 'g_config' (static_destructors.cpp:53), which has static storage duration}} [finalize-without-gil]
}

class Registry {
public:
    ~Registry();
    PyObject *modules = nullptr;
};

// Takes the GIL, which cannot work after finalization.
Registry::~Registry()
{
    PyGILState_STATE st = PyGILState_Ensure();   // expect-error{{PyGILState_Ensure() cannot take the GIL, but '~Registry' runs after the interpreter is finalized (it destroys 'table' (static_destructors.cpp:65)}} [finalize-without-gil]
    Py_CLEAR(modules);
    PyGILState_Release(st);
}

class Cache {
public:
    ~Cache();
    PyObject *last = nullptr;
};

// Checks the interpreter first and takes the GIL: quiet.
Cache::~Cache()
{
    if (last == nullptr || !Py_IsInitialized())
        return;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_CLEAR(last);
    PyGILState_Release(st);
}

static Ref g_config;
static Cache g_cache;

class Scratch {
public:
    ~Scratch() { Py_XDECREF(buf); }   // expect-error{{'~Scratch' runs on a thread without it (it destroys the thread_local 't_scratch' (static_destructors.cpp:61) when a thread that used it exits}} [thread-entry-without-gil]
    PyObject *buf = nullptr;
};
static thread_local Scratch t_scratch;

static Registry &registry()
{
    static Registry table;   // expect-error{{'table' is a function-local static: its destructor ~Registry() runs at process exit, after the interpreter is finalized}} [finalize-without-gil]
    return table;
}

static int run(const char *code)
{
    Ref result(PyRun_String(code, Py_file_input, PyEval_GetGlobals(), nullptr));
    int rc = result.get() == nullptr ? 1 : 0;
    Py_FinalizeEx();
    return rc;   // expect-error{{~Ref() (cleanup of 'result') (summary: it calls Py_XDECREF()) needs the interpreter, which is finalized on this path}} [finalize-without-gil]
}

static int ok_run(const char *code)
{
    int rc;
    {
        Ref result(PyRun_String(code, Py_file_input, PyEval_GetGlobals(), nullptr));
        rc = result.get() == nullptr ? 1 : 0;
    }   // destroyed here, with the GIL
    Py_FinalizeEx();
    return rc;
}

int main(int argc, char **argv)
{
    Py_Initialize();
    registry().modules = PyDict_New();
    g_cache.last = PyLong_FromLong(argc);
    std::thread worker([] {
        PyGILState_STATE st = PyGILState_Ensure();
        t_scratch.buf = PyByteArray_FromStringAndSize(nullptr, 64);
        PyGILState_Release(st);
    });
    PyThreadState *ts = PyEval_SaveThread();
    worker.join();
    PyEval_RestoreThread(ts);
    return argc > 1 ? run(argv[1]) : ok_run("pass");
}
