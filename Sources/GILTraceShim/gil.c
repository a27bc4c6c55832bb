/* The hooks: CPython's GIL entry points (reached through patched GOT slots of the user's code), pthread thread
 * creation and mutexes and dlopen (exported, so LD_PRELOAD puts them in front of libc), and the checks. */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- CPython's own functions, looked up in the process (libpython or the python executable). */
static void *(*real_Ensure)(void);
static void (*real_Release)(int);
static int (*real_Check)(void);
static void *(*real_Save)(void);
static void (*real_Restore)(void *);
static void (*real_AcquireThread)(void *);
static void (*real_ReleaseThread)(void *);
static void (*real_AcquireLock)(void);
static void (*real_ReleaseLock)(void);
static void (*real_InitThreads)(void);
static void (*real_Initialize)(void);
static void (*real_InitializeEx)(int);
static void *(*real_InitializeFromConfig)(void *out, const void *config);
static void (*real_Finalize)(void);
static int (*real_FinalizeEx)(void);
static int (*real_IsInitialized)(void);

#define RESOLVE(var, name) if (!var) var = (__typeof__(var))dlsym(RTLD_DEFAULT, name)

HIDDEN void gilt_resolve_python(void) {
    RESOLVE(real_Ensure, "PyGILState_Ensure");
    RESOLVE(real_Release, "PyGILState_Release");
    RESOLVE(real_Check, "PyGILState_Check");
    RESOLVE(real_Save, "PyEval_SaveThread");
    RESOLVE(real_Restore, "PyEval_RestoreThread");
    RESOLVE(real_AcquireThread, "PyEval_AcquireThread");
    RESOLVE(real_ReleaseThread, "PyEval_ReleaseThread");
    RESOLVE(real_AcquireLock, "PyEval_AcquireLock");
    RESOLVE(real_ReleaseLock, "PyEval_ReleaseLock");
    RESOLVE(real_InitThreads, "PyEval_InitThreads");
    RESOLVE(real_Initialize, "Py_Initialize");
    RESOLVE(real_InitializeEx, "Py_InitializeEx");
    RESOLVE(real_InitializeFromConfig, "Py_InitializeFromConfig");
    RESOLVE(real_Finalize, "Py_Finalize");
    RESOLVE(real_FinalizeEx, "Py_FinalizeEx");
    RESOLVE(real_IsInitialized, "Py_IsInitialized");
}

/* Whether the calling thread may use the C API: Python is not running (nothing to check), or CPython says
   this thread's thread state is the current one. */
HIDDEN int gilt_python_holds_gil(void) {
    if (!real_IsInitialized || !real_Check || !real_IsInitialized()) return 1;
    return real_Check();
}

/* Whether the thread holds the GIL: CPython's answer while Python runs (the thread's own bookkeeping can be
   stale when the interpreter released the GIL around a call into the user's code, as ctypes does), else the
   bookkeeping of the user's calls. */
HIDDEN int gilt_gil_held(gilt_thread *t) {
    if (t->gil == 1) return 1; /* taken by the user's own call and not given back since: no need to ask */
    if (real_IsInitialized && real_Check && real_IsInitialized()) return real_Check();
    return 0;
}

HIDDEN void gilt_report(uint32_t finding, uint16_t api, uint64_t a, uint64_t b, uint64_t pc) {
    uint64_t stack[GILT_STACK_DEPTH];
    int n = 0;
    gilt_capture_stack(stack, &n, 2);
    gilt_emit(GILT_FINDING, finding, api, a, b, pc, stack, (uint16_t)n);
    gilt_flush(gilt_self); /* on disk before CPython's own fatal error can end the process */
}

/* ---- Lock order: edges "took B while holding A", each recorded once per process. */
#define EDGES 8192
static struct { uint64_t from, to; } edges[EDGES];
static atomic_flag edges_lock = ATOMIC_FLAG_INIT;

static int new_edge(uint64_t from, uint64_t to) {
    uint64_t h = ((from * 0x9E3779B97F4A7C15ull) ^ (to * 0xC2B2AE3D27D4EB4Full)) >> 51;
    int fresh = 0;
    while (atomic_flag_test_and_set_explicit(&edges_lock, memory_order_acquire)) __builtin_ia32_pause();
    for (uint64_t i = 0; i < EDGES; i++) {
        uint64_t s = (h + i) % EDGES;
        if (edges[s].from == 0) { edges[s].from = from; edges[s].to = to; fresh = 1; break; }
        if (edges[s].from == from && edges[s].to == to) break;
    }
    atomic_flag_clear_explicit(&edges_lock, memory_order_release);
    return fresh;
}

/* The calling thread's Python stack as text, innermost frame first; the thread must hold the GIL. Returns the
   number of bytes written. Only stable API calls, through pointers the tracer looked up itself. */
static void *(*py_GetFrame)(void);
static void *(*py_FrameGetBack)(void *);
static void *(*py_FrameGetCode)(void *);
static int (*py_FrameGetLineNumber)(void *);
static void *(*py_GetAttrString)(void *, const char *);
static const char *(*py_AsUTF8)(void *);
static void (*py_IncRef)(void *), (*py_DecRef)(void *);
static void (*py_ErrFetch)(void **, void **, void **), (*py_ErrRestore)(void *, void *, void *);

static size_t python_stack(char *out, size_t cap) {
    RESOLVE(py_GetFrame, "PyEval_GetFrame");
    RESOLVE(py_FrameGetBack, "PyFrame_GetBack");
    RESOLVE(py_FrameGetCode, "PyFrame_GetCode");
    RESOLVE(py_FrameGetLineNumber, "PyFrame_GetLineNumber");
    RESOLVE(py_GetAttrString, "PyObject_GetAttrString");
    RESOLVE(py_AsUTF8, "PyUnicode_AsUTF8");
    RESOLVE(py_IncRef, "Py_IncRef");
    RESOLVE(py_DecRef, "Py_DecRef");
    RESOLVE(py_ErrFetch, "PyErr_Fetch");
    RESOLVE(py_ErrRestore, "PyErr_Restore");
    if (!py_GetFrame || !py_FrameGetBack || !py_FrameGetCode || !py_FrameGetLineNumber || !py_GetAttrString ||
        !py_AsUTF8 || !py_IncRef || !py_DecRef || !py_ErrFetch || !py_ErrRestore)
        return 0;
    void *frame = py_GetFrame();
    if (!frame) return 0;
    void *et, *ev, *etb;
    py_ErrFetch(&et, &ev, &etb); /* keep a pending exception out of our attribute lookups */
    py_IncRef(frame);
    size_t used = 0;
    for (int depth = 0; frame && depth < 12 && used + 1 < cap; depth++) {
        void *code = py_FrameGetCode(frame);
        void *name = code ? py_GetAttrString(code, "co_name") : NULL;
        void *file = code ? py_GetAttrString(code, "co_filename") : NULL;
        const char *n = name ? py_AsUTF8(name) : NULL, *f = file ? py_AsUTF8(file) : NULL;
        int w = snprintf(out + used, cap - used, "%s (%s:%d)\n", n ? n : "?", f ? f : "?", py_FrameGetLineNumber(frame));
        if (w > 0) used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
        if (name) py_DecRef(name);
        if (file) py_DecRef(file);
        if (code) py_DecRef(code);
        void *back = py_FrameGetBack(frame);
        py_DecRef(frame);
        frame = back;
    }
    if (frame) py_DecRef(frame);
    py_ErrRestore(et, ev, etb);
    return used;
}

