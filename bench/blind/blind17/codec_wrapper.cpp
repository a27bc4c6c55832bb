// codec_wrapper.cpp - _fastcodec: CPython bindings for libfc, a multi-threaded frame codec.
//
// libfc runs its own worker threads: progress, chunk and log callbacks arrive on
// those threads without the GIL.  The C++ layer reports errors with exceptions;
// they are turned into Python exceptions at the method boundary (raise_from_current).

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

extern "C" {
/* libfc, the parts used here (fc.h) */
typedef struct fc_decoder fc_decoder;
typedef struct fc_encoder fc_encoder;
typedef int (*fc_progress_fn)(void *ctx, uint64_t done, uint64_t total);
typedef void (*fc_chunk_fn)(void *ctx, const uint8_t *data, size_t len);
typedef void (*fc_log_fn)(void *ctx, int level, const char *msg);

fc_decoder *fc_decoder_open(const uint8_t *data, size_t len, int flags);
int fc_decoder_next(fc_decoder *d, uint8_t *out, size_t cap, size_t *written); /* 1 frame, 0 end, <0 error */
int fc_decoder_seek(fc_decoder *d, int64_t frame);
size_t fc_decoder_frame_bound(const fc_decoder *d);
const char *fc_decoder_error(const fc_decoder *d);
void fc_decoder_close(fc_decoder *d);

fc_encoder *fc_encoder_new(int level, int threads);
void fc_encoder_set_progress(fc_encoder *e, fc_progress_fn fn, void *ctx);
void fc_encoder_set_chunk_sink(fc_encoder *e, fc_chunk_fn fn, void *ctx);
int fc_encoder_push(fc_encoder *e, const uint8_t *data, size_t len);
int fc_encoder_finish(fc_encoder *e, uint8_t **out, size_t *outlen);
void fc_encoder_free(fc_encoder *e);
void fc_buffer_free(uint8_t *p);
void fc_set_log_handler(fc_log_fn fn, void *ctx);
}

namespace fastcodec {

static PyObject *CodecError = nullptr;

struct codec_error : std::runtime_error {
    int code;
    codec_error(const std::string &what, int c) : std::runtime_error(what), code(c) {}
};

// A Python exception is already set on the current thread state.
struct python_error : std::exception {
    const char *what() const noexcept override { return "python error"; }
};

struct cancelled : std::exception {
    const char *what() const noexcept override { return "cancelled by the progress callback"; }
};

[[noreturn]] static void fail(const char *what, int code)
{
    throw codec_error(std::string(what) + " (libfc error " + std::to_string(code) + ")", code);
}

[[noreturn]] static void fail_errno(const char *what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

struct GILGuard {
    PyGILState_STATE s;
    GILGuard() : s(PyGILState_Ensure()) {}
    ~GILGuard() { PyGILState_Release(s); }
    GILGuard(const GILGuard &) = delete;
    GILGuard &operator=(const GILGuard &) = delete;
};

struct ReleaseGIL {
    PyThreadState *ts;
    ReleaseGIL() : ts(PyEval_SaveThread()) {}
    ~ReleaseGIL() { PyEval_RestoreThread(ts); }
    ReleaseGIL(const ReleaseGIL &) = delete;
    ReleaseGIL &operator=(const ReleaseGIL &) = delete;
};

// Owning reference that refuses to touch the refcount from a thread without the GIL.
class PyHandle {
public:
    explicit PyHandle(PyObject *borrowed = nullptr) : ptr_(borrowed) {}
    PyHandle(const PyHandle &) = delete;
    PyHandle &operator=(const PyHandle &) = delete;
    PyObject *get() const { return ptr_; }
    PyHandle &inc_ref() &;
    void reset()
    {
        PyObject *tmp = ptr_;
        ptr_ = nullptr;
        Py_XDECREF(tmp);
    }

private:
    PyObject *ptr_;
};

// OK: inc_ref checks PyGILState_Check() and throws before Py_INCREF when the calling thread does not hold the GIL
PyHandle &PyHandle::inc_ref() &
{
    if (ptr_ == nullptr)
        return *this;
    if (!PyGILState_Check())
        throw std::runtime_error("PyHandle::inc_ref() called without holding the GIL");
    Py_INCREF(ptr_);
    return *this;
}

static PyObject *raise_from_current()
{
    try {
        throw;
    } catch (const python_error &) {
    } catch (const codec_error &e) {
        PyErr_Format(CodecError, "%s", e.what());
    } catch (const std::bad_alloc &) {
        PyErr_NoMemory();
    } catch (const std::system_error &e) {
        errno = e.code().value();
        PyErr_SetFromErrno(PyExc_OSError);
    } catch (const std::exception &e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (...) {
        PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
    }
    return nullptr;
}

/* ------------------------------------------------------------------ progress */

// Forwards libfc progress (reported on its worker threads) to a Python callable.
// A false return value or an exception from the callable cancels the encode.
class ProgressSink {
public:
    explicit ProgressSink(PyObject *callback) : callback_(callback) { callback_.inc_ref(); }
    ~ProgressSink()
    {
        callback_.reset();
        Py_CLEAR(error_);
    }
    static int trampoline(void *ctx, uint64_t done, uint64_t total);
    void report(uint64_t done, uint64_t total);
    PyObject *take_error()
    {
        PyObject *e = error_;
        error_ = nullptr;
        return e;
    }

private:
    void stash_error();
    PyHandle callback_;
    PyObject *error_ = nullptr;
};

void ProgressSink::stash_error()
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != nullptr && tb != nullptr)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    Py_XSETREF(error_, value);
}

// BAD: ensure-leak when the progress callable raises, report() throws cancelled while still holding the PyGILState_Ensure state
void ProgressSink::report(uint64_t done, uint64_t total)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *res = PyObject_CallFunction(callback_.get(), "KK",
                                          static_cast<unsigned long long>(done),
                                          static_cast<unsigned long long>(total));
    if (res == nullptr) {
        stash_error();
        throw cancelled();
    }
    int keep_going = PyObject_IsTrue(res);
    Py_DECREF(res);
    if (keep_going < 0)
        stash_error();
    PyGILState_Release(st);
    if (keep_going <= 0)
        throw cancelled();
}

