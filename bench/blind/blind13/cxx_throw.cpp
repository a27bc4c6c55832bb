// _geomkit: C++ geometry kernel exposed to Python; errors are C++ exceptions
// translated to Python exceptions at the module boundary.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <cerrno>
#include <cmath>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace geom {

struct python_error : std::runtime_error {
    python_error() : std::runtime_error("python error") {}
};

[[noreturn]] static void throw_python_error()
{
    throw python_error();
}

[[noreturn]] static void throw_errno(const char *what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

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
    GilRelease() : ts_(PyEval_SaveThread()) {}
    ~GilRelease() { PyEval_RestoreThread(ts_); }
    GilRelease(const GilRelease &) = delete;
    GilRelease &operator=(const GilRelease &) = delete;
private:
    PyThreadState *ts_;
};

static double area(const std::vector<double> &xy)
{
    double a = 0;
    size_t n = xy.size() / 2;
    for (size_t i = 0; i < n; i++) {
        size_t j = (i + 1) % n;
        a += xy[2 * i] * xy[2 * j + 1] - xy[2 * j] * xy[2 * i + 1];
    }
    return std::fabs(a) / 2;
}

static int simplify_inplace(std::vector<double> &xy, double tol)
{
    if (tol < 0) {
        errno = EINVAL;
        return -1;
    }
    std::vector<double> out;
    for (size_t i = 0; i + 1 < xy.size(); i += 2)
        if (out.size() < 2 || std::hypot(xy[i] - out[out.size() - 2], xy[i + 1] - out.back()) > tol) {
            out.push_back(xy[i]);
            out.push_back(xy[i + 1]);
        }
    xy.swap(out);
    return 0;
}

// Called from native render threads that do not hold the GIL.
double bad_eval_weight_throw(PyObject *fn, double x)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(fn, "d", x);
    if (r == nullptr)
        throw python_error();
    double v = PyFloat_AsDouble(r);
    Py_DECREF(r);
    PyGILState_Release(st);
    return v;
}

double bad_eval_weight_noreturn(PyObject *fn, double x)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(fn, "d", x);
    if (r == nullptr)
        throw_python_error();
    double v = PyFloat_AsDouble(r);
    Py_DECREF(r);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        v = 0.0;
    }
    PyGILState_Release(st);
    return v;
}

double ok_eval_weight_raii(PyObject *fn, double x)
{
    GilGuard gil;
    PyObject *r = PyObject_CallFunction(fn, "d", x);
    if (r == nullptr)
        throw python_error();
    double v = PyFloat_AsDouble(r);
    Py_DECREF(r);
    if (v == -1.0 && PyErr_Occurred())
        throw_python_error();
    return v;
}

double ok_eval_weight_catch(PyObject *fn, double x)
{
    PyGILState_STATE st = PyGILState_Ensure();
    double v;
    try {
        PyObject *r = PyObject_CallFunction(fn, "d", x);
        if (r == nullptr)
            throw python_error();
        v = PyFloat_AsDouble(r);
        Py_DECREF(r);
        if (std::isnan(v))
            throw std::domain_error("weight is NaN");
    } catch (...) {
        PyErr_Clear();
        PyGILState_Release(st);
        throw;
    }
    PyGILState_Release(st);
    return v;
}

double ok_eval_weight_throw_after_release(PyObject *fn, double x)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(fn, "d", x);
    bool failed = (r == nullptr);
    double v = failed ? 0.0 : PyFloat_AsDouble(r);
    Py_XDECREF(r);
    if (failed)
        PyErr_Clear();
    PyGILState_Release(st);
    if (failed)
        throw python_error();
    return v;
}

// Python-facing implementations (GIL held on entry).
PyObject *bad_simplify_nogil_throw(std::vector<double> &xy, double tol)
{
    Py_BEGIN_ALLOW_THREADS
    if (simplify_inplace(xy, tol) < 0)
        throw std::system_error(errno, std::generic_category(), "simplify");
    Py_END_ALLOW_THREADS
    return PyLong_FromSize_t(xy.size() / 2);
}