static void edge(uint64_t from, uint64_t from_site, uint64_t to, uint64_t to_site) {
    if (from == to || !new_edge(from, to)) return;
    uint64_t payload[GILT_STACK_DEPTH + 1];
    int n = 0;
    payload[0] = from_site;
    gilt_capture_stack(payload + 1, &n, 3);
    gilt_emit(GILT_LOCK_EDGE, 0, 0, from, to, to_site, payload, (uint16_t)(n + 1));
    if (from == GILT_LOCK_GIL && real_IsInitialized && real_Check && real_IsInitialized() && real_Check()) {
        /* Holding the GIL (CPython agrees): the Python code that led here is cheap to read, and tells which
           script took the lock. */
        char text[2048];
        int saved = gilt_busy;
        gilt_busy = 1;
        size_t len = python_stack(text, sizeof text);
        gilt_busy = saved;
        if (len) {
            text[len] = 0;
            uint64_t words[256];
            uint16_t w = gilt_pack_string(text, words, 256);
            gilt_emit(GILT_PYTHON_STACK, 0, 0, from, to, to_site, words, w);
        }
    }
    gilt_flush(gilt_self);
}

/* The user's code took `lock` (the GIL or a mutex): add an edge from every lock the thread holds. */
HIDDEN void gilt_note_acquire(gilt_thread *t, uint64_t lock, uint64_t site) {
    /* After the thread's own release (gil 0) it does not hold the GIL: only the interpreter could have taken it for
       the thread since, and the interpreter runs Python on a thread only after the user's code took the GIL there. */
    if (lock != GILT_LOCK_GIL && t->gil != 0 && gilt_gil_held(t)) edge(GILT_LOCK_GIL, t->acquired_site, lock, site);
    for (int i = 0; i < t->held_count; i++) edge(t->held_lock[i], t->held_site[i], lock, site);
}

/* ---- GIL hooks. */

/* Holds: what the timeline records of an outermost acquisition and its release. With an exact timeline every one
   is timed with the TSC (two reads and two records per pair). With the sampled one (the default) an uncontended
   acquisition costs a countdown and a load of the coarse clock: one in `sample_rate` of them (picked at random
   intervals, so that a loop alternating between sites cannot alias with the rate) is timed, so is every one that
   waited for the GIL, and the coarse clock catches every long hold at its release. */
static inline uint32_t next_sample_interval(gilt_thread *t) {
    /* xorshift; intervals uniform in [1, 2 * rate - 1], mean `rate`. */
    uint64_t x = t->random ? t->random : 0x9E3779B97F4A7C15ull ^ t->tid;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    t->random = x;
    uint32_t rate = gilt_config.sample_rate;
    return rate <= 1 ? 1 : 1 + (uint32_t)(x % (2 * (uint64_t)rate - 1));
}

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Times an outermost acquisition: a sampled one, one that waited long for the GIL, or any with the exact timeline.
   `at`: when it got the GIL (0: read the clock now); `waited`: ticks it waited. */
__attribute__((noinline)) static void timed_acquisition(gilt_thread *t, uint32_t api, uint64_t site, uint32_t flags, uint64_t at,
                                                        uint64_t waited) {
    if (flags & GILT_HOLD_SAMPLED) {
        if (t->exact_left > 0) {
            /* Still in the thread's first acquisitions: every one is timed and stands for itself (no flag). */
            t->exact_left--;
            /* The next one too; after the last, a random interval like any other (never a sure pick). */
            t->sample_left = t->exact_left > 0 ? 1 : (int)next_sample_interval(t);
            flags &= ~(uint32_t)GILT_HOLD_SAMPLED;
        } else {
            t->sample_left = (int)next_sample_interval(t);
        }
    }
    if (!at) at = gilt_now();
    gilt_tick_advance(at);
    t->acquired_at = at;
    t->acquired_flags = flags;
    gilt_emit_at(t, at, GILT_GIL_ACQUIRE, api, (uint16_t)flags, waited, 0, site);
}

/* Ticks waited by an acquisition whose wait was timed from its start (t->wait_started is then a TSC value). */
static inline uint64_t timed_wait(gilt_thread *t, uint64_t at) {
    return t->wait_started > GILT_WAIT_UNTIMED && at > t->wait_started ? at - t->wait_started : 0;
}

/* An acquisition that waited inside CPython (sampled timeline). A wait the countdown was about to pick was timed from
   its start (see interpreter_wait); any other only noted the coarse clock, and if the clock moved during the wait,
   the TSC is read now to bound the wait from below. The acquisition is recorded when the wait was long (1 ms or
   more), or when the countdown picks it like any other. */
__attribute__((noinline)) static void contended_acquisition(gilt_thread *t, uint32_t api, uint64_t site) {
    int picked = --t->sample_left <= 0;
    uint64_t at = 0, waited = 0;
    if (t->wait_started > GILT_WAIT_UNTIMED) {
        at = gilt_now();
        waited = timed_wait(t, at);
    } else {
        uint64_t seq = atomic_load_explicit(&gilt_tick, memory_order_relaxed);
        if (seq != t->wait_tick && t->wait_tick != 0) {
            at = gilt_now();
            uint64_t since = gilt_tick_after(t->wait_tick, seq);
            waited = since && at > since ? at - since : 0;
        }
    }
    uint32_t flags = waited >= gilt_config.long_wait_ticks ? GILT_HOLD_WAITED : 0;
    if (flags || picked) timed_acquisition(t, api, site, flags | (picked ? GILT_HOLD_SAMPLED : 0), at, waited);
}

/* The user's code took the GIL (outermost). A wait inside CPython, if any, started at t->wait_started. Uncontended
   and unsampled, this is a handful of stores and one load of the coarse clock. */
