/* Internal declarations of the gilcheck trace library. Nothing here is exported from the shared object. */
#ifndef GILT_SHIM_H
#define GILT_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "gilcheck_trace_format.h"

#define HIDDEN __attribute__((visibility("hidden")))
/* Thread-local state in the initial-exec model: one %fs-relative load, no __tls_get_addr call per access. */
#define TLS_IE __attribute__((tls_model("initial-exec")))
#define RETURN_PC() ((uint64_t)__builtin_extract_return_addr(__builtin_return_address(0)))

#define GILT_BUFFER (256u << 10)
#define GILT_MAX_THREADS 8192
#define GILT_MAX_ENSURE 64
#define GILT_MAX_HELD 16
#define GILT_STACK_DEPTH 32
/* A sampled timeline still times every one of a thread's first acquisitions: short runs keep their whole picture. */
#define GILT_EXACT_FIRST 256
#define GILT_WAIT_UNTIMED 1

/* The hooks touch the first two cache lines on every call; the arrays and the watchdog's stack buffer follow. */
typedef struct gilt_thread {
    /* GIL bookkeeping of the user's calls. gil: 1 held, 0 not held, -1 unknown (ask CPython). */
    int gil;
    int ensure_depth;
    int save_depth;
    int held_count; /* mutexes the user's code holds (held_lock/held_site) */
    int waiting_in_interpreter;
    int fd;
    uint64_t ensure_was_held; /* bit i: the GIL was already held at Ensure number i */
    uint64_t acquired_at;     /* TSC at the current outermost acquisition when it is timed, else 0 */
    uint64_t acquired_site;
    uint64_t acquired_tick;   /* gilt_tick at the current outermost acquisition (0: the clock was not running) */
    uint32_t acquired_flags;  /* GILT_HOLD_* of the current outermost acquisition */
    uint32_t acquired_api;    /* gilt_api of the current outermost acquisition */
    uint64_t random;          /* xorshift state for the sampling intervals */
    int sample_left;          /* outermost acquisitions until the next timed one (sampled timeline) */
    int exact_left;           /* the first GILT_EXACT_FIRST outermost acquisitions of a thread are all timed */
    uint64_t acquisitions;    /* outermost acquisitions by the user's code, all of them */
    uint64_t wait_started; /* TSC at the first wait on the GIL's condition variable of the current acquisition;
                              GILT_WAIT_UNTIMED: it waited, but only wait_tick (the coarse clock) was noted */
    uint64_t wait_tick;
    /* Read by the watchdog: what the thread waits for, and a count of its mutex and interpreter waits (with
       `acquisitions` it tells one wait from the next, and measures how long the same wait lasts, so the hooks
       never read a clock for it). */
    _Atomic uint64_t waiting_on, wait_seq;
    char *buffer;            /* GILT_BUFFER bytes right after this struct */
    uint64_t used, flushed;  /* bytes of records in the buffer, and how many of them are written out */
    uint32_t tid, pid;
    _Atomic int exited;
    int internal; /* the watchdog's own thread */
    uint64_t ensure_site[GILT_MAX_ENSURE];
    uint64_t held_lock[GILT_MAX_HELD], held_site[GILT_MAX_HELD];
    /* Filled by the stack-sampling signal handler for the watchdog. */
    uint64_t stack[GILT_STACK_DEPTH];
    _Atomic int stack_words, stack_ready;
} gilt_thread;

/* What the timeline records (gilt_config.timeline). */
enum { GILT_TIMELINE_OFF = 0, GILT_TIMELINE_SAMPLED = 1, GILT_TIMELINE_EXACT = 2 };

struct gilt_config {
    char dir[4096];
    uint64_t hang_timeout_ns;
    int ready;
    /* GILT_TIMELINE_EXACT: time and record every GIL acquisition. GILT_TIMELINE_SAMPLED (the default): time and
       record a thread's first GILT_EXACT_FIRST acquisitions, then one in `sample_rate` (a random pick), plus every
       acquisition that waited GILT_LONG_WAIT_NS or more and every hold longer than `long_hold_ms`, the last two
       measured by the coarse clock when not picked. */
    int timeline;
    uint32_t sample_rate;
    uint32_t long_hold_ms;
    uint32_t tick_ms; /* period of the watchdog, which also advances gilt_tick */
    uint64_t tick_gap; /* TSC ticks between two advances of gilt_tick, at least (a millisecond) */
    uint64_t long_hold_ticks, long_wait_ticks; /* long_hold_ms and GILT_LONG_WAIT_NS in TSC ticks */
};

/* The coarse clock: a count of moments whose TSC times are kept in a ring (the last GILT_TICK_RING of them).
   Whoever reads the TSC anyway advances it, at most once per millisecond: a thread that starts or renews a wait for
   the GIL (CPython re-waits every 5 ms), a contended or a sampled acquisition, the watchdog at each wake. An
   acquisition stores the count, one load; a release that finds the count moved reads the TSC and knows the hold
   lasted at least from the moment after the acquisition's count (it started before that moment) until now. So a
   long hold is caught without timing every acquisition. 0 while the watchdog is not running (a single thread). */
