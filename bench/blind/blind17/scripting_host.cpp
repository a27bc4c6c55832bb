// scripting_host.cpp - cadhost: the scripting host of a CAD kernel.
//
// cadhost embeds CPython to run plugin scripts.  Three modes:
//   cadhost --job SCRIPT      run one batch script and exit
//   cadhost --check SCRIPT    lint one script and exit
//   cadhost PLUGIN...         session: load plugins, tessellate the scene on worker threads
// Every mode initializes Python, does its work and calls shutdown_python()
// (Py_FinalizeEx) before main() returns.  Errors are reported with
// report_error(), never PyErr_Print(), so a plugin raising SystemExit cannot
// exit the process from inside the interpreter.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace cadhost {

static std::atomic<long> g_scripts_run{0};
static std::atomic<long> g_scripts_failed{0};
static char g_lock_path[4096];

// Owning reference, for use between init_python() and shutdown_python().
class PyRef {
public:
    explicit PyRef(PyObject *steal = nullptr) : p_(steal) {}
    PyRef(const PyRef &) = delete;
    PyRef &operator=(const PyRef &) = delete;
    ~PyRef() { Py_XDECREF(p_); }
    PyObject *get() const { return p_; }
    explicit operator bool() const { return p_ != nullptr; }

private:
    PyObject *p_;
};

static void report_error(const char *context)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *text = value ? PyObject_Str(value) : nullptr;
    const char *msg = text ? PyUnicode_AsUTF8(text) : nullptr;
    std::fprintf(stderr, "cadhost: %s: %s\n", context, msg ? msg : "unknown error");
    if (msg == nullptr)
        PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* ------------------------------------------------------------------ long-lived objects */

// Loaded plugin modules by name.
class PluginRegistry {
public:
    ~PluginRegistry();
    int add(const char *name, PyObject *module);
    PyObject *find(const char *name) const;

private:
    PyObject *modules_ = nullptr; /* dict */
};

// Interned attribute and key names.
class InternTable {
public:
    ~InternTable();
    PyObject *get(const char *s);

private:
    std::unordered_map<std::string, PyObject *> map_;
};

// A module imported on first use, from any thread that holds the GIL.
class ModuleHandle {
public:
    explicit ModuleHandle(const char *name) : name_(name) {}
    ~ModuleHandle();
    PyObject *get();

private:
    const char *name_;
    PyObject *mod_ = nullptr;
};

// cadhost.settings.load(), cached.
class SettingsCache {
public:
    ~SettingsCache();
    PyObject *get();

private:
    PyObject *settings_ = nullptr;
};

// The plugins' on_save hook.
class HookTable {
public:
    ~HookTable();
    void set(PyObject *fn)
    {
        Py_XINCREF(fn);
        Py_XSETREF(fn_, fn);
    }
    void reset() { Py_CLEAR(fn_); }
    int fire(const char *path);

private:
    PyObject *fn_ = nullptr;
};

// Per-worker scratch buffer handed to cadhost.geometry.record().
struct ThreadScratch {
    PyObject *buf = nullptr;
    ~ThreadScratch();
};

// Per-worker last result, kept for the next job's incremental update.
struct WorkerCache {
    PyObject *last_result = nullptr;
    ~WorkerCache();
};

static PluginRegistry g_plugins;
static ModuleHandle g_geometry("cadhost.geometry");
static SettingsCache g_settings;
static HookTable g_on_save;
static thread_local ThreadScratch t_scratch;
static thread_local WorkerCache t_cache;

static InternTable &interned()
{
    static InternTable table;
    return table;
}

// BAD: finalize-without-gil,api-without-gil g_plugins has static storage duration, so this Py_XDECREF runs after main() has returned from Py_FinalizeEx
PluginRegistry::~PluginRegistry()
{
    if (modules_ == nullptr)
        return;
    PyObject *tmp = modules_;
    modules_ = nullptr;
    Py_DECREF(tmp);
}