static inline __attribute__((always_inline)) void gil_taken(gilt_thread *t, uint32_t api, uint64_t site) {
    t->gil = 1;
    t->acquired_site = site;
    t->acquired_api = api;
    t->acquisitions++;
    t->acquired_at = 0; /* untimed unless timed below (a second acquisition without a release must not inherit) */
    int mode = gilt_config.timeline;
    if (LIKELY(mode == GILT_TIMELINE_SAMPLED)) {
        t->acquired_tick = atomic_load_explicit(&gilt_tick, memory_order_relaxed);
        if (UNLIKELY(t->wait_started != 0)) contended_acquisition(t, api, site);
        else if (UNLIKELY(--t->sample_left <= 0)) timed_acquisition(t, api, site, GILT_HOLD_SAMPLED, 0, 0);
    } else if (mode == GILT_TIMELINE_EXACT) {
        uint64_t at = gilt_now();
        timed_acquisition(t, api, site, 0, at, timed_wait(t, at));
    }
}

/* Records the release of a timed hold (or, with the exact timeline, every release). */
__attribute__((noinline)) static void timed_release(gilt_thread *t, uint32_t api, uint64_t site) {
    uint64_t at = gilt_now();
    gilt_tick_advance(at);
    uint64_t held = t->gil == 1 && t->acquired_at ? at - t->acquired_at : 0;
    uint32_t flags = gilt_config.timeline == GILT_TIMELINE_SAMPLED ? t->acquired_flags : 0;
    if (flags && held > gilt_config.long_hold_ticks) flags |= GILT_HOLD_LONG;
    gilt_emit_at(t, at, GILT_GIL_RELEASE, api, (uint16_t)flags, held, t->acquired_site, site);
}

/* An untimed hold during which the coarse clock moved: it lasted at least from the clock's first moment after the
   acquisition until now. When that is longer than the long-hold threshold the hold is recorded now, as a pair, the
   acquisition dated back by that lower bound. */
__attribute__((noinline)) static void untimed_hold_ended(gilt_thread *t, uint32_t api, uint64_t site, uint64_t seq) {
    uint64_t at = gilt_now();
    gilt_tick_advance(at);
    uint64_t since = gilt_tick_after(t->acquired_tick, seq);
    if (since == 0 || at <= since) return;
    uint64_t held = at - since;
    if (held <= gilt_config.long_hold_ticks) return;
    gilt_emit_at(t, since, GILT_GIL_ACQUIRE, t->acquired_api, GILT_HOLD_LONG, 0, 0, t->acquired_site);
    gilt_emit_at(t, at, GILT_GIL_RELEASE, api, GILT_HOLD_LONG, held, t->acquired_site, site);
}

/* The user's code let the GIL go (outermost). */
static inline __attribute__((always_inline)) void gil_dropped(gilt_thread *t, uint32_t api, uint64_t site) {
    if (UNLIKELY(t->acquired_at != 0) || UNLIKELY(gilt_config.timeline == GILT_TIMELINE_EXACT)) {
        timed_release(t, api, site);
    } else if (t->acquired_tick && t->gil == 1) {
        uint64_t seq = atomic_load_explicit(&gilt_tick, memory_order_relaxed);
        if (UNLIKELY(seq != t->acquired_tick)) untimed_hold_ended(t, api, site, seq);
    }
    t->gil = 0;
    t->acquired_at = 0;
}

/* The GIL is about to be waited for (the watchdog tells successive waits apart by wait_seq + acquisitions: every
   GIL wait in the hooks ends with an acquisition, so it need not bump wait_seq). */
static inline void begin_gil_wait(gilt_thread *t) {
    t->wait_started = 0;
    atomic_store_explicit(&t->waiting_on, GILT_LOCK_GIL, memory_order_release);
}

static inline void begin_wait(gilt_thread *t, uint64_t lock) {
    atomic_store_explicit(&t->wait_seq, atomic_load_explicit(&t->wait_seq, memory_order_relaxed) + 1, memory_order_relaxed);
    atomic_store_explicit(&t->waiting_on, lock, memory_order_release);
}

static inline void end_wait(gilt_thread *t) { atomic_store_explicit(&t->waiting_on, 0, memory_order_release); }

/* Every hook below has a fast path for the common case (the thread's state is known and nothing is wrong) and
   leaves the rest to a general path. The hooks are only installed when the real function was found. */

__attribute__((noinline)) static void *ensure_general(gilt_thread *t, uint64_t site) {
    if (!t) return real_Ensure();
    /* The thread's own record decides when it is definite: 1 after its own acquisition, 0 after its own release
       with no mutex held (the only case where a wrong "not held" could add a false lock-order edge). Otherwise
       CPython is asked. */
    int was_held = t->gil == 0 && t->held_count == 0 ? 0 : gilt_gil_held(t);
    if (!was_held) {
        if (t->held_count) gilt_note_acquire(t, GILT_LOCK_GIL, site);
        begin_gil_wait(t);
    }
    void *r = real_Ensure();
    if (t->ensure_depth < GILT_MAX_ENSURE) {
        t->ensure_site[t->ensure_depth] = site;
        if (was_held) t->ensure_was_held |= 1ull << t->ensure_depth;
        else t->ensure_was_held &= ~(1ull << t->ensure_depth);
    }
    t->ensure_depth++;
    if (!was_held) {
        end_wait(t);
        gil_taken(t, GILT_API_GILSTATE_ENSURE, site);
    } else {
        t->gil = 1;
    }
    return r;
}

static void *hook_Ensure(void) {
    uint64_t site = RETURN_PC();
    gilt_thread *t = gilt_self;
    if (UNLIKELY(t == NULL) || UNLIKELY(t->ensure_depth >= GILT_MAX_ENSURE)) return ensure_general(gilt_thread_state(), site);
    int d = t->ensure_depth;
    if (t->gil == 1) { /* nested: the GIL stays as it is */
        t->ensure_site[d] = site;
        t->ensure_was_held |= 1ull << d;
        t->ensure_depth = d + 1;
        return real_Ensure();
    }
    if (UNLIKELY(t->gil != 0) || UNLIKELY(t->held_count != 0)) return ensure_general(t, site);
    begin_gil_wait(t);
    void *r = real_Ensure();
    end_wait(t);
    t->ensure_site[d] = site;
    t->ensure_was_held &= ~(1ull << d);
    t->ensure_depth = d + 1;
    gil_taken(t, GILT_API_GILSTATE_ENSURE, site);
    return r;
}