#define GILT_TICK_RING 1024
extern HIDDEN _Atomic uint64_t gilt_tick;
HIDDEN void gilt_tick_start(uint64_t now);
HIDDEN void gilt_tick_advance(uint64_t now);
HIDDEN uint64_t gilt_tick_after(uint64_t seen, uint64_t now_seq);

extern HIDDEN struct gilt_config gilt_config;
extern HIDDEN gilt_thread *gilt_threads[GILT_MAX_THREADS];
extern HIDDEN _Atomic int gilt_thread_count;
extern HIDDEN _Atomic uint64_t gilt_dropped;
extern HIDDEN _Atomic int gilt_dying; /* the process is going: buffers are written out once, not reused */
extern HIDDEN __thread gilt_thread *gilt_self TLS_IE;
extern HIDDEN __thread int gilt_busy TLS_IE;

/* log.c */
HIDDEN void gilt_clock_init(void);
HIDDEN uint64_t gilt_now(void);
HIDDEN uint64_t gilt_monotonic_ns(void);
HIDDEN uint64_t gilt_ticks_to_ns(uint64_t ticks);
HIDDEN uint64_t gilt_ns_to_ticks(uint64_t ns);
HIDDEN uint32_t gilt_gettid(void);
HIDDEN gilt_thread *gilt_thread_state_slow(void);
/* This thread's state, created on first use; NULL while the tracer itself is creating it. */
static inline gilt_thread *gilt_thread_state(void) {
    gilt_thread *t = gilt_self;
    return __builtin_expect(t != NULL, 1) ? t : gilt_thread_state_slow();
}
HIDDEN void gilt_emit(uint16_t kind, uint32_t detail, uint16_t flags, uint64_t a, uint64_t b, uint64_t pc,
                      const uint64_t *payload, uint16_t words);
HIDDEN void gilt_emit_for(gilt_thread *t, uint32_t tid, uint16_t kind, uint32_t detail, uint16_t flags, uint64_t a,
                          uint64_t b, uint64_t pc, const uint64_t *payload, uint16_t words);
HIDDEN void gilt_emit_at(gilt_thread *t, uint64_t time, uint16_t kind, uint32_t detail, uint16_t flags, uint64_t a,
                         uint64_t b, uint64_t pc);
HIDDEN void gilt_flush(gilt_thread *t);
HIDDEN void gilt_flush_all(void);
HIDDEN void gilt_install_crash_handlers(void);
HIDDEN uint16_t gilt_pack_string(const char *s, uint64_t *words, uint16_t max_words);

/* modules.c: loaded objects, GOT patching, checking stubs */
HIDDEN void gilt_scan_modules(void);
HIDDEN int gilt_in_runtime_object(const void *p);
HIDDEN void gilt_load_watch_list(const char *path);
HIDDEN void *gilt_hook_for(const char *name);
HIDDEN void gilt_patch_interpreter(const char *name, void *hook);
HIDDEN void gilt_capture_stack(uint64_t *out, int *count, int skip);

/* gil.c */
HIDDEN int gilt_python_holds_gil(void);
HIDDEN int gilt_gil_held(gilt_thread *t);
HIDDEN void gilt_report(uint32_t finding, uint16_t api, uint64_t a, uint64_t b, uint64_t pc);
HIDDEN void gilt_resolve_python(void);
HIDDEN void gilt_note_acquire(gilt_thread *t, uint64_t lock, uint64_t site);
HIDDEN void gilt_thread_exit_checks(gilt_thread *t, int at_process_exit);
/* Records how the process ends (GILT_PROCESS_END), once; async-signal-safe. */
HIDDEN void gilt_note_process_end(uint32_t how, uint64_t value, uint64_t held_gil);
/* Whether a thread of this process holds the GIL (the bookkeeping, else CPython for the calling thread). */
HIDDEN int gilt_process_holds_gil(void);
/* libc's _exit, past the hook. */
HIDDEN __attribute__((noreturn)) void gilt_real_exit(int status);

/* watchdog.c */
/* Starts the watchdog thread once: when the process gets its second thread, or when a single thread is about to
   wait on a lock (only a self-deadlock can hang it then). Until then the process stays single-threaded, which
   keeps glibc's lock-free fast paths (its mutexes skip the lock prefix) as fast as in the untraced run. */
HIDDEN void gilt_start_watchdog(void);
extern HIDDEN _Atomic int gilt_watchdog_started;
static inline void gilt_need_watchdog(void) {
    if (__builtin_expect(!atomic_load_explicit(&gilt_watchdog_started, memory_order_relaxed), 0)) gilt_start_watchdog();
}

#endif