int PluginRegistry::add(const char *name, PyObject *module)
{
    PyObject *key = interned().get(name);
    if (key == nullptr)
        return -1;
    if (modules_ == nullptr && (modules_ = PyDict_New()) == nullptr)
        return -1;
    return PyDict_SetItem(modules_, key, module);
}

PyObject *PluginRegistry::find(const char *name) const
{
    return modules_ ? PyDict_GetItemString(modules_, name) : nullptr;
}

// BAD: finalize-without-gil,api-without-gil the function-local static in interned() is destroyed at exit, after Py_FinalizeEx, and drops every interned string
InternTable::~InternTable()
{
    for (auto &entry : map_)
        Py_DECREF(entry.second);
    map_.clear();
}

PyObject *InternTable::get(const char *s)
{
    auto it = map_.find(s);
    if (it != map_.end())
        return it->second;
    PyObject *str = PyUnicode_InternFromString(s);
    if (str == nullptr)
        return nullptr;
    map_.emplace(s, str);
    return str;
}

// BAD: finalize-without-gil,api-without-gil takes the GIL with PyGILState_Ensure, but as a static it runs after Py_FinalizeEx, when there is no interpreter left to attach to
ModuleHandle::~ModuleHandle()
{
    if (mod_ == nullptr)
        return;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_CLEAR(mod_);
    PyGILState_Release(st);
}

PyObject *ModuleHandle::get()
{
    if (mod_ == nullptr)
        mod_ = PyImport_ImportModule(name_);
    return mod_;
}

// OK: does nothing once Py_FinalizeEx has run (Py_IsInitialized() needs no GIL), and takes the GIL itself if the interpreter is still up
SettingsCache::~SettingsCache()
{
    if (settings_ == nullptr || !Py_IsInitialized())
        return;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_CLEAR(settings_);
    PyGILState_Release(st);
}

PyObject *SettingsCache::get()
{
    if (settings_ == nullptr) {
        PyRef mod(PyImport_ImportModule("cadhost.settings"));
        if (!mod)
            return nullptr;
        settings_ = PyObject_CallMethod(mod.get(), "load", nullptr);
    }
    return settings_;
}

// OK: shutdown_python() resets g_on_save with the GIL held before every Py_FinalizeEx, so at exit fn_ is always NULL and nothing is touched
HookTable::~HookTable()
{
    if (fn_ != nullptr) {
        PyObject *tmp = fn_;
        fn_ = nullptr;
        Py_DECREF(tmp);
    }
}

int HookTable::fire(const char *path)
{
    if (fn_ == nullptr)
        return 0;
    PyObject *res = PyObject_CallFunction(fn_, "s", path);
    if (res == nullptr)
        return -1;
    Py_DECREF(res);
    return 0;
}

// BAD: api-without-gil,thread-entry-without-gil a thread_local destructor runs at worker-thread exit, after the worker's last PyGILState_Release, and drops the bytearray without the GIL
ThreadScratch::~ThreadScratch()
{
    if (buf != nullptr) {
        Py_DECREF(buf);
        buf = nullptr;
    }
}

// OK: runs at worker-thread exit, before main() joins the worker and finalizes; it checks the interpreter and takes the GIL itself
WorkerCache::~WorkerCache()
{
    if (last_result == nullptr || !Py_IsInitialized())
        return;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_CLEAR(last_result);
    PyGILState_Release(st);
}

/* ------------------------------------------------------------------ interpreter lifetime */

static int init_python()
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.parse_argv = 0;
    config.install_signal_handlers = 1;
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, "cadhost");
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        std::fprintf(stderr, "cadhost: cannot start Python: %s\n",
                     status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    return 0;
}

// The only place that finalizes; called with the GIL held.
static void shutdown_python()
{
    g_on_save.reset();
    if (Py_FinalizeEx() < 0)
        std::fprintf(stderr, "cadhost: errors while shutting Python down\n");
}