__attribute__((noinline)) static void release_general(int state, uint64_t site) {
    gilt_thread *t = gilt_thread_state();
    if (t) {
        if (t->ensure_depth == 0) {
            gilt_report(GILT_F_RELEASE_WITHOUT_ENSURE, GILT_API_GILSTATE_RELEASE, (uint64_t)gilt_python_holds_gil(), 0, site);
        } else {
            t->ensure_depth--;
            int was_held = t->ensure_depth < GILT_MAX_ENSURE ? (int)((t->ensure_was_held >> t->ensure_depth) & 1) : 1;
            if (!was_held) gil_dropped(t, GILT_API_GILSTATE_RELEASE, site);
        }
    }
    real_Release(state);
}

static void hook_Release(int state) {
    gilt_thread *t = gilt_self;
    if (UNLIKELY(t == NULL) || UNLIKELY(t->ensure_depth - 1u >= GILT_MAX_ENSURE)) {
        release_general(state, RETURN_PC());
        return;
    }
    int d = --t->ensure_depth;
    if (!((t->ensure_was_held >> d) & 1)) gil_dropped(t, GILT_API_GILSTATE_RELEASE, RETURN_PC());
    real_Release(state);
}

__attribute__((noinline)) static void *save_general(uint64_t site) {
    gilt_thread *t = gilt_thread_state();
    if (t) {
        if (!gilt_gil_held(t) && !gilt_python_holds_gil())
            gilt_report(GILT_F_RELEASE_WITHOUT_ENSURE, GILT_API_SAVE_THREAD, 0, 0, site);
        t->save_depth++;
        gil_dropped(t, GILT_API_SAVE_THREAD, site);
    }
    return real_Save();
}

static void *hook_Save(void) {
    gilt_thread *t = gilt_self;
    if (UNLIKELY(t == NULL) || UNLIKELY(t->gil != 1)) return save_general(RETURN_PC());
    t->save_depth++;
    gil_dropped(t, GILT_API_SAVE_THREAD, RETURN_PC());
    return real_Save();
}

/* Takes the GIL through `real` (RestoreThread, AcquireThread, the old AcquireLock). */
static inline __attribute__((always_inline)) void take_gil(gilt_thread *t, uint32_t api, void (*real)(void *), void *tstate, uint64_t site) {
    if (UNLIKELY(t->held_count != 0)) gilt_note_acquire(t, GILT_LOCK_GIL, site);
    begin_gil_wait(t);
    real(tstate);
    end_wait(t);
    gil_taken(t, api, site);
}

static void take_thread(uint32_t api, void (*real)(void *), void *tstate, uint64_t site) {
    gilt_thread *t = gilt_thread_state();
    if (!t) { real(tstate); return; }
    take_gil(t, api, real, tstate, site);
}

__attribute__((noinline)) static void restore_general(void *tstate, uint64_t site) {
    gilt_thread *t = gilt_thread_state();
    if (t) {
        if (t->save_depth == 0)
            gilt_report(GILT_F_RELEASE_WITHOUT_ENSURE, GILT_API_RESTORE_THREAD, (uint64_t)gilt_python_holds_gil(), 0, site);
        else
            t->save_depth--;
    }
    take_thread(GILT_API_RESTORE_THREAD, real_Restore, tstate, site);
}

static void hook_Restore(void *tstate) {
    uint64_t site = RETURN_PC();
    gilt_thread *t = gilt_self;
    if (UNLIKELY(t == NULL) || UNLIKELY(t->save_depth == 0)) { restore_general(tstate, site); return; }
    t->save_depth--;
    take_gil(t, GILT_API_RESTORE_THREAD, real_Restore, tstate, site);
}

static void hook_AcquireThread(void *tstate) { take_thread(GILT_API_ACQUIRE_THREAD, real_AcquireThread, tstate, RETURN_PC()); }

static void hook_ReleaseThread(void *tstate) {
    uint64_t site = RETURN_PC();
    gilt_thread *t = gilt_thread_state();
    if (t) {
        if (!gilt_gil_held(t) && !gilt_python_holds_gil())
            gilt_report(GILT_F_RELEASE_WITHOUT_ENSURE, GILT_API_RELEASE_THREAD, 0, 0, site);
        gil_dropped(t, GILT_API_RELEASE_THREAD, site);
    }
    if (real_ReleaseThread) real_ReleaseThread(tstate);
}

static void acquire_lock(void *unused) { (void)unused; if (real_AcquireLock) real_AcquireLock(); }

static void hook_AcquireLock(void) { take_thread(GILT_API_ACQUIRE_LOCK, acquire_lock, NULL, RETURN_PC()); }

static void hook_ReleaseLock(void) {
    uint64_t site = RETURN_PC();
    gilt_thread *t = gilt_thread_state();
    if (t) gil_dropped(t, GILT_API_RELEASE_LOCK, site);
    if (real_ReleaseLock) real_ReleaseLock();
}

static void hook_InitThreads(void) { if (real_InitThreads) real_InitThreads(); }
static int hook_Check(void) { return real_Check ? real_Check() : 1; }

static void initialized(uint32_t api, uint64_t site) {
    gilt_resolve_python();
    gilt_thread *t = gilt_thread_state();
    if (t) { t->wait_started = 0; gil_taken(t, api, site); }
}

static void hook_Initialize(void) { uint64_t s = RETURN_PC(); if (real_Initialize) real_Initialize(); initialized(GILT_API_INITIALIZE, s); }
static void hook_InitializeEx(int i) { uint64_t s = RETURN_PC(); if (real_InitializeEx) real_InitializeEx(i); initialized(GILT_API_INITIALIZE, s); }

/* PyStatus is returned in memory (a hidden pointer in %rdi): forward that pointer unchanged. */
static void *hook_InitializeFromConfig(void *out, const void *config) {
    uint64_t s = RETURN_PC();
    void *r = real_InitializeFromConfig ? real_InitializeFromConfig(out, config) : out;
    initialized(GILT_API_INITIALIZE, s);
    return r;
}

static void finalized(uint64_t site) {
    gilt_thread *t = gilt_thread_state();
    if (t) { gil_dropped(t, GILT_API_FINALIZE, site); t->gil = -1; t->ensure_depth = 0; t->save_depth = 0; }
}

static void hook_Finalize(void) { uint64_t s = RETURN_PC(); if (real_Finalize) real_Finalize(); finalized(s); }
static int hook_FinalizeEx(void) { uint64_t s = RETURN_PC(); int r = real_FinalizeEx ? real_FinalizeEx() : 0; finalized(s); return r; }

