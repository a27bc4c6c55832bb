// _mediakit.cpp -- C++17 extension of a camera / kiosk toolkit: TurboJPEG
// frame encoding, an I2C sensor, a recorder thread, listener registry and a
// font cache refreshed from a background std::thread.  Uses RAII guards
// in the style of pybind11's gil_scoped_acquire / gil_scoped_release.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <atomic>
#include <cerrno>
#include <list>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

extern "C" {
// ---- turbojpeg.h (subset) ----------------------------------------------
typedef void *tjhandle;
#define TJPF_RGB 0
#define TJSAMP_420 2
tjhandle tjInitCompress(void);
int tjCompress2(tjhandle handle, const unsigned char *srcBuf, int width, int pitch,
                int height, int pixelFormat, unsigned char **jpegBuf,
                unsigned long *jpegSize, int jpegSubsamp, int jpegQual, int flags);
char *tjGetErrorStr2(tjhandle handle);
void tjFree(unsigned char *buffer);
// ---- i2c/smbus.h (libi2c) -----------------------------------------------
int32_t i2c_smbus_read_word_data(int file, uint8_t command);
}

namespace {

class GilLock {           // like py::gil_scoped_acquire
public:
    GilLock() : st_(PyGILState_Ensure()) {}
    ~GilLock() { PyGILState_Release(st_); }
    GilLock(const GilLock &) = delete;
    GilLock &operator=(const GilLock &) = delete;
private:
    PyGILState_STATE st_;
};

class GilRelease {        // like py::gil_scoped_release
public:
    GilRelease() : ts_(PyEval_SaveThread()) {}
    ~GilRelease() { PyEval_RestoreThread(ts_); }
    GilRelease(const GilRelease &) = delete;
    GilRelease &operator=(const GilRelease &) = delete;
private:
    PyThreadState *ts_;
};

class PyRef {             // owning reference; destructor needs the GIL
public:
    explicit PyRef(PyObject *o = nullptr) : o_(o) {}
    PyRef(PyRef &&other) noexcept : o_(std::exchange(other.o_, nullptr)) {}
    PyRef &operator=(PyRef &&other) noexcept {
        std::swap(o_, other.o_);
        return *this;
    }
    ~PyRef() { Py_XDECREF(o_); }
    PyObject *get() const { return o_; }
private:
    PyObject *o_;
};

PyObject *MediaError = nullptr;

} // namespace

/* ===== static / finalization-time state ===== */

static PyObject *g_decimal_type = nullptr;
static PyObject *g_json_dumps = nullptr;

// BAD: finalize-without-gil called from the destructor of the namespace-scope TypeCacheOwner, which runs during exit() after Py_FinalizeEx, and DECREFs cached Python objects
static void bad_drop_cached_types()
{
    Py_XDECREF(g_decimal_type);
    Py_XDECREF(g_json_dumps);
    g_decimal_type = nullptr;
    g_json_dumps = nullptr;
}

struct TypeCacheOwner {
    ~TypeCacheOwner() { bad_drop_cached_types(); }
};
static TypeCacheOwner g_type_cache_owner;

struct mediakit_state {
    PyObject *frame_type;
    PyObject *on_error;
};

// OK: PyModuleDef.m_free runs while the interpreter tears down the module, with the GIL held, so Py_CLEAR is safe there
static void ok_module_free(void *module)
{
    auto *st = static_cast<mediakit_state *>(PyModule_GetState(static_cast<PyObject *>(module)));
    if (st == nullptr)
        return;
    Py_CLEAR(st->frame_type);
    Py_CLEAR(st->on_error);
}

/* ===== frame encoding ===== */

// BAD: api-without-gil TurboJPEG failure raises MediaError with PyErr_SetString while the GilRelease guard still has the GIL released
static PyObject *bad_encode_frame_scoped(PyObject *, PyObject *args)
{
    Py_buffer rgb;
    int width, height, quality = 85;
    if (!PyArg_ParseTuple(args, "y*ii|i", &rgb, &width, &height, &quality))
        return nullptr;
    unsigned char *jpeg = nullptr;
    unsigned long jpeg_size = 0;
    int rc;
    {
        GilRelease nogil;
        tjhandle tj = tjInitCompress();
        rc = tjCompress2(tj, static_cast<const unsigned char *>(rgb.buf), width, 0, height,
                         TJPF_RGB, &jpeg, &jpeg_size, TJSAMP_420, quality, 0);
        if (rc != 0)
            PyErr_SetString(MediaError, tjGetErrorStr2(tj));
    }
    PyBuffer_Release(&rgb);
    if (rc != 0)
        return nullptr;
    PyObject *out = PyBytes_FromStringAndSize(reinterpret_cast<char *>(jpeg),
                                              static_cast<Py_ssize_t>(jpeg_size));
    tjFree(jpeg);
    return out;
}