int ProgressSink::trampoline(void *ctx, uint64_t done, uint64_t total)
{
    try {
        static_cast<ProgressSink *>(ctx)->report(done, total);
        return 0;
    } catch (const cancelled &) {
        return 1; /* libfc stops and fc_encoder_finish() returns -ECANCELED */
    } catch (...) {
        return -1;
    }
}

/* ------------------------------------------------------------------ chunks */

// Collects compressed chunks, which libfc hands over on its worker threads
// (one call at a time, in stream order), into a Python list.  In batched mode chunks are kept in C++ and moved to the
// list in groups, to take the GIL less often.
class ChunkWriter {
public:
    ChunkWriter(PyObject *list, size_t batch) : list_(list), batch_(batch) { list_.inc_ref(); }
    ~ChunkWriter() { list_.reset(); }
    static void trampoline(void *ctx, const uint8_t *data, size_t len);
    void write(const uint8_t *data, size_t len);
    void deliver_all(const std::vector<std::vector<uint8_t>> &pending);
    bool failed() const { return failed_; }

private:
    void deliver(const std::vector<uint8_t> &chunk);
    PyHandle list_;
    size_t batch_;
    std::vector<std::vector<uint8_t>> pending_;
    bool failed_ = false;
};

// BAD: ensure-leak fail() always throws, so a failed PyBytes allocation leaves write() with the Ensure state still held
void ChunkWriter::write(const uint8_t *data, size_t len)
{
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *chunk = PyBytes_FromStringAndSize(reinterpret_cast<const char *>(data),
                                                static_cast<Py_ssize_t>(len));
    if (chunk == nullptr) {
        PyErr_Clear();
        fail("chunk allocation", -ENOMEM);
    }
    int rc = PyList_Append(list_.get(), chunk);
    Py_DECREF(chunk);
    if (rc < 0)
        PyErr_WriteUnraisable(list_.get());
    PyGILState_Release(st);
    if (rc < 0)
        fail("chunk append", -ENOMEM);
}

void ChunkWriter::deliver(const std::vector<uint8_t> &chunk)
{
    PyObject *bytes = PyBytes_FromStringAndSize(reinterpret_cast<const char *>(chunk.data()),
                                                static_cast<Py_ssize_t>(chunk.size()));
    if (bytes == nullptr || PyList_Append(list_.get(), bytes) < 0) {
        Py_XDECREF(bytes);
        PyErr_WriteUnraisable(list_.get());
        fail("chunk delivery", -ENOMEM);
    }
    Py_DECREF(bytes);
}