/* Each hook with the real function it forwards to: no hook is installed for a function that was not found. */
static const struct { const char *name; void *hook; void **real; } gil_hooks[] = {
    {"PyGILState_Ensure", (void *)hook_Ensure, (void **)&real_Ensure},
    {"PyGILState_Release", (void *)hook_Release, (void **)&real_Release},
    {"PyGILState_Check", (void *)hook_Check, (void **)&real_Check},
    {"PyEval_SaveThread", (void *)hook_Save, (void **)&real_Save},
    {"PyEval_RestoreThread", (void *)hook_Restore, (void **)&real_Restore},
    {"PyEval_AcquireThread", (void *)hook_AcquireThread, (void **)&real_AcquireThread},
    {"PyEval_ReleaseThread", (void *)hook_ReleaseThread, (void **)&real_ReleaseThread},
    {"PyEval_AcquireLock", (void *)hook_AcquireLock, (void **)&real_AcquireLock},
    {"PyEval_ReleaseLock", (void *)hook_ReleaseLock, (void **)&real_ReleaseLock},
    {"PyEval_InitThreads", (void *)hook_InitThreads, (void **)&real_InitThreads},
    {"Py_Initialize", (void *)hook_Initialize, (void **)&real_Initialize},
    {"Py_InitializeEx", (void *)hook_InitializeEx, (void **)&real_InitializeEx},
    {"Py_InitializeFromConfig", (void *)hook_InitializeFromConfig, (void **)&real_InitializeFromConfig},
    {"Py_Finalize", (void *)hook_Finalize, (void **)&real_Finalize},
    {"Py_FinalizeEx", (void *)hook_FinalizeEx, (void **)&real_FinalizeEx},
};

static int hook_mutex_lock(pthread_mutex_t *m);
static int hook_mutex_trylock(pthread_mutex_t *m);
static int hook_mutex_unlock(pthread_mutex_t *m);

HIDDEN void *gilt_hook_for(const char *name) {
    if (name[0] == 'p') {
        if (strcmp(name, "pthread_mutex_lock") == 0) return (void *)hook_mutex_lock;
        if (strcmp(name, "pthread_mutex_trylock") == 0) return (void *)hook_mutex_trylock;
        if (strcmp(name, "pthread_mutex_unlock") == 0) return (void *)hook_mutex_unlock;
        return NULL;
    }
    if (name[0] != 'P') return NULL;
    for (size_t i = 0; i < sizeof gil_hooks / sizeof *gil_hooks; i++)
        if (strcmp(gil_hooks[i].name, name) == 0) {
            gilt_resolve_python();
            return *gil_hooks[i].real ? gil_hooks[i].hook : NULL;
        }
    return NULL;
}

/* ---- Thread start and exit. */
static int (*real_pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static pthread_key_t exit_key;

struct start { void *(*fn)(void *); void *arg; uint32_t parent; uint64_t site; };

HIDDEN void gilt_thread_exit_checks(gilt_thread *t, int at_process_exit) {
    if (!t || t->internal || atomic_exchange(&t->exited, 1)) return;
    int depth = t->ensure_depth;
    if (depth > 0) {
        int top = depth <= GILT_MAX_ENSURE ? depth - 1 : GILT_MAX_ENSURE - 1;
        uint64_t site = t->ensure_site[top];
        gilt_emit_for(t, t->tid, GILT_FINDING, GILT_F_ENSURE_LEAK_AT_EXIT, (uint16_t)depth, site,
                      (uint64_t)at_process_exit, site, &site, 1);
    } else if (t->gil == 1 && !at_process_exit) {
        gilt_emit_for(t, t->tid, GILT_FINDING, GILT_F_THREAD_EXIT_HOLDING_GIL, 0, t->acquired_site, 0,
                      t->acquired_site, &t->acquired_site, 1);
    }
    if (!at_process_exit) {
        if (t->acquisitions) gilt_emit_for(t, t->tid, GILT_ACQUISITION_COUNT, 0, 0, t->acquisitions, 0, 0, NULL, 0);
        gilt_emit_for(t, t->tid, GILT_THREAD_EXIT, 0, 0, (uint64_t)(t->gil == 1), (uint64_t)depth, 0, NULL, 0);
        gilt_flush(t);
    }
}

static void on_thread_exit(void *p) { gilt_thread_exit_checks(p, 0); }

static void *thread_start(void *p) {
    struct start s = *(struct start *)p;
    free(p);
    gilt_thread *t = gilt_thread_state();
    if (t) {
        pthread_setspecific(exit_key, t);
        gilt_emit_for(t, t->tid, GILT_THREAD_START, 0, 0, s.parent, (uint64_t)s.fn, s.site, NULL, 0);
    }
    return s.fn(s.arg);
}

__attribute__((visibility("default"))) int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                                                          void *(*fn)(void *), void *arg) {
    if (!real_pthread_create) real_pthread_create = (__typeof__(real_pthread_create))dlsym(RTLD_NEXT, "pthread_create");
    uint64_t site = RETURN_PC();
    if (!gilt_config.ready || gilt_busy) return real_pthread_create(th, attr, fn, arg);
    gilt_need_watchdog(); /* the process gets its second thread */
    struct start *s = malloc(sizeof *s);
    if (!s) return real_pthread_create(th, attr, fn, arg);
    gilt_thread *me = gilt_thread_state();
    *s = (struct start){fn, arg, me ? me->tid : 0, site};
    int rc = real_pthread_create(th, attr, thread_start, s);
    if (rc != 0) free(s);
    return rc;
}

/* ---- Mutexes. Only the user's own lock calls enter the lock graph; the interpreter's GIL mutex and condition
 * variable (inside _PyRuntime) tell the watchdog that a thread is waiting for the GIL inside CPython. */
extern int __pthread_mutex_lock(pthread_mutex_t *);
extern int __pthread_mutex_trylock(pthread_mutex_t *);
extern int __pthread_mutex_unlock(pthread_mutex_t *);

static void held_push(gilt_thread *t, uint64_t m, uint64_t site) {
    if (t->held_count < GILT_MAX_HELD) { t->held_lock[t->held_count] = m; t->held_site[t->held_count] = site; t->held_count++; }
}

static void held_remove(gilt_thread *t, uint64_t m) {
    for (int i = t->held_count - 1; i >= 0; i--)
        if (t->held_lock[i] == m) {
            for (int j = i; j + 1 < t->held_count; j++) { t->held_lock[j] = t->held_lock[j + 1]; t->held_site[j] = t->held_site[j + 1]; }
            t->held_count--;
            return;
        }
}

