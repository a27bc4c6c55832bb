/*
 * render_node_scripts.cpp -- 3D app that evaluates Python shader nodes on
 * render threads.
 *
 * The application's main() calls Py_InitializeEx(0) at start-up and
 * Py_FinalizeEx() just before returning, so anything destroyed after main()
 * returns (function-local statics, globals) runs without an interpreter.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <utility>
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

/* Owning reference.  Must be destroyed with the GIL held. */
class PyRef {
public:
    constexpr PyRef() noexcept = default;
    explicit PyRef(PyObject *o) noexcept : o_(o) {}
    PyRef(PyRef &&other) noexcept : o_(std::exchange(other.o_, nullptr)) {}
    PyRef &operator=(PyRef &&other) noexcept
    {
        if (this != &other) {
            Py_XDECREF(o_);
            o_ = std::exchange(other.o_, nullptr);
        }
        return *this;
    }
    PyRef(const PyRef &) = delete;
    PyRef &operator=(const PyRef &) = delete;
    ~PyRef() { Py_XDECREF(o_); }

    PyObject *get() const noexcept { return o_; }
    explicit operator bool() const noexcept { return o_ != nullptr; }

private:
    PyObject *o_ = nullptr;
};

struct Tile {
    int x0, y0, x1, y1;
};

struct NodeGraph {
    PyObject *shader_fn = nullptr; // callable(x, y) -> float (owned)
    int width = 0;
    int height = 0;
    std::vector<float> pixels;
    std::vector<Tile> tiles;
};

struct MeshBake {
    PyObject *node = nullptr; // Python node object (borrowed)
    std::vector<float> verts;
    int resolution = 1;
};

struct RenderService {
    std::mutex mu;
    std::condition_variable cv;
    bool shutdown_requested = false;
    std::atomic<bool> quit{false};
    std::vector<std::thread> threads;
    NodeGraph graph;
};

/* Requires the GIL. */
float eval_shader_pixel(NodeGraph *g, int x, int y)
{
    PyRef r(PyObject_CallFunction(g->shader_fn, "ii", x, y));
    if (!r) {
        PyErr_Clear();
        return 0.0f;
    }
    double v = PyFloat_AsDouble(r.get());
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0.0f;
    }
    return static_cast<float>(v);
}

/* Requires the GIL. */
bool fill_vertices_from(MeshBake &b, PyObject *mesh)
{
    PyRef seq(PySequence_Fast(mesh, "mesh must be a sequence of floats"));
    if (!seq)
        return false;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq.get());
    b.verts.resize(static_cast<std::size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
        double v = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq.get(), i));
        if (v == -1.0 && PyErr_Occurred())
            return false;
        b.verts[static_cast<std::size_t>(i)] = static_cast<float>(v);
    }
    return true;
}

/* Pure C++: subdivision/smoothing, no Python. */
void bake_vertices(MeshBake &b)
{
    for (int pass = 0; pass < b.resolution; ++pass)
        for (std::size_t i = 1; i + 1 < b.verts.size(); ++i)
            b.verts[i] = 0.25f * b.verts[i - 1] + 0.5f * b.verts[i] + 0.25f * b.verts[i + 1];
}

} // namespace

// BAD: thread-entry-without-gil,api-without-gil render thread entry calls the Python shader for every pixel without taking the GIL
void bad_render_tile_worker(NodeGraph *g, std::size_t tile_index)
{
    const Tile &t = g->tiles[tile_index];
    for (int y = t.y0; y < t.y1; ++y) {
        for (int x = t.x0; x < t.x1; ++x) {
            float v = 0.0f;
            PyObject *r = PyObject_CallFunction(g->shader_fn, "ii", x, y);
            if (r != nullptr) {
                v = static_cast<float>(PyFloat_AsDouble(r));
                Py_DECREF(r);
            }
            if (PyErr_Occurred())
                PyErr_Clear();
            g->pixels[static_cast<std::size_t>(y * g->width + x)] = v;
        }
    }
}

// OK: render thread entry takes the GIL once per row with a RAII guard and writes pixels after the guard is gone
void ok_render_tile_worker(NodeGraph *g, std::size_t tile_index)
{
    const Tile &t = g->tiles[tile_index];
    std::vector<float> row(static_cast<std::size_t>(t.x1 - t.x0));
    for (int y = t.y0; y < t.y1; ++y) {
        {
            GilGuard gil;
            for (int x = t.x0; x < t.x1; ++x)
                row[static_cast<std::size_t>(x - t.x0)] = eval_shader_pixel(g, x, y);
        }
        for (int x = t.x0; x < t.x1; ++x)
            g->pixels[static_cast<std::size_t>(y * g->width + x)] = row[static_cast<std::size_t>(x - t.x0)];
    }
}

// OK: starts render threads with the GIL held, joins each one inside a GilRelease scope, reports progress with the GIL
int ok_render_frame_parallel(NodeGraph &g, PyObject *progress_cb)
{
    /* called from a Python method: GIL held */
    std::vector<std::thread> threads;
    threads.reserve(g.tiles.size());
    for (std::size_t i = 0; i < g.tiles.size(); ++i)
        threads.emplace_back(ok_render_tile_worker, &g, i);

    Py_ssize_t done = 0;
    for (auto &t : threads) {
        {
            GilRelease nogil;
            t.join();
        }
        ++done;
        if (progress_cb != nullptr) {
            PyRef r(PyObject_CallFunction(progress_cb, "nn", done, static_cast<Py_ssize_t>(threads.size())));
            if (!r)
                PyErr_Clear();
        }
    }
    return 0;
}