// BAD: finalize-without-gil,api-without-gil registered with std::atexit after Python started: it runs after main() returns, when Py_FinalizeEx has already run
static void print_session_summary()
{
    long run = g_scripts_run.load();
    long failed = g_scripts_failed.load();
    if (run == 0 && failed == 0)
        return;
    PySys_WriteStdout("cadhost: %ld plugin jobs run, %ld failed\n", run, failed);
    if (failed != 0)
        PySys_WriteStderr("cadhost: see the session log for the failing plugins\n");
}

// OK: registered with std::atexit; only stdio and unlink, plus Py_IsInitialized(), which may be called without the GIL at any time
static void remove_lock_file()
{
    if (g_lock_path[0] == '\0')
        return;
    if (Py_IsInitialized())
        std::fprintf(stderr, "cadhost: exiting while the interpreter is still running\n");
    if (unlink(g_lock_path) != 0 && errno != ENOENT)
        std::perror("cadhost: cannot remove lock file");
    g_lock_path[0] = '\0';
}

static int create_lock_file()
{
    const char *dir = std::getenv("XDG_RUNTIME_DIR");
    std::snprintf(g_lock_path, sizeof g_lock_path, "%s/cadhost.lock", dir ? dir : "/tmp");
    int fd = open(g_lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::perror(g_lock_path);
        g_lock_path[0] = '\0';
        return -1;
    }
    char pid[32];
    int n = std::snprintf(pid, sizeof pid, "%ld\n", static_cast<long>(getpid()));
    if (write(fd, pid, static_cast<size_t>(n)) != n)
        std::perror("cadhost: lock file");
    close(fd);
    return 0;
}

/* ------------------------------------------------------------------ modes */

// BAD: finalize-without-gil,api-without-gil `batch` and `result` live in the function's outermost scope, so their Py_XDECREF runs at return, after shutdown_python() finalized
static int run_job(const char *script_path)
{
    if (init_python() < 0)
        return 2;
    PyRef batch(PyImport_ImportModule("cadhost.batch"));
    if (!batch) {
        report_error("cadhost.batch");
        shutdown_python();
        return 1;
    }
    PyRef result(PyObject_CallMethod(batch.get(), "run_file", "s", script_path));
    int rc = 0;
    if (!result) {
        report_error(script_path);
        rc = 1;
    } else if (PyLong_Check(result.get())) {
        rc = static_cast<int>(PyLong_AsLong(result.get()));
        if (rc == -1 && PyErr_Occurred())
            report_error("exit status");
    }
    shutdown_python();
    return rc;
}

// OK: every PyRef lives in an inner block that is left (normally or by goto) before shutdown_python(), so each Py_XDECREF runs with the GIL
static int check_script(const char *script_path)
{
    if (init_python() < 0)
        return 2;
    int rc = 1;
    {
        PyRef checker(PyImport_ImportModule("cadhost.lint"));
        if (!checker) {
            report_error("cadhost.lint");
            goto done;
        }
        PyRef report(PyObject_CallMethod(checker.get(), "check_file", "s", script_path));
        if (!report) {
            report_error(script_path);
            goto done;
        }
        int clean = PyObject_IsTrue(report.get());
        if (clean < 0)
            report_error("lint report");
        rc = clean == 1 ? 0 : 1;
    }
done:
    shutdown_python();
    return rc;
}

struct Job {
    std::string name;
    std::vector<double> verts; /* x, y pairs of a closed outline */
};

class JobQueue {
public:
    void push(Job job)
    {
        std::lock_guard<std::mutex> lock(mu_);
        jobs_.push_back(std::move(job));
    }
    bool pop(Job &out)
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (jobs_.empty())
            return false;
        out = std::move(jobs_.front());
        jobs_.pop_front();
        return true;
    }

private:
    std::mutex mu_;
    std::deque<Job> jobs_;
};

static double tessellate(const Job &job)
{
    double area = 0.0;
    size_t n = job.verts.size() / 2;
    for (size_t i = 0; i < n; i++) {
        size_t j = (i + 1) % n;
        area += job.verts[2 * i] * job.verts[2 * j + 1] - job.verts[2 * j] * job.verts[2 * i + 1];
    }
    return area < 0 ? -area / 2 : area / 2;
}