/* The user's mutex calls reach these through their patched GOT slots; everyone else's go straight to libc. */
static int hook_mutex_lock(pthread_mutex_t *m) {
    uint64_t site = RETURN_PC();
    gilt_thread *t = gilt_thread_state();
    if (!t || gilt_busy) return __pthread_mutex_lock(m);
    gilt_busy = 1;
    gilt_note_acquire(t, (uint64_t)m, site);
    gilt_busy = 0;
    int rc = __pthread_mutex_trylock(m);
    /* Only a busy mutex is waited for: other errors (and a robust mutex's EOWNERDEAD, which hands it over) are
       the caller's answer as they are. */
    if (rc == EBUSY) {
        gilt_need_watchdog(); /* in a single-threaded process, only a self-deadlock makes this wait */
        uint64_t t0 = gilt_now();
        begin_wait(t, (uint64_t)m);
        rc = __pthread_mutex_lock(m);
        end_wait(t);
        uint64_t waited = gilt_now() - t0;
        if (gilt_ticks_to_ns(waited) > 1000000) gilt_emit_for(t, t->tid, GILT_MUTEX_WAIT, 0, 0, (uint64_t)m, waited, site, NULL, 0);
    }
    if (rc == 0 || rc == EOWNERDEAD) held_push(t, (uint64_t)m, site);
    return rc;
}

static int hook_mutex_trylock(pthread_mutex_t *m) {
    uint64_t site = RETURN_PC();
    int rc = __pthread_mutex_trylock(m);
    gilt_thread *t = gilt_self;
    if (rc == 0 && t && !gilt_busy) held_push(t, (uint64_t)m, site);
    return rc;
}

static int hook_mutex_unlock(pthread_mutex_t *m) {
    gilt_thread *t = gilt_self;
    if (t && t->held_count) held_remove(t, (uint64_t)m);
    return __pthread_mutex_unlock(m);
}

/* The interpreter's unlocks, once some thread has waited for the GIL inside CPython: the unlock of the GIL's own
   mutex (inside _PyRuntime) after such a wait means the thread got the GIL. Installed into the interpreter's GOT
   on the first wait, so a run without GIL contention never pays for it. */
static int interpreter_mutex_unlock(pthread_mutex_t *m) {
    gilt_thread *t = gilt_self;
    if (__builtin_expect(t != NULL && t->waiting_in_interpreter, 0) && gilt_in_runtime_object(m)) {
        t->waiting_in_interpreter = 0;
        end_wait(t);
    }
    return __pthread_mutex_unlock(m);
}

static _Atomic int interpreter_unlock_hooked;

static int (*real_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
static int (*real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);

static void interpreter_wait(pthread_cond_t *c) {
    gilt_thread *t = gilt_self;
    if (!t || !gilt_in_runtime_object(c)) return;
    /* A re-wait (CPython wakes every 5 ms to ask the holder to drop the GIL) keeps the coarse clock fresh while some
       thread holds the GIL long. */
    if (t->waiting_in_interpreter) {
        if (gilt_config.timeline == GILT_TIMELINE_SAMPLED) gilt_tick_advance(gilt_now());
        return;
    }
    {
        /* 0: not yet, 1: being installed, 2: installed. Nobody waits before the hook is in place, or the unlock
           that ends its wait could bypass it. */
        if (atomic_load_explicit(&interpreter_unlock_hooked, memory_order_acquire) != 2) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&interpreter_unlock_hooked, &expected, 1)) {
                gilt_patch_interpreter("pthread_mutex_unlock", (void *)interpreter_mutex_unlock);
                atomic_store_explicit(&interpreter_unlock_hooked, 2, memory_order_release);
            } else {
                while (atomic_load_explicit(&interpreter_unlock_hooked, memory_order_acquire) != 2) __builtin_ia32_pause();
            }
        }
        gilt_need_watchdog();
        t->waiting_in_interpreter = 1;
        /* The wait's start: the TSC when this acquisition will be timed anyway (the exact timeline, or the sampling
           countdown's next pick), else only the coarse clock (a wait is timed from below later if the clock moved). */
        if (!t->wait_started) {
            if (gilt_config.timeline == GILT_TIMELINE_EXACT || (gilt_config.timeline == GILT_TIMELINE_SAMPLED && t->sample_left <= 1)) {
                t->wait_started = gilt_now();
            } else if (gilt_config.timeline == GILT_TIMELINE_SAMPLED) {
                t->wait_started = GILT_WAIT_UNTIMED;
                t->wait_tick = atomic_load_explicit(&gilt_tick, memory_order_relaxed);
            }
        }
        begin_wait(t, GILT_LOCK_GIL);
    }
}

__attribute__((visibility("default"))) int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
    if (!real_cond_wait) real_cond_wait = (__typeof__(real_cond_wait))dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.3.2");
    interpreter_wait(c);
    return real_cond_wait(c, m);
}

__attribute__((visibility("default"))) int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *ts) {
    if (!real_cond_timedwait)
        real_cond_timedwait = (__typeof__(real_cond_timedwait))dlvsym(RTLD_NEXT, "pthread_cond_timedwait", "GLIBC_2.3.2");
    interpreter_wait(c);
    return real_cond_timedwait(c, m, ts);
}

/* ---- dlopen: modules loaded later (Python extension modules, a host's plugin) get patched too. */
__attribute__((visibility("default"))) void *dlopen(const char *file, int mode) {
    static void *(*real_dlopen)(const char *, int);
    if (!real_dlopen) real_dlopen = (__typeof__(real_dlopen))dlsym(RTLD_NEXT, "dlopen");
    void *h = real_dlopen(file, mode);
    if (h && gilt_config.ready && !gilt_busy) gilt_scan_modules();
    return h;
}

/* ---- Start-up, fork and process exit. */

static _Atomic int end_noted;

HIDDEN void gilt_note_process_end(uint32_t how, uint64_t value, uint64_t held_gil) {
    if (!gilt_config.ready || atomic_exchange(&end_noted, 1)) return;
    gilt_thread *t = gilt_thread_state();
    gilt_emit_for(t, t ? t->tid : gilt_gettid(), GILT_PROCESS_END, how, 0, value, held_gil, 0, NULL, 0);
}

HIDDEN int gilt_process_holds_gil(void) {
    uint32_t pid = (uint32_t)getpid();
    int n = atomic_load(&gilt_thread_count);
    for (int i = 0; i < n && i < GILT_MAX_THREADS; i++) {
        gilt_thread *t = gilt_threads[i];
        if (t && t->pid == pid && !t->internal && !atomic_load(&t->exited) && t->gil == 1) return 1;
    }
    /* Unknown to the bookkeeping (the interpreter took it, as for Python code): CPython knows for this thread. */
    gilt_thread *me = gilt_self;
    return me && me->gil == -1 && real_IsInitialized && real_Check && real_IsInitialized() && real_Check();
}