// BAD: blocking-with-gil joins render threads (which need the GIL per row) while still holding the GIL
int bad_render_frame_join_with_gil(NodeGraph &g, PyObject *progress_cb)
{
    /* called from a Python method: GIL held */
    std::vector<std::thread> threads;
    threads.reserve(g.tiles.size());
    for (std::size_t i = 0; i < g.tiles.size(); ++i)
        threads.emplace_back(ok_render_tile_worker, &g, i);

    Py_ssize_t done = 0;
    for (auto &t : threads) {
        t.join();
        ++done;
        if (progress_cb != nullptr) {
            PyRef r(PyObject_CallFunction(progress_cb, "nn", done, static_cast<Py_ssize_t>(threads.size())));
            if (!r)
                PyErr_Clear();
        }
    }
    return 0;
}

/* Render service thread: re-renders its tile until told to quit. */
static void render_service_thread(RenderService *svc, std::size_t tile)
{
    while (!svc->quit.load()) {
        ok_render_tile_worker(&svc->graph, tile);
        std::this_thread::sleep_for(std::chrono::milliseconds(16));
    }
}

/* Pure C++: called from the UI / signal code. */
void request_render_shutdown(RenderService &svc)
{
    {
        std::lock_guard<std::mutex> lk(svc.mu);
        svc.shutdown_requested = true;
    }
    svc.cv.notify_all();
}

// BAD: init-holds-gil,blocking-with-gil after Py_InitializeEx the main thread waits for shutdown and joins render threads without ever releasing the GIL
int bad_app_boot_render_service(RenderService &svc, const char *script)
{
    Py_InitializeEx(0);
    PyObject *mod = PyImport_ImportModule(script);
    if (mod == nullptr) {
        PyErr_Print();
        Py_FinalizeEx();
        return 1;
    }
    svc.graph.shader_fn = PyObject_GetAttrString(mod, "shade");
    Py_DECREF(mod);
    if (svc.graph.shader_fn == nullptr) {
        PyErr_Print();
        Py_FinalizeEx();
        return 1;
    }

    for (std::size_t i = 0; i < svc.graph.tiles.size(); ++i)
        svc.threads.emplace_back(render_service_thread, &svc, i);

    {
        std::unique_lock<std::mutex> lk(svc.mu);
        svc.cv.wait(lk, [&svc] { return svc.shutdown_requested; });
    }
    svc.quit = true;
    for (auto &t : svc.threads)
        t.join();
    svc.threads.clear();

    Py_CLEAR(svc.graph.shader_fn);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// OK: saves the main thread state after start-up, waits and joins without the GIL, restores before finalizing
int ok_app_boot_render_service(RenderService &svc, const char *script)
{
    Py_InitializeEx(0);
    PyObject *mod = PyImport_ImportModule(script);
    if (mod == nullptr) {
        PyErr_Print();
        Py_FinalizeEx();
        return 1;
    }
    svc.graph.shader_fn = PyObject_GetAttrString(mod, "shade");
    Py_DECREF(mod);
    if (svc.graph.shader_fn == nullptr) {
        PyErr_Print();
        Py_FinalizeEx();
        return 1;
    }

    for (std::size_t i = 0; i < svc.graph.tiles.size(); ++i)
        svc.threads.emplace_back(render_service_thread, &svc, i);

    PyThreadState *main_ts = PyEval_SaveThread();
    {
        std::unique_lock<std::mutex> lk(svc.mu);
        svc.cv.wait(lk, [&svc] { return svc.shutdown_requested; });
    }
    svc.quit = true;
    for (auto &t : svc.threads)
        t.join();
    svc.threads.clear();
    PyEval_RestoreThread(main_ts);

    Py_CLEAR(svc.graph.shader_fn);
    return Py_FinalizeEx() < 0 ? 120 : 0;
}

// BAD: finalize-without-gil,api-without-gil function-local static PyRef is destroyed after main() returns (after Py_FinalizeEx) and DECREFs then
PyObject *bad_cached_json_module()
{
    /* caller holds the GIL */
    static PyRef json_mod;
    if (!json_mod)
        json_mod = PyRef(PyImport_ImportModule("json"));
    return json_mod.get(); /* borrowed */
}

// OK: function-local static raw pointer is intentionally leaked, so nothing touches Python at process exit
PyObject *ok_cached_json_module()
{
    /* caller holds the GIL; the GIL serialises the first-time import */
    static PyObject *json_mod = nullptr;
    if (json_mod == nullptr)
        json_mod = PyImport_ImportModule("json");
    return json_mod; /* borrowed */
}

// BAD: api-without-gil PyRef declared after the GilRelease is destroyed first, so its Py_XDECREF runs while the GIL is released
int bad_bake_mesh_moved_ref(MeshBake &b)
{
    /* caller holds the GIL */
    PyRef mesh(PyObject_GetAttrString(b.node, "mesh"));
    if (!mesh)
        return -1;
    if (!fill_vertices_from(b, mesh.get()))
        return -1;

    GilRelease nogil;
    PyRef keep_alive = std::move(mesh); // keep the mesh alive while baking
    bake_vertices(b);
    return 0;
}

// OK: PyRef is declared before the GilRelease, so the GIL is restored before the reference is dropped
int ok_bake_mesh_scoped_release(MeshBake &b)
{
    /* caller holds the GIL */
    PyRef mesh(PyObject_GetAttrString(b.node, "mesh"));
    if (!mesh)
        return -1;
    if (!fill_vertices_from(b, mesh.get()))
        return -1;

    GilRelease nogil; // released until the end of the scope
    bake_vertices(b);
    return 0; // nogil restores first, then mesh is DECREF'd with the GIL held
}