// OK: any exception from deliver() is caught, the Ensure state released, and the exception rethrown; the normal path releases once
void ChunkWriter::deliver_all(const std::vector<std::vector<uint8_t>> &pending)
{
    if (pending.empty())
        return;
    PyGILState_STATE st = PyGILState_Ensure();
    try {
        for (const std::vector<uint8_t> &chunk : pending)
            deliver(chunk);
    } catch (...) {
        PyGILState_Release(st);
        throw;
    }
    PyGILState_Release(st);
}

void ChunkWriter::trampoline(void *ctx, const uint8_t *data, size_t len)
{
    ChunkWriter *self = static_cast<ChunkWriter *>(ctx);
    if (self->failed_)
        return;
    try {
        if (self->batch_ <= 1) {
            self->write(data, len);
            return;
        }
        self->pending_.emplace_back(data, data + len);
        if (self->pending_.size() >= self->batch_) {
            std::vector<std::vector<uint8_t>> batch;
            batch.swap(self->pending_);
            self->deliver_all(batch);
        }
    } catch (...) {
        self->failed_ = true;
    }
}

/* ------------------------------------------------------------------ logging */

class LogForwarder {
public:
    explicit LogForwarder(PyObject *logger) : logger_(logger) { logger_.inc_ref(); }
    static void trampoline(void *ctx, int level, const char *msg) noexcept;
    void emit(int level, const char *msg);

private:
    PyHandle logger_;
};

// OK: GILGuard is a scope; when logger.log() fails, fail() throws and ~GILGuard releases the state during unwinding
void LogForwarder::emit(int level, const char *msg)
{
    static const int py_levels[] = {10, 20, 30, 40, 50};
    int py_level = (level >= 0 && level < 5) ? py_levels[level] : 30;
    GILGuard gil;
    PyObject *res = PyObject_CallMethod(logger_.get(), "log", "is", py_level, msg);
    if (res == nullptr) {
        PyErr_WriteUnraisable(logger_.get());
        fail("log forwarding", -EIO);
    }
    Py_DECREF(res);
}

void LogForwarder::trampoline(void *ctx, int level, const char *msg) noexcept
{
    try {
        static_cast<LogForwarder *>(ctx)->emit(level, msg);
    } catch (...) {
        /* logging must never take libfc down */
    }
}

/* ------------------------------------------------------------------ decoder */

class Decoder {
public:
    Decoder(const uint8_t *data, size_t len, int flags)
        : dec_(fc_decoder_open(data, len, flags))
    {
        if (dec_ == nullptr)
            fail("fc_decoder_open", -EINVAL);
        frame_.resize(fc_decoder_frame_bound(dec_));
    }
    ~Decoder() { fc_decoder_close(dec_); }
    size_t decode_all(std::vector<uint8_t> &out);
    size_t decode_into(uint8_t *dst, size_t cap);
    size_t decode_frames(PyObject *on_frame);
    void seek(int64_t frame);
    size_t pull(std::vector<uint8_t> &out, size_t max_frames);
    size_t skip(size_t frames);

private:
    fc_decoder *dec_;
    std::vector<uint8_t> frame_;
};

size_t Decoder::pull(std::vector<uint8_t> &out, size_t max_frames)
{
    size_t got = 0;
    while (got < max_frames) {
        size_t n = 0;
        int rc = fc_decoder_next(dec_, frame_.data(), frame_.size(), &n);
        if (rc == 0)
            break;
        if (rc < 0)
            fail(fc_decoder_error(dec_), rc);
        out.insert(out.end(), frame_.begin(), frame_.begin() + static_cast<std::ptrdiff_t>(n));
        ++got;
    }
    return got;
}

size_t Decoder::skip(size_t frames)
{
    size_t done = 0;
    for (; done < frames; ++done) {
        size_t n = 0;
        int rc = fc_decoder_next(dec_, frame_.data(), frame_.size(), &n);
        if (rc == 0)
            break;
        if (rc < 0)
            fail(fc_decoder_error(dec_), rc);
    }
    return done;
}