static void (*real_exit)(int), (*real__exit)(int), (*real__Exit)(int);
static pid_t (*real_waitpid)(pid_t, int *, int), (*real_wait)(int *), (*real_wait4)(pid_t, int *, int, struct rusage *);

/* Normally resolved at start-up; looked up here when called before it (from another library's constructor). */
#define REAL(var, name) (var ? var : (var = (__typeof__(var))dlsym(RTLD_NEXT, name)))

HIDDEN void gilt_real_exit(int status) {
    REAL(real__exit, "_exit")(status);
    __builtin_unreachable();
}

/* The end of the process's tracing: counts and Ensure checks of the threads still running, then every log out.
   Run by the exit handlers, or by the _exit hook (which skips them). Once. */
/* GILCHECK_TRACE_TIMING set: the constructor's phases and the exit's flush, in microseconds, on stderr (for
   bench/trace-overhead; a traced run's output is otherwise untouched). */
static int timing_enabled;

static void finish_process(void) {
    static _Atomic int finished;
    if (atomic_exchange(&finished, 1)) return;
    uint64_t finish_start = timing_enabled ? gilt_monotonic_ns() : 0;
    int n = atomic_load(&gilt_thread_count);
    gilt_thread *me = gilt_thread_state();
    for (int i = 0; i < n && i < GILT_MAX_THREADS; i++) {
        gilt_thread *t = gilt_threads[i];
        if (t && t->pid == (uint32_t)getpid() && !atomic_load(&t->exited)) {
            /* Into this thread's own log (the other thread may still be writing its own). */
            if (me && t->acquisitions) gilt_emit_for(me, t->tid, GILT_ACQUISITION_COUNT, 0, 0, t->acquisitions, 0, 0, NULL, 0);
            if (t->ensure_depth > 0) gilt_thread_exit_checks(t, 1);
        }
    }
    uint64_t dropped = atomic_load(&gilt_dropped);
    if (dropped) gilt_emit(GILT_DROPPED, 0, 0, dropped, 0, 0, NULL, 0);
    gilt_flush_all();
    if (timing_enabled) {
        char line[96];
        int len = snprintf(line, sizeof line, "gilcheck-trace timing: pid %d exit flush %llu us\n", (int)getpid(),
                           (unsigned long long)((gilt_monotonic_ns() - finish_start) / 1000));
        if (len > 0) (void)!write(2, line, (size_t)len);
    }
}

static void at_exit(void) {
    /* main returned, or exit() was called from inside libc: the status is not known here (the parent learns it). */
    gilt_note_process_end(GILT_END_EXIT_UNKNOWN, 0, 0);
    finish_process();
}

/* exit(), _exit() and _Exit() say how the process ends; _exit and _Exit skip the exit handlers, so they finish the
   tracing themselves (a forked child usually leaves with _exit: its logs would be lost). */
__attribute__((visibility("default"), noreturn)) void exit(int status) {
    gilt_note_process_end(GILT_END_EXIT, (uint64_t)(status & 0xff), 0);
    REAL(real_exit, "exit")(status);
    __builtin_unreachable();
}

__attribute__((visibility("default"), noreturn)) void _exit(int status) {
    gilt_note_process_end(GILT_END_EXIT, (uint64_t)(status & 0xff), 0);
    if (gilt_config.ready) finish_process();
    REAL(real__exit, "_exit")(status);
    __builtin_unreachable();
}

__attribute__((visibility("default"), noreturn)) void _Exit(int status) {
    gilt_note_process_end(GILT_END_EXIT, (uint64_t)(status & 0xff), 0);
    if (gilt_config.ready) finish_process();
    REAL(real__Exit, "_Exit")(status);
    __builtin_unreachable();
}

/* A reaped child's end, as its parent saw it: the only word on a child killed by SIGKILL, or whose main returned. */
static void reaped(pid_t pid, int status) {
    if (pid > 0 && gilt_config.ready && !gilt_busy && (WIFEXITED(status) || WIFSIGNALED(status)))
        gilt_emit(GILT_CHILD_END, 0, 0, (uint64_t)pid, (uint64_t)(uint32_t)status, 0, NULL, 0);
}

__attribute__((visibility("default"))) pid_t waitpid(pid_t pid, int *status, int options) {
    int local = 0;
    pid_t r = REAL(real_waitpid, "waitpid")(pid, status ? status : &local, options);
    reaped(r, status ? *status : local);
    return r;
}

__attribute__((visibility("default"))) pid_t wait(int *status) {
    int local = 0;
    pid_t r = REAL(real_wait, "wait")(status ? status : &local);
    reaped(r, status ? *status : local);
    return r;
}

__attribute__((visibility("default"))) pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage) {
    int local = 0;
    pid_t r = REAL(real_wait4, "wait4")(pid, status ? status : &local, options, usage);
    reaped(r, status ? *status : local);
    return r;
}

/* PROCESS_START: pid, parent, and the command line. */
static void emit_process_start(uint16_t flags) {
    char cmd[4096];
    size_t used = 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r;
        while (used < sizeof cmd - 1 && (r = read(fd, cmd + used, sizeof cmd - 1 - used)) > 0) used += (size_t)r;
        close(fd);
    }
    cmd[used] = 0;
    for (size_t i = 0; i + 1 < used; i++) if (cmd[i] == 0) cmd[i] = ' ';
    uint64_t words[256];
    uint16_t n = gilt_pack_string(cmd, words, 256);
    gilt_emit(GILT_PROCESS_START, 0, flags, (uint64_t)getpid(), (uint64_t)getppid(), 0, words, n);
}

/* In a child of fork(): the thread states are copies that write into the parent's files, so they start afresh,
   except that the forking thread goes on as it was: the GIL, the Ensure states and saved thread states, and the
   mutexes it held are still its own (PyOS_AfterFork_Child() keeps them, and the child releases them). */
