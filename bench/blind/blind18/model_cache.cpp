// Model cache for an inference server that embeds Python for pre/post
// processing hooks (C++17).
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// Owning reference; destructor drops the reference (needs the GIL).
class PyRef {
public:
    PyRef() = default;
    explicit PyRef(PyObject *o) : o_(o) {}
    PyRef(PyRef &&other) noexcept : o_(other.o_) { other.o_ = nullptr; }
    PyRef &operator=(PyRef &&other) noexcept { std::swap(o_, other.o_); return *this; }
    PyRef(const PyRef &) = delete;
    ~PyRef() { Py_XDECREF(o_); }
    PyObject *get() const { return o_; }
    PyObject *release() { PyObject *o = o_; o_ = nullptr; return o; }
private:
    PyObject *o_ = nullptr;
};

struct InferenceJob {
    std::string model;
    std::vector<float> input;
    PyRef postprocess;      // Python callable
};

// Deleter that takes the GIL before dropping the Python reference.
struct GilDecref {
    void operator()(PyObject *o) const {
        if (o == nullptr)
            return;
        PyGILState_STATE st = PyGILState_Ensure();
        Py_DECREF(o);
        PyGILState_Release(st);
    }
};
using SharedPy = std::unique_ptr<PyObject, GilDecref>;

std::vector<float> run_model(const std::string &model, const std::vector<float> &in);

// BAD: api-without-gil  the InferenceJob (and its PyRef member, whose destructor calls Py_XDECREF) is destroyed on the worker thread without the GIL
static void bad_inference_worker(InferenceJob *raw)
{
    std::unique_ptr<InferenceJob> job(raw);
    std::vector<float> out = run_model(job->model, job->input);
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *lst = PyList_New((Py_ssize_t)out.size());
    for (size_t i = 0; lst && i < out.size(); i++)
        PyList_SET_ITEM(lst, (Py_ssize_t)i, PyFloat_FromDouble(out[i]));
    PyObject *r = lst ? PyObject_CallOneArg(job->postprocess.get(), lst) : nullptr;
    if (r == nullptr)
        PyErr_WriteUnraisable(job->postprocess.get());
    Py_XDECREF(r);
    Py_XDECREF(lst);
    PyGILState_Release(st);
}   // job destroyed here, after the GIL was released

// OK: the job (with its PyRef member) is reset while the GIL is still held, before PyGILState_Release
static void ok_inference_worker(InferenceJob *raw)
{
    std::unique_ptr<InferenceJob> job(raw);
    std::vector<float> out = run_model(job->model, job->input);
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *lst = PyList_New((Py_ssize_t)out.size());
    for (size_t i = 0; lst && i < out.size(); i++)
        PyList_SET_ITEM(lst, (Py_ssize_t)i, PyFloat_FromDouble(out[i]));
    PyObject *r = lst ? PyObject_CallOneArg(job->postprocess.get(), lst) : nullptr;
    if (r == nullptr)
        PyErr_WriteUnraisable(job->postprocess.get());
    Py_XDECREF(r);
    Py_XDECREF(lst);
    job.reset();
    PyGILState_Release(st);
}

static PyObject *submit(PyObject *, PyObject *args)
{
    const char *model;
    PyObject *cb;
    int careful = 1;
    if (!PyArg_ParseTuple(args, "sO|p", &model, &cb, &careful))
        return nullptr;
    auto job = std::make_unique<InferenceJob>();
    job->model = model;
    job->input.assign(1024, 0.0f);
    job->postprocess = PyRef(Py_NewRef(cb));
    if (careful)
        std::thread(ok_inference_worker, job.release()).detach();
    else
        std::thread(bad_inference_worker, job.release()).detach();
    Py_RETURN_NONE;
}

// BAD: finalize-without-gil  function-local static PyRef is destroyed by the C++ runtime at exit, after Py_Finalize, calling Py_XDECREF
static PyObject *bad_default_tokenizer(PyObject *, PyObject *)
{
    PyRef re(PyImport_ImportModule("re"));
    if (re.get() == nullptr)
        return nullptr;
    static PyRef tokenizer(PyObject_CallMethod(re.get(), "compile", "s", "\\w+|[^\\w\\s]"));
    if (tokenizer.get() == nullptr)
        return nullptr;
    return Py_NewRef(tokenizer.get());
}