// OK: the error text is copied into a std::string inside the GilRelease scope and turned into an exception after the scope has reacquired the GIL
static PyObject *ok_encode_frame_scoped(PyObject *, PyObject *args)
{
    Py_buffer rgb;
    int width, height, quality = 85;
    if (!PyArg_ParseTuple(args, "y*ii|i", &rgb, &width, &height, &quality))
        return nullptr;
    unsigned char *jpeg = nullptr;
    unsigned long jpeg_size = 0;
    std::string err;
    {
        GilRelease nogil;
        tjhandle tj = tjInitCompress();
        if (tjCompress2(tj, static_cast<const unsigned char *>(rgb.buf), width, 0, height,
                        TJPF_RGB, &jpeg, &jpeg_size, TJSAMP_420, quality, 0) != 0)
            err = tjGetErrorStr2(tj);
    }
    PyBuffer_Release(&rgb);
    if (!err.empty()) {
        PyErr_SetString(MediaError, err.c_str());
        return nullptr;
    }
    PyObject *out = PyBytes_FromStringAndSize(reinterpret_cast<char *>(jpeg),
                                              static_cast<Py_ssize_t>(jpeg_size));
    tjFree(jpeg);
    return out;
}

/* ===== config lines applied from the watcher thread ===== */

static PyObject *g_settings = nullptr;   // types.SimpleNamespace

// BAD: ensure-leak called on the config-watcher std::thread; std::stol throws std::invalid_argument/out_of_range between PyGILState_Ensure and PyGILState_Release, so the state is never released
static void bad_apply_config_line(const std::string &line)
{
    auto eq = line.find('=');
    if (eq == std::string::npos)
        return;
    std::string key = line.substr(0, eq);
    PyGILState_STATE st = PyGILState_Ensure();
    long value = std::stol(line.substr(eq + 1));
    PyObject *v = PyLong_FromLong(value);
    if (v == nullptr || PyObject_SetAttrString(g_settings, key.c_str(), v) < 0)
        PyErr_Print();
    Py_XDECREF(v);
    PyGILState_Release(st);
}

// OK: same work under a GilLock RAII guard; a throwing std::stol unwinds through ~GilLock, which releases the state
static void ok_apply_config_line(const std::string &line)
{
    auto eq = line.find('=');
    if (eq == std::string::npos)
        return;
    std::string key = line.substr(0, eq);
    GilLock gil;
    long value = std::stol(line.substr(eq + 1));
    PyObject *v = PyLong_FromLong(value);
    if (v == nullptr || PyObject_SetAttrString(g_settings, key.c_str(), v) < 0)
        PyErr_Print();
    Py_XDECREF(v);
}

// Not scored: watcher loop on its own std::thread; swallows parse errors.
static void config_watch_loop(std::vector<std::string> lines, bool strict)
{
    for (const auto &l : lines) {
        try {
            if (strict)
                ok_apply_config_line(l);
            else
                bad_apply_config_line(l);
        }
        catch (const std::exception &) {
            // ignore malformed line
        }
    }
}

/* ===== recorder ===== */

struct Recorder {
    std::thread worker;
    std::atomic<bool> running{false};
    PyObject *sink = nullptr;     // callable(frame_no)

    void start() {
        running = true;
        worker = std::thread([this] {
            long n = 0;
            while (running.load()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(33));
                GilLock gil;
                PyObject *r = PyObject_CallFunction(sink, "l", n++);
                if (r == nullptr)
                    PyErr_Print();
                Py_XDECREF(r);
            }
        });
    }
};

static Recorder g_recorder;

// BAD: blocking-with-gil Recorder.stop() joins the std::thread with the GIL held while that thread takes the GIL (GilLock) every frame
static PyObject *bad_stop_worker_join(PyObject *, PyObject *)
{
    g_recorder.running = false;
    if (g_recorder.worker.joinable())
        g_recorder.worker.join();
    Py_RETURN_NONE;
}