// OK: the ReleaseGIL guard restores the GIL while fail() unwinds, so every exit (return or throw) has the GIL back
size_t Decoder::decode_all(std::vector<uint8_t> &out)
{
    ReleaseGIL nogil;
    size_t total = 0;
    for (;;) {
        size_t n = 0;
        int rc = fc_decoder_next(dec_, frame_.data(), frame_.size(), &n);
        if (rc == 0)
            break;
        if (rc < 0)
            fail(fc_decoder_error(dec_), rc);
        out.insert(out.end(), frame_.begin(), frame_.begin() + static_cast<std::ptrdiff_t>(n));
        total += n;
    }
    return total;
}

// BAD: allow-threads-leak fail() throws out of the loop after PyEval_SaveThread, so the saved thread state is never restored
size_t Decoder::decode_into(uint8_t *dst, size_t cap)
{
    PyThreadState *ts = PyEval_SaveThread();
    size_t used = 0;
    while (used < cap) {
        size_t n = 0;
        int rc = fc_decoder_next(dec_, dst + used, cap - used, &n);
        if (rc == 0)
            break;
        if (rc < 0)
            fail(fc_decoder_error(dec_), rc);
        used += n;
    }
    PyEval_RestoreThread(ts);
    return used;
}

// OK: the thread state is restored before fail() is called, so the exception leaves with the GIL held
void Decoder::seek(int64_t frame)
{
    if (frame < 0)
        throw std::out_of_range("negative frame index");
    PyThreadState *ts = PyEval_SaveThread();
    int rc = fc_decoder_seek(dec_, frame);
    PyEval_RestoreThread(ts);
    if (rc < 0)
        fail("fc_decoder_seek", rc);
}

// OK: each callback runs under a GILGuard nested in the ReleaseGIL scope; a Python error unwinds ~GILGuard, then ~ReleaseGIL, in LIFO order
size_t Decoder::decode_frames(PyObject *on_frame)
{
    ReleaseGIL nogil;
    size_t count = 0;
    for (;;) {
        size_t n = 0;
        int rc = fc_decoder_next(dec_, frame_.data(), frame_.size(), &n);
        if (rc == 0)
            return count;
        if (rc < 0)
            fail(fc_decoder_error(dec_), rc);
        GILGuard gil;
        PyObject *res = PyObject_CallFunction(on_frame, "y#",
                                              reinterpret_cast<const char *>(frame_.data()),
                                              static_cast<Py_ssize_t>(n));
        if (res == nullptr)
            throw python_error();
        Py_DECREF(res);
        ++count;
    }
}

/* ------------------------------------------------------------------ encoder */

class Encoder {
public:
    Encoder(int level, int threads, PyObject *progress, PyObject *chunks, size_t batch);
    ~Encoder();
    void push(const uint8_t *data, size_t len);
    size_t finish_to_file(int fd);
    void finish_streaming();
    ProgressSink *progress() const { return progress_; }
    ChunkWriter *chunks() const { return chunks_; }

private:
    fc_encoder *enc_ = nullptr;
    ProgressSink *progress_ = nullptr;
    ChunkWriter *chunks_ = nullptr;
};

Encoder::Encoder(int level, int threads, PyObject *progress, PyObject *chunks, size_t batch)
{
    enc_ = fc_encoder_new(level, threads);
    if (enc_ == nullptr)
        fail("fc_encoder_new", -ENOMEM);
    if (progress != nullptr && progress != Py_None) {
        progress_ = new ProgressSink(progress);
        fc_encoder_set_progress(enc_, &ProgressSink::trampoline, progress_);
    }
    if (chunks != nullptr && chunks != Py_None) {
        chunks_ = new ChunkWriter(chunks, batch);
        fc_encoder_set_chunk_sink(enc_, &ChunkWriter::trampoline, chunks_);
    }
}

Encoder::~Encoder()
{
    fc_encoder_free(enc_);
    delete progress_;
    delete chunks_;
}

// BAD: allow-threads-leak the throw for an already-finished encoder jumps out of the Py_BEGIN_ALLOW_THREADS block past Py_END_ALLOW_THREADS
void Encoder::push(const uint8_t *data, size_t len)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fc_encoder_push(enc_, data, len);
    if (rc == -EPIPE)
        throw codec_error("encoder already finished", rc);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        fail("fc_encoder_push", rc);
}