static void after_fork_child(void) {
    gilt_thread *parent = gilt_self;
    gilt_self = NULL;
    atomic_store(&gilt_thread_count, 0);
    atomic_store(&gilt_watchdog_started, 0); /* the watchdog thread is not copied; a new one starts when needed */
    atomic_store(&gilt_tick, 0);
    atomic_store(&gilt_dying, 0);
    atomic_store(&end_noted, 0);
    if (!gilt_config.ready) return;
    gilt_thread *t = gilt_thread_state();
    if (!t) return;
    if (parent) {
        t->gil = parent->gil;
        t->ensure_depth = parent->ensure_depth;
        t->save_depth = parent->save_depth;
        t->ensure_was_held = parent->ensure_was_held;
        memcpy(t->ensure_site, parent->ensure_site, sizeof t->ensure_site);
        t->held_count = parent->held_count;
        memcpy(t->held_lock, parent->held_lock, sizeof t->held_lock);
        memcpy(t->held_site, parent->held_site, sizeof t->held_site);
        /* A hold in progress goes on untimed: its acquisition is in the parent's log. */
        t->acquired_site = parent->acquired_site;
        t->acquired_api = parent->acquired_api;
        t->random = parent->random;
        t->sample_left = parent->sample_left;
        t->exact_left = parent->exact_left;
        if (pthread_getspecific(exit_key)) pthread_setspecific(exit_key, t);
    }
    emit_process_start(GILT_PROCESS_FORKED);
    gilt_flush(t);
}

__attribute__((constructor)) static void gilt_init(void) {
    const char *timing = getenv("GILCHECK_TRACE_TIMING");
    timing_enabled = timing && *timing;
    uint64_t t_start = gilt_monotonic_ns();
    const char *dir = getenv("GILCHECK_TRACE_DIR");
    if (!dir || !*dir) dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(gilt_config.dir, sizeof gilt_config.dir, "%s", dir);
    const char *timeout = getenv("GILCHECK_TRACE_HANG_TIMEOUT_MS");
    gilt_config.hang_timeout_ns = (timeout && *timeout ? strtoull(timeout, NULL, 10) : 5000) * 1000000ull;
    /* GILCHECK_TRACE_TIMELINE: 0 (checks only), exact (every acquisition timed), else sampled (the default). */
    const char *timeline = getenv("GILCHECK_TRACE_TIMELINE");
    gilt_config.timeline = timeline && strcmp(timeline, "0") == 0       ? GILT_TIMELINE_OFF
                           : timeline && strcmp(timeline, "exact") == 0 ? GILT_TIMELINE_EXACT
                                                                        : GILT_TIMELINE_SAMPLED;
    const char *rate = getenv("GILCHECK_TRACE_SAMPLE");
    unsigned long r = rate && *rate ? strtoul(rate, NULL, 10) : 64;
    gilt_config.sample_rate = r < 1 ? 1 : r > 1000000 ? 1000000 : (uint32_t)r;
    const char *long_hold = getenv("GILCHECK_TRACE_LONG_HOLD_MS");
    unsigned long lh = long_hold && *long_hold ? strtoul(long_hold, NULL, 10) : 16;
    gilt_config.long_hold_ms = lh < 1 ? 1 : lh > 3600000 ? 3600000 : (uint32_t)lh;
    /* The watchdog's period: a twentieth of the hang timeout, at most 100 ms, and with a sampled timeline at most
       the long-hold threshold (it bounds how stale the coarse clock gets while no other thread waits). A fast
       watchdog costs the program: on a busy 2-core machine waking every 2 ms made a contended workload about 10%
       slower, every 100 ms nothing measurable. */
    uint64_t tick = gilt_config.hang_timeout_ns ? gilt_config.hang_timeout_ns / 1000000ull / 20 : 100;
    if (tick > 100) tick = 100;
    if (gilt_config.timeline == GILT_TIMELINE_SAMPLED && tick > gilt_config.long_hold_ms) tick = gilt_config.long_hold_ms;
    gilt_config.tick_ms = tick < 1 ? 1 : (uint32_t)tick;
    real_pthread_create = (__typeof__(real_pthread_create))dlsym(RTLD_NEXT, "pthread_create");
    /* Resolved now: a forked child of a threaded program must not take the loader's lock in dlsym. */
    real_exit = (__typeof__(real_exit))dlsym(RTLD_NEXT, "exit");
    real__exit = (__typeof__(real__exit))dlsym(RTLD_NEXT, "_exit");
    real__Exit = (__typeof__(real__Exit))dlsym(RTLD_NEXT, "_Exit");
    real_waitpid = (__typeof__(real_waitpid))dlsym(RTLD_NEXT, "waitpid");
    real_wait = (__typeof__(real_wait))dlsym(RTLD_NEXT, "wait");
    real_wait4 = (__typeof__(real_wait4))dlsym(RTLD_NEXT, "wait4");
    pthread_key_create(&exit_key, on_thread_exit);
    pthread_atfork(NULL, NULL, after_fork_child);
    uint64_t t_setup = gilt_monotonic_ns();
    gilt_clock_init();
    uint64_t t_clock = gilt_monotonic_ns();
    gilt_config.tick_gap = gilt_ns_to_ticks(1000000ull);
    gilt_config.long_hold_ticks = gilt_ns_to_ticks((uint64_t)gilt_config.long_hold_ms * 1000000ull);
    gilt_config.long_wait_ticks = gilt_ns_to_ticks(GILT_LONG_WAIT_NS);
    { void *warm[4]; backtrace(warm, 4); } /* loads the unwinder now, not inside a hook */
    uint64_t t_unwinder = gilt_monotonic_ns();
    gilt_load_watch_list(getenv("GILCHECK_TRACE_WATCH_FILE"));
    uint64_t t_watch = gilt_monotonic_ns();
    gilt_config.ready = 1;
    if (gilt_thread_state()) emit_process_start(0);
    uint64_t t_log = gilt_monotonic_ns();
    gilt_scan_modules();
    uint64_t t_patch = gilt_monotonic_ns();
    gilt_flush(gilt_self);
    gilt_install_crash_handlers();
    atexit(at_exit);
    if (timing_enabled) {
        uint64_t t_end = gilt_monotonic_ns();
        char line[320];
        int len = snprintf(line, sizeof line,
                           "gilcheck-trace timing: pid %d start-up %llu us: setup %llu, clock calibration %llu, unwinder %llu, "
                           "watch list %llu, log and process record %llu, module scan and GOT patching %llu, rest %llu\n",
                           (int)getpid(), (unsigned long long)((t_end - t_start) / 1000),
                           (unsigned long long)((t_setup - t_start) / 1000), (unsigned long long)((t_clock - t_setup) / 1000),
                           (unsigned long long)((t_unwinder - t_clock) / 1000), (unsigned long long)((t_watch - t_unwinder) / 1000),
                           (unsigned long long)((t_log - t_watch) / 1000), (unsigned long long)((t_patch - t_log) / 1000),
                           (unsigned long long)((t_end - t_patch) / 1000));
        if (len > 0) (void)!write(2, line, (size_t)len);
    }
}