// OK: the join happens inside a GilRelease scope; the sink reference is dropped after the GIL is back
static PyObject *ok_stop_worker_join(PyObject *, PyObject *)
{
    g_recorder.running = false;
    {
        GilRelease nogil;
        if (g_recorder.worker.joinable())
            g_recorder.worker.join();
    }
    Py_CLEAR(g_recorder.sink);
    Py_RETURN_NONE;
}

/* ===== listener registry ===== */

static std::mutex g_listeners_mu;
static std::list<PyRef> g_listeners;

// BAD: api-without-gil listeners.clear() runs the PyRef destructors (Py_XDECREF) inside the GilRelease scope
static PyObject *bad_clear_listeners_nogil(PyObject *, PyObject *)
{
    {
        GilRelease nogil;
        std::lock_guard<std::mutex> lk(g_listeners_mu);
        g_listeners.clear();
    }
    Py_RETURN_NONE;
}

// OK: the list is swapped out under the mutex with the GIL released; the PyRefs are destroyed at function exit, after the GilRelease scope reacquired the GIL
static PyObject *ok_clear_listeners(PyObject *, PyObject *)
{
    std::list<PyRef> doomed;
    {
        GilRelease nogil;
        std::lock_guard<std::mutex> lk(g_listeners_mu);
        doomed.swap(g_listeners);
    }
    PyObject *n = PyLong_FromSize_t(doomed.size());
    return n;          // ~doomed runs here, GIL held
}

/* ===== I2C sensor ===== */

static int g_i2c_fd = -1;

