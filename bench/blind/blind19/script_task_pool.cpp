/*
 * script_task_pool.cpp -- plugin host with a C++ thread pool that runs
 * Python plugin tasks.  main() owns the interpreter: Py_InitializeEx(0) at
 * start-up, Py_FinalizeEx() at the very end of main().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

class GilGuard {
public:
    GilGuard() : state_(PyGILState_Ensure()) {}
    ~GilGuard() { PyGILState_Release(state_); }
    GilGuard(const GilGuard &) = delete;
    GilGuard &operator=(const GilGuard &) = delete;

private:
    PyGILState_STATE state_;
};

class GilRelease {
public:
    GilRelease() : save_(PyEval_SaveThread()) {}
    ~GilRelease() { PyEval_RestoreThread(save_); }
    GilRelease(const GilRelease &) = delete;
    GilRelease &operator=(const GilRelease &) = delete;

private:
    PyThreadState *save_;
};

struct PyDecRef {
    void operator()(PyObject *o) const noexcept { Py_XDECREF(o); }
};
using PyPtr = std::unique_ptr<PyObject, PyDecRef>;

/* Requires the GIL.  Throws std::runtime_error if `o` is not a str. */
std::string py_str(PyObject *o)
{
    if (!PyUnicode_Check(o))
        throw std::runtime_error("task result is not a str");
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(o, &n);
    if (s == nullptr) {
        PyErr_Clear();
        throw std::runtime_error("cannot encode task result");
    }
    return std::string(s, static_cast<std::size_t>(n));
}

struct SceneData {
    std::size_t nodes = 0;
    std::size_t edges = 0;
};

/* Pure C++: parses a scene file; throws std::runtime_error on bad input. */
SceneData parse_scene_file(const std::string &path)
{
    if (path.empty())
        throw std::runtime_error("empty scene path");
    SceneData d;
    d.nodes = path.size();
    d.edges = path.size() / 2;
    return d;
}

} // namespace

/* Pool whose tasks take the GIL themselves (GilGuard inside the task). */
class TaskPool {
public:
    using Task = std::function<void()>;

    void start(unsigned n)
    {
        for (unsigned i = 0; i < n; ++i)
            threads_.emplace_back([this] { run(); });
    }

    void submit(Task t)
    {
        {
            std::lock_guard<std::mutex> lk(mu_);
            q_.push_back(std::move(t));
        }
        cv_.notify_one();
    }

    /* Blocking: callers must not hold the GIL. */
    void stop_and_join()
    {
        {
            std::lock_guard<std::mutex> lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        for (auto &t : threads_)
            t.join();
        threads_.clear();
    }

private:
    void run()
    {
        for (;;) {
            Task t;
            {
                std::unique_lock<std::mutex> lk(mu_);
                cv_.wait(lk, [this] { return stopping_ || !q_.empty(); });
                if (q_.empty())
                    return;
                t = std::move(q_.front());
                q_.pop_front();
            }
            t();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Task> q_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

// BAD: finalize-without-gil Py_FinalizeEx runs while pool threads (which take the GIL per task) are still alive; they are joined only afterwards
int bad_host_exit(TaskPool &pool)
{
    /* main thread, GIL held */
    PyRun_SimpleString("import plugin_host\nplugin_host.shutdown()\n");
    int rc = Py_FinalizeEx();
    pool.stop_and_join();
    return rc < 0 ? 120 : 0;
}

// OK: drains and joins the pool inside a GilRelease scope, then finalizes with the GIL held
int ok_host_exit(TaskPool &pool)
{
    /* main thread, GIL held */
    {
        GilRelease nogil;
        pool.stop_and_join();
    }
    PyRun_SimpleString("import plugin_host\nplugin_host.shutdown()\n");
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// BAD: finalize-without-gil,api-without-gil std::atexit lambda runs after main() has called Py_FinalizeEx and still takes the GIL and calls Python
void bad_register_exit_flush(PyObject *journal)
{
    /* GIL held */
    static PyObject *s_journal = nullptr;
    Py_INCREF(journal);
    Py_XSETREF(s_journal, journal);
    std::atexit([] {
        GilGuard gil;
        PyPtr r(PyObject_CallMethod(s_journal, "flush", nullptr));
        if (!r)
            PyErr_Print();
        Py_CLEAR(s_journal);
    });
}

// BAD: ensure-leak py_str()/std::stod can throw between the manual PyGILState_Ensure and PyGILState_Release
double bad_run_task_manual(PyObject *task, const std::string &arg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyPtr r(PyObject_CallFunction(task, "s", arg.c_str()));
    if (!r) {
        PyErr_Print();
        PyGILState_Release(st);
        return 0.0;
    }
    std::string text = py_str(r.get()); // throws for non-str results
    double v = std::stod(text);         // throws std::invalid_argument
    r.reset();
    PyGILState_Release(st);
    return v;
}

// OK: GilGuard releases on every exit including exceptions; PyPtr is declared after the guard so it is destroyed first
double ok_run_task_guard(PyObject *task, const std::string &arg)
{
    GilGuard gil;
    PyPtr r(PyObject_CallFunction(task, "s", arg.c_str()));
    if (!r) {
        PyErr_Print();
        return 0.0;
    }
    return std::stod(py_str(r.get()));
}

// OK: manual Ensure with try/catch(...) that releases before rethrowing; the PyPtr dies inside the try with the GIL held
double ok_run_task_catch_rethrow(PyObject *task, const std::string &arg)
{
    PyGILState_STATE st = PyGILState_Ensure();
    double v = 0.0;
    try {
        PyPtr r(PyObject_CallFunction(task, "s", arg.c_str()));
        if (r)
            v = std::stod(py_str(r.get()));
        else
            PyErr_Print();
    } catch (...) {
        PyGILState_Release(st);
        throw;
    }
    PyGILState_Release(st);
    return v;
}

// BAD: api-without-gil catch handler inside the GilRelease scope raises a Python exception while the GIL is released
PyObject *bad_load_scene(PyObject *, PyObject *args)
{
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path))
        return nullptr;
    std::string p(path);
    SceneData scene;
    {
        GilRelease nogil;
        try {
            scene = parse_scene_file(p);
        } catch (const std::exception &e) {
            PyErr_SetString(PyExc_ValueError, e.what());
            return nullptr;
        }
    }
    return Py_BuildValue("(nn)", static_cast<Py_ssize_t>(scene.nodes), static_cast<Py_ssize_t>(scene.edges));
}

// OK: GilRelease lives inside the try block, so it is destroyed during unwinding and the catch handler runs with the GIL
PyObject *ok_load_scene(PyObject *, PyObject *args)
{
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path))
        return nullptr;
    std::string p(path);
    SceneData scene;
    try {
        GilRelease nogil;
        scene = parse_scene_file(p);
    } catch (const std::exception &e) {
        PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    }
    return Py_BuildValue("(nn)", static_cast<Py_ssize_t>(scene.nodes), static_cast<Py_ssize_t>(scene.edges));
}

// OK: std::optional<GilGuard> is engaged only when this thread does not already hold the GIL; PyPtr dies before the guard
void ok_log_to_python(PyObject *logger, const std::string &msg)
{
    std::optional<GilGuard> gil;
    if (!PyGILState_Check())
        gil.emplace();
    PyPtr r(PyObject_CallMethod(logger, "info", "s", msg.c_str()));
    if (!r)
        PyErr_Clear();
}