// BAD: allow-threads-leak the handler only catches codec_error; fail_errno() throws std::system_error, which escapes with the GIL released
size_t Encoder::finish_to_file(int fd)
{
    PyThreadState *ts = PyEval_SaveThread();
    size_t written = 0;
    try {
        uint8_t *buf = nullptr;
        size_t len = 0;
        int rc = fc_encoder_finish(enc_, &buf, &len);
        if (rc < 0)
            fail("fc_encoder_finish", rc);
        while (written < len) {
            ssize_t n = ::write(fd, buf + written, len - written);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                int saved = errno;
                fc_buffer_free(buf);
                errno = saved;
                fail_errno("write");
            }
            written += static_cast<size_t>(n);
        }
        fc_buffer_free(buf);
    } catch (const codec_error &) {
        PyEval_RestoreThread(ts);
        throw;
    }
    PyEval_RestoreThread(ts);
    return written;
}

void Encoder::finish_streaming()
{
    ReleaseGIL nogil;
    int rc = fc_encoder_finish(enc_, nullptr, nullptr);
    if (rc < 0)
        fail("fc_encoder_finish", rc);
}

/* ------------------------------------------------------------------ Python types */

struct DecoderObject {
    PyObject_HEAD
    Decoder *impl;
    PyObject *source; /* keeps the compressed bytes alive for libfc */
};

struct EncoderObject {
    PyObject_HEAD
    Encoder *impl;
    PyObject *chunks;
};

static PyObject *Decoder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static const char *kwlist[] = {"data", "flags", nullptr};
    PyObject *data;
    int flags = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "S|i:Decoder", const_cast<char **>(kwlist), &data, &flags))
        return nullptr;
    DecoderObject *self = reinterpret_cast<DecoderObject *>(type->tp_alloc(type, 0));
    if (self == nullptr)
        return nullptr;
    try {
        self->impl = new Decoder(reinterpret_cast<const uint8_t *>(PyBytes_AS_STRING(data)),
                                 static_cast<size_t>(PyBytes_GET_SIZE(data)), flags);
    } catch (...) {
        Py_DECREF(self);
        return raise_from_current();
    }
    Py_INCREF(data);
    self->source = data;
    return reinterpret_cast<PyObject *>(self);
}

static void Decoder_dealloc(DecoderObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    delete self->impl;
    Py_CLEAR(self->source);
    tp->tp_free(reinterpret_cast<PyObject *>(self));
    Py_DECREF(tp);
}

// OK: the codec_error leaves the try block through ~ReleaseGIL, so the handlers' PyErr calls run with the GIL restored
static PyObject *Decoder_read(DecoderObject *self, PyObject *args)
{
    Py_ssize_t max_frames = 1;
    if (!PyArg_ParseTuple(args, "|n:read", &max_frames))
        return nullptr;
    if (max_frames <= 0)
        return PyBytes_FromStringAndSize(nullptr, 0);
    std::vector<uint8_t> out;
    try {
        ReleaseGIL nogil;
        self->impl->pull(out, static_cast<size_t>(max_frames));
    } catch (const codec_error &e) {
        PyErr_Format(CodecError, "%s (code %d)", e.what(), e.code);
        return nullptr;
    } catch (const std::bad_alloc &) {
        return PyErr_NoMemory();
    }
    return PyBytes_FromStringAndSize(reinterpret_cast<const char *>(out.data()),
                                     static_cast<Py_ssize_t>(out.size()));
}

// BAD: api-without-gil the catch handler sits inside the ReleaseGIL scope, so PyErr_SetString runs before ~ReleaseGIL restores the GIL
static PyObject *Decoder_skip(DecoderObject *self, PyObject *arg)
{
    Py_ssize_t frames = PyLong_AsSsize_t(arg);
    if (frames == -1 && PyErr_Occurred())
        return nullptr;
    if (frames < 0) {
        PyErr_SetString(PyExc_ValueError, "cannot skip a negative number of frames");
        return nullptr;
    }
    size_t skipped = 0;
    bool failed = false;
    {
        ReleaseGIL nogil;
        try {
            skipped = self->impl->skip(static_cast<size_t>(frames));
        } catch (const codec_error &e) {
            PyErr_SetString(CodecError, e.what());
            failed = true;
        }
    }
    if (failed)
        return nullptr;
    return PyLong_FromSize_t(skipped);
}