static void mesh_worker(JobQueue *queue)
{
    Job job;
    while (queue->pop(job)) {
        double area = tessellate(job);
        PyGILState_STATE st = PyGILState_Ensure();
        if (t_scratch.buf == nullptr)
            t_scratch.buf = PyByteArray_FromStringAndSize(nullptr, 0);
        PyObject *geometry = g_geometry.get();
        PyObject *res = nullptr;
        if (geometry != nullptr && t_scratch.buf != nullptr)
            res = PyObject_CallMethod(geometry, "record", "sdO", job.name.c_str(), area, t_scratch.buf);
        if (res == nullptr) {
            report_error(job.name.c_str());
            g_scripts_failed++;
        }
        Py_XSETREF(t_cache.last_result, res);
        g_scripts_run++;
        PyGILState_Release(st);
    }
}

static int load_plugin(const char *name)
{
    PyRef mod(PyImport_ImportModule(name));
    if (!mod)
        return -1;
    if (g_plugins.add(name, mod.get()) < 0)
        return -1;
    PyRef hook(PyObject_GetAttrString(mod.get(), "on_save"));
    if (hook)
        g_on_save.set(hook.get());
    else
        PyErr_Clear();
    PyObject *settings = g_settings.get();
    if (settings == nullptr)
        return -1;
    PyRef res(PyObject_CallMethod(mod.get(), "configure", "O", settings));
    return res ? 0 : -1;
}

static int collect_jobs(JobQueue *queue)
{
    PyRef scene(PyImport_ImportModule("cadhost.scene"));
    if (!scene)
        return -1;
    PyRef pending(PyObject_CallMethod(scene.get(), "pending_outlines", nullptr));
    if (!pending)
        return -1;
    PyRef seq(PySequence_Fast(pending.get(), "pending_outlines() must return a sequence"));
    if (!seq)
        return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq.get()); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq.get(), i);
        const char *name;
        PyObject *coords;
        if (!PyArg_ParseTuple(item, "sO", &name, &coords))
            return -1;
        Job job;
        job.name = name;
        PyRef cs(PySequence_Fast(coords, "coordinates must be a sequence"));
        if (!cs)
            return -1;
        for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(cs.get()); k++) {
            double v = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(cs.get(), k));
            if (v == -1.0 && PyErr_Occurred())
                return -1;
            job.verts.push_back(v);
        }
        queue->push(std::move(job));
    }
    return 0;
}

static int run_session(int argc, char **argv)
{
    if (init_python() < 0)
        return 2;
    std::atexit(print_session_summary);
    for (int i = 1; i < argc; i++) {
        if (load_plugin(argv[i]) < 0) {
            report_error(argv[i]);
            g_scripts_failed++;
        }
    }
    JobQueue queue;
    if (collect_jobs(&queue) < 0)
        report_error("scene");
    unsigned nworkers = std::thread::hardware_concurrency();
    if (nworkers == 0 || nworkers > 8)
        nworkers = 4;

    PyThreadState *ts = PyEval_SaveThread();
    {
        std::vector<std::thread> workers;
        for (unsigned i = 0; i < nworkers; i++)
            workers.emplace_back(mesh_worker, &queue);
        for (std::thread &t : workers)
            t.join();
    }
    PyEval_RestoreThread(ts);

    if (g_on_save.fire("scene.cad") < 0)
        report_error("on_save hook");
    shutdown_python();
    return g_scripts_failed.load() != 0 ? 1 : 0;
}

} // namespace cadhost

int main(int argc, char **argv)
{
    using namespace cadhost;
    if (argc < 2) {
        std::fprintf(stderr, "usage: cadhost --job SCRIPT | --check SCRIPT | PLUGIN...\n");
        return 2;
    }
    if (create_lock_file() == 0)
        std::atexit(remove_lock_file);
    if (std::strcmp(argv[1], "--job") == 0 && argc == 3)
        return run_job(argv[2]);
    if (std::strcmp(argv[1], "--check") == 0 && argc == 3)
        return check_script(argv[2]);
    return run_session(argc, argv);
}