PyObject *bad_simplify_save_throw(std::vector<double> &xy, double tol)
{
    PyThreadState *ts = PyEval_SaveThread();
    if (simplify_inplace(xy, tol) < 0)
        throw_errno("simplify");
    PyEval_RestoreThread(ts);
    return PyLong_FromSize_t(xy.size() / 2);
}

PyObject *ok_simplify_scoped(std::vector<double> &xy, double tol)
{
    {
        GilRelease nogil;
        if (simplify_inplace(xy, tol) < 0)
            throw_errno("simplify");
    }
    return PyLong_FromSize_t(xy.size() / 2);
}

PyObject *ok_simplify_catch_restore(std::vector<double> &xy, double tol)
{
    double a;
    PyThreadState *ts = PyEval_SaveThread();
    try {
        if (simplify_inplace(xy, tol) < 0)
            throw_errno("simplify");
        a = area(xy);
    } catch (...) {
        PyEval_RestoreThread(ts);
        throw;
    }
    PyEval_RestoreThread(ts);
    return PyFloat_FromDouble(a);
}

static std::vector<double> to_coords(PyObject *seq)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of floats");
    if (fast == nullptr)
        throw python_error();
    std::vector<double> out;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    out.reserve((size_t)n);
    for (Py_ssize_t i = 0; i < n; i++) {
        double d = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
        if (d == -1.0 && PyErr_Occurred()) {
            Py_DECREF(fast);
            throw python_error();
        }
        out.push_back(d);
    }
    Py_DECREF(fast);
    return out;
}

} // namespace geom

extern "C" {

static PyObject *
geomkit_simplify(PyObject *, PyObject *args)
{
    PyObject *seq;
    double tol;
    int mode = 0;
    if (!PyArg_ParseTuple(args, "Od|i", &seq, &tol, &mode))
        return nullptr;
    try {
        std::vector<double> xy = geom::to_coords(seq);
        switch (mode) {
        case 0: return geom::ok_simplify_scoped(xy, tol);
        case 1: return geom::ok_simplify_catch_restore(xy, tol);
        case 2: return geom::bad_simplify_nogil_throw(xy, tol);
        default: return geom::bad_simplify_save_throw(xy, tol);
        }
    } catch (const geom::python_error &) {
        return nullptr;
    } catch (const std::exception &e) {
        PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    }
}

static PyObject *
geomkit_weigh(PyObject *, PyObject *args)
{
    PyObject *fn;
    double x;
    int mode = 0;
    if (!PyArg_ParseTuple(args, "Od|i", &fn, &x, &mode))
        return nullptr;
    try {
        double v;
        switch (mode) {
        case 0: v = geom::ok_eval_weight_raii(fn, x); break;
        case 1: v = geom::ok_eval_weight_catch(fn, x); break;
        case 2: v = geom::ok_eval_weight_throw_after_release(fn, x); break;
        case 3: v = geom::bad_eval_weight_throw(fn, x); break;
        default: v = geom::bad_eval_weight_noreturn(fn, x); break;
        }
        return PyFloat_FromDouble(v);
    } catch (const geom::python_error &) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "callback failed");
        return nullptr;
    } catch (const std::exception &e) {
        PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    }
}

static PyMethodDef geomkit_methods[] = {
    {"simplify", geomkit_simplify, METH_VARARGS, nullptr},
    {"weigh", geomkit_weigh, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}
};

static struct PyModuleDef geomkit_module = {
    PyModuleDef_HEAD_INIT, "_geomkit", nullptr, -1, geomkit_methods,
};

PyMODINIT_FUNC
PyInit__geomkit(void)
{
    return PyModule_Create(&geomkit_module);
}

} // extern "C"