static PyObject *Decoder_readall(DecoderObject *self, PyObject *Py_UNUSED(ignored))
{
    std::vector<uint8_t> out;
    try {
        self->impl->decode_all(out);
    } catch (...) {
        return raise_from_current();
    }
    return PyBytes_FromStringAndSize(reinterpret_cast<const char *>(out.data()),
                                     static_cast<Py_ssize_t>(out.size()));
}

static PyObject *Decoder_readinto(DecoderObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_WRITABLE) < 0)
        return nullptr;
    size_t n;
    try {
        n = self->impl->decode_into(static_cast<uint8_t *>(view.buf), static_cast<size_t>(view.len));
    } catch (...) {
        PyBuffer_Release(&view);
        return raise_from_current();
    }
    PyBuffer_Release(&view);
    return PyLong_FromSize_t(n);
}

static PyObject *Decoder_seek(DecoderObject *self, PyObject *arg)
{
    long long frame = PyLong_AsLongLong(arg);
    if (frame == -1 && PyErr_Occurred())
        return nullptr;
    try {
        self->impl->seek(frame);
    } catch (...) {
        return raise_from_current();
    }
    Py_RETURN_NONE;
}

static PyObject *Decoder_for_each_frame(DecoderObject *self, PyObject *callable)
{
    if (!PyCallable_Check(callable)) {
        PyErr_SetString(PyExc_TypeError, "for_each_frame() needs a callable");
        return nullptr;
    }
    size_t n;
    try {
        n = self->impl->decode_frames(callable);
    } catch (...) {
        return raise_from_current();
    }
    return PyLong_FromSize_t(n);
}

static PyMethodDef Decoder_methods[] = {
    {"read", (PyCFunction)(void (*)(void))Decoder_read, METH_VARARGS, nullptr},
    {"skip", (PyCFunction)(void (*)(void))Decoder_skip, METH_O, nullptr},
    {"readall", (PyCFunction)(void (*)(void))Decoder_readall, METH_NOARGS, nullptr},
    {"readinto", (PyCFunction)(void (*)(void))Decoder_readinto, METH_O, nullptr},
    {"seek", (PyCFunction)(void (*)(void))Decoder_seek, METH_O, nullptr},
    {"for_each_frame", (PyCFunction)(void (*)(void))Decoder_for_each_frame, METH_O, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

static PyObject *Encoder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static const char *kwlist[] = {"level", "threads", "progress", "chunks", "batch", nullptr};
    int level = 3, threads = 0;
    Py_ssize_t batch = 1;
    PyObject *progress = Py_None, *chunks = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|iiOOn:Encoder", const_cast<char **>(kwlist),
                                     &level, &threads, &progress, &chunks, &batch))
        return nullptr;
    if (chunks != Py_None && !PyList_Check(chunks)) {
        PyErr_SetString(PyExc_TypeError, "chunks must be a list");
        return nullptr;
    }
    EncoderObject *self = reinterpret_cast<EncoderObject *>(type->tp_alloc(type, 0));
    if (self == nullptr)
        return nullptr;
    try {
        self->impl = new Encoder(level, threads, progress, chunks, batch > 0 ? static_cast<size_t>(batch) : 1);
    } catch (...) {
        Py_DECREF(self);
        return raise_from_current();
    }
    Py_INCREF(chunks);
    self->chunks = chunks;
    return reinterpret_cast<PyObject *>(self);
}

static void Encoder_dealloc(EncoderObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    delete self->impl;
    Py_CLEAR(self->chunks);
    tp->tp_free(reinterpret_cast<PyObject *>(self));
    Py_DECREF(tp);
}

static PyObject *Encoder_push(EncoderObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return nullptr;
    try {
        self->impl->push(static_cast<const uint8_t *>(view.buf), static_cast<size_t>(view.len));
    } catch (...) {
        PyBuffer_Release(&view);
        return raise_from_current();
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *reraise_progress_error(EncoderObject *self)
{
    ProgressSink *sink = self->impl->progress();
    PyObject *err = sink ? sink->take_error() : nullptr;
    if (err == nullptr)
        return nullptr;
    PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(err)), err);
    Py_DECREF(err);
    return nullptr;
}