// BAD: api-without-gil the early return evaluates PyErr_SetFromErrno inside the GilRelease scope, before ~GilRelease restores the thread state
static PyObject *bad_read_sensor_return_in_scope(PyObject *, PyObject *arg)
{
    long reg = PyLong_AsLong(arg);
    if (reg == -1 && PyErr_Occurred())
        return nullptr;
    int fd = g_i2c_fd;
    int32_t raw;
    {
        GilRelease nogil;
        raw = i2c_smbus_read_word_data(fd, static_cast<uint8_t>(reg));
        if (raw < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(raw);
}

// OK: errno is saved inside the GilRelease scope; the exception is raised after the scope closed
static PyObject *ok_read_sensor(PyObject *, PyObject *arg)
{
    long reg = PyLong_AsLong(arg);
    if (reg == -1 && PyErr_Occurred())
        return nullptr;
    int fd = g_i2c_fd;
    int32_t raw;
    int saved_errno = 0;
    {
        GilRelease nogil;
        raw = i2c_smbus_read_word_data(fd, static_cast<uint8_t>(reg));
        if (raw < 0)
            saved_errno = errno;
    }
    if (raw < 0) {
        errno = saved_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(raw);
}

/* ===== font cache refreshed by a background thread ===== */

struct FontInfo {
    std::string path;
    int weight = 400;
};

static std::mutex g_font_cache_mu;
static std::unordered_map<std::string, FontInfo> g_font_cache;
static PyObject *g_font_provider = nullptr;   // callable() -> dict[str, (path, weight)]
static std::atomic<bool> g_font_refresh{true};

// Not scored: refresher std::thread holds g_font_cache_mu while it takes the GIL.
static void font_cache_refresher()
{
    while (g_font_refresh.load()) {
        {
            std::lock_guard<std::mutex> lk(g_font_cache_mu);
            GilLock gil;
            PyObject *d = PyObject_CallNoArgs(g_font_provider);
            if (d != nullptr && PyDict_Check(d)) {
                PyObject *k, *v;
                Py_ssize_t pos = 0;
                g_font_cache.clear();
                while (PyDict_Next(d, &pos, &k, &v)) {
                    const char *name = PyUnicode_AsUTF8(k);
                    const char *path = nullptr;
                    int weight = 400;
                    if (name && PyArg_ParseTuple(v, "si", &path, &weight))
                        g_font_cache[name] = FontInfo{path, weight};
                    else
                        PyErr_Clear();
                }
            }
            else {
                PyErr_Clear();
            }
            Py_XDECREF(d);
        }
        std::this_thread::sleep_for(std::chrono::seconds(30));
    }
}

// BAD: blocking-with-gil locks g_font_cache_mu with the GIL held, while font_cache_refresher holds that mutex and waits for the GIL (lock-order deadlock)
static PyObject *bad_cache_lookup(PyObject *, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == nullptr)
        return nullptr;
    std::lock_guard<std::mutex> lk(g_font_cache_mu);
    auto it = g_font_cache.find(name);
    if (it == g_font_cache.end())
        Py_RETURN_NONE;
    return Py_BuildValue("(si)", it->second.path.c_str(), it->second.weight);
}

// OK: releases the GIL (GilRelease declared first) before locking g_font_cache_mu; the lock is dropped before the GIL is reacquired, and Python objects are built afterwards
static PyObject *ok_cache_lookup(PyObject *, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == nullptr)
        return nullptr;
    std::string key(name);
    FontInfo info;
    bool found = false;
    {
        GilRelease nogil;
        std::lock_guard<std::mutex> lk(g_font_cache_mu);
        auto it = g_font_cache.find(key);
        if (it != g_font_cache.end()) {
            info = it->second;
            found = true;
        }
    }
    if (!found)
        Py_RETURN_NONE;
    return Py_BuildValue("(si)", info.path.c_str(), info.weight);
}

/* ===== module ===== */

static PyObject *start_services(PyObject *, PyObject *args)
{
    PyObject *sink, *provider, *settings;
    if (!PyArg_ParseTuple(args, "OOO", &sink, &provider, &settings))
        return nullptr;
    Py_INCREF(sink);
    Py_INCREF(provider);
    Py_INCREF(settings);
    g_recorder.sink = sink;
    g_font_provider = provider;
    g_settings = settings;
    g_recorder.start();
    std::thread(font_cache_refresher).detach();
    std::vector<std::string> lines{"fps=30", "width=1280"};
    std::thread(config_watch_loop, lines, true).detach();
    std::thread(config_watch_loop, lines, false).detach();
    Py_RETURN_NONE;
}

static PyObject *add_listener(PyObject *, PyObject *cb)
{
    Py_INCREF(cb);
    PyRef ref(cb);
    {
        GilRelease nogil;
        std::lock_guard<std::mutex> lk(g_listeners_mu);
        g_listeners.push_back(std::move(ref));   // node move-constructed, no PyRef destroyed here
    }
    Py_RETURN_NONE;
}

static PyMethodDef mediakit_methods[] = {
    {"encode_fast", bad_encode_frame_scoped, METH_VARARGS, nullptr},
    {"encode", ok_encode_frame_scoped, METH_VARARGS, nullptr},
    {"recorder_stop", bad_stop_worker_join, METH_NOARGS, nullptr},
    {"recorder_close", ok_stop_worker_join, METH_NOARGS, nullptr},
    {"clear_listeners_fast", bad_clear_listeners_nogil, METH_NOARGS, nullptr},
    {"clear_listeners", ok_clear_listeners, METH_NOARGS, nullptr},
    {"add_listener", add_listener, METH_O, nullptr},
    {"read_sensor_fast", bad_read_sensor_return_in_scope, METH_O, nullptr},
    {"read_sensor", ok_read_sensor, METH_O, nullptr},
    {"font_fast", bad_cache_lookup, METH_O, nullptr},
    {"font", ok_cache_lookup, METH_O, nullptr},
    {"start_services", start_services, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}
};

static struct PyModuleDef mediakit_module = {
    PyModuleDef_HEAD_INIT, "_mediakit", nullptr, sizeof(mediakit_state),
    mediakit_methods, nullptr, nullptr, nullptr, ok_module_free
};

PyMODINIT_FUNC PyInit__mediakit(void)
{
    PyObject *m = PyModule_Create(&mediakit_module);
    if (m == nullptr)
        return nullptr;
    MediaError = PyErr_NewException("_mediakit.MediaError", nullptr, nullptr);
    PyModule_AddObject(m, "MediaError", MediaError);
    PyObject *decimal = PyImport_ImportModule("decimal");
    if (decimal != nullptr) {
        g_decimal_type = PyObject_GetAttrString(decimal, "Decimal");
        Py_DECREF(decimal);
    }
    PyObject *json = PyImport_ImportModule("json");
    if (json != nullptr) {
        g_json_dumps = PyObject_GetAttrString(json, "dumps");
        Py_DECREF(json);
    }
    PyErr_Clear();
    return m;
}