// OK: the function-local static is a heap object that is intentionally never destroyed, so nothing runs at exit
static PyObject *ok_default_vocab(PyObject *, PyObject *)
{
    static PyRef *vocab = new PyRef(PyDict_New());
    if (vocab->get() == nullptr)
        return nullptr;
    return Py_NewRef(vocab->get());
}

struct StatsReporter {
    std::map<std::string, long> counts;
    PyObject *sink = nullptr;
};
static StatsReporter g_stats;          // flushed by the Python atexit hook
static StatsReporter g_native_stats;   // flushed by the C++ runtime at exit

// BAD: finalize-without-gil  std::atexit handler runs after main has called Py_FinalizeEx and still calls into Python
static void bad_flush_stats_at_exit()
{
    if (g_native_stats.sink == nullptr)
        return;
    PyGILState_STATE st = PyGILState_Ensure();
    for (const auto &kv : g_native_stats.counts) {
        PyObject *r = PyObject_CallFunction(g_native_stats.sink, "sl", kv.first.c_str(), kv.second);
        Py_XDECREF(r);
    }
    PyGILState_Release(st);
}

// OK: the flush runs from a Python-level atexit callback, i.e. before finalization and with the GIL held
static PyObject *ok_flush_stats_py_atexit(PyObject *, PyObject *)
{
    if (g_stats.sink != nullptr) {
        for (const auto &kv : g_stats.counts) {
            PyObject *r = PyObject_CallFunction(g_stats.sink, "sl", kv.first.c_str(), kv.second);
            if (r == nullptr)
                return nullptr;
            Py_DECREF(r);
        }
        Py_CLEAR(g_stats.sink);
    }
    g_stats.counts.clear();
    Py_RETURN_NONE;
}

static PyMethodDef flush_def = {"_flush_stats", ok_flush_stats_py_atexit, METH_NOARGS, nullptr};

int install_native_exit_hook(PyObject *sink)
{
    g_native_stats.sink = Py_NewRef(sink);
    return std::atexit(bad_flush_stats_at_exit);
}

int install_py_exit_hook(PyObject *sink)
{
    g_stats.sink = Py_NewRef(sink);
    PyObject *fn = PyCFunction_New(&flush_def, nullptr);
    PyObject *atexit_mod = PyImport_ImportModule("atexit");
    PyObject *r = (fn && atexit_mod) ? PyObject_CallMethod(atexit_mod, "register", "O", fn) : nullptr;
    Py_XDECREF(atexit_mod);
    Py_XDECREF(fn);
    if (r == nullptr)
        return -1;
    Py_DECREF(r);
    return 0;
}

// OK: the shared callable is owned by a unique_ptr whose deleter takes the GIL, so dropping it on a worker thread is safe
static void ok_shared_hook_worker(SharedPy hook, std::vector<float> data)
{
    double sum = 0;
    for (float v : data)
        sum += v;
    {
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *r = PyObject_CallFunction(hook.get(), "d", sum);
        if (r == nullptr)
            PyErr_WriteUnraisable(hook.get());
        Py_XDECREF(r);
        PyGILState_Release(st);
    }
}   // hook's GilDecref deleter ensures the GIL itself

static PyObject *submit_hook(PyObject *, PyObject *cb)
{
    SharedPy hook(Py_NewRef(cb));
    std::thread(ok_shared_hook_worker, std::move(hook), std::vector<float>(64, 1.0f)).detach();
    Py_RETURN_NONE;
}

static PyMethodDef cache_methods[] = {
    {"submit", submit, METH_VARARGS, nullptr},
    {"submit_hook", submit_hook, METH_O, nullptr},
    {"default_tokenizer", bad_default_tokenizer, METH_NOARGS, nullptr},
    {"default_vocab", ok_default_vocab, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}
};
static PyModuleDef cache_module = {PyModuleDef_HEAD_INIT, "_modelcache", nullptr, -1, cache_methods};
PyMODINIT_FUNC PyInit__modelcache(void) { return PyModule_Create(&cache_module); }