static PyObject *Encoder_finish_to_file(EncoderObject *self, PyObject *arg)
{
    int fd = PyObject_AsFileDescriptor(arg);
    if (fd < 0)
        return nullptr;
    size_t n;
    try {
        n = self->impl->finish_to_file(fd);
    } catch (const codec_error &e) {
        if (e.code == -ECANCELED && self->impl->progress() != nullptr) {
            reraise_progress_error(self);
            if (PyErr_Occurred())
                return nullptr;
        }
        return raise_from_current();
    } catch (...) {
        return raise_from_current();
    }
    return PyLong_FromSize_t(n);
}

static PyObject *Encoder_finish(EncoderObject *self, PyObject *Py_UNUSED(ignored))
{
    try {
        self->impl->finish_streaming();
    } catch (...) {
        return raise_from_current();
    }
    if (self->impl->chunks() != nullptr && self->impl->chunks()->failed()) {
        PyErr_SetString(CodecError, "some chunks could not be delivered");
        return nullptr;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Encoder_methods[] = {
    {"push", (PyCFunction)(void (*)(void))Encoder_push, METH_O, nullptr},
    {"finish_to_file", (PyCFunction)(void (*)(void))Encoder_finish_to_file, METH_O, nullptr},
    {"finish", (PyCFunction)(void (*)(void))Encoder_finish, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

static LogForwarder *g_log_forwarder = nullptr;

static PyObject *fastcodec_set_logger(PyObject *Py_UNUSED(module), PyObject *logger)
{
    LogForwarder *fwd = nullptr;
    if (logger != Py_None) {
        try {
            fwd = new LogForwarder(logger);
        } catch (...) {
            return raise_from_current();
        }
    }
    fc_set_log_handler(fwd ? &LogForwarder::trampoline : nullptr, fwd);
    /* the previous forwarder may still be in use on a libfc thread; it is leaked on purpose */
    g_log_forwarder = fwd;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"set_logger", fastcodec_set_logger, METH_O, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

static PyType_Slot Decoder_slots[] = {
    {Py_tp_new, (void *)Decoder_new},
    {Py_tp_dealloc, (void *)Decoder_dealloc},
    {Py_tp_methods, Decoder_methods},
    {0, nullptr},
};

static PyType_Spec Decoder_spec = {"_fastcodec.Decoder", sizeof(DecoderObject), 0,
                                   Py_TPFLAGS_DEFAULT, Decoder_slots};

static PyType_Slot Encoder_slots[] = {
    {Py_tp_new, (void *)Encoder_new},
    {Py_tp_dealloc, (void *)Encoder_dealloc},
    {Py_tp_methods, Encoder_methods},
    {0, nullptr},
};

static PyType_Spec Encoder_spec = {"_fastcodec.Encoder", sizeof(EncoderObject), 0,
                                   Py_TPFLAGS_DEFAULT, Encoder_slots};

static struct PyModuleDef fastcodec_module = {
    PyModuleDef_HEAD_INIT, "_fastcodec", "libfc bindings", -1, module_methods,
    nullptr, nullptr, nullptr, nullptr,
};

} // namespace fastcodec

PyMODINIT_FUNC PyInit__fastcodec(void)
{
    using namespace fastcodec;
    PyObject *m = PyModule_Create(&fastcodec_module);
    if (m == nullptr)
        return nullptr;
    CodecError = PyErr_NewException("_fastcodec.CodecError", nullptr, nullptr);
    if (CodecError == nullptr || PyModule_AddObjectRef(m, "CodecError", CodecError) < 0)
        goto error;
    {
        PyObject *dec = PyType_FromSpec(&Decoder_spec);
        if (dec == nullptr || PyModule_AddObject(m, "Decoder", dec) < 0) {
            Py_XDECREF(dec);
            goto error;
        }
        PyObject *enc = PyType_FromSpec(&Encoder_spec);
        if (enc == nullptr || PyModule_AddObject(m, "Encoder", enc) < 0) {
            Py_XDECREF(enc);
            goto error;
        }
    }
    return m;
error:
    Py_DECREF(m);
    return nullptr;
}
