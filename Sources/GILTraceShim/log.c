/* Per-thread event logs, the thread registry, clocks.
 *
 * Each thread appends records to a private buffer and writes it to its own file when the buffer fills, when the
 * thread ends, and right after a finding. When the process dies (abort, a fatal signal, the watchdog), the
 * handlers write every thread's buffer out before the process goes, so nothing recorded is lost. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

HIDDEN struct gilt_config gilt_config;
HIDDEN gilt_thread *gilt_threads[GILT_MAX_THREADS];
HIDDEN _Atomic int gilt_thread_count;
HIDDEN _Atomic uint64_t gilt_dropped;
HIDDEN _Atomic int gilt_dying;
HIDDEN _Atomic uint64_t gilt_tick;
HIDDEN __thread gilt_thread *gilt_self TLS_IE;
/* Set while this thread runs tracer code that may call hooked functions (file creation, dlsym, unwinding). */
HIDDEN __thread int gilt_busy TLS_IE;

/* Moment n of the coarse clock lives in slot n % GILT_TICK_RING, tagged with n once its time is written. */
static struct { _Atomic uint64_t seq; _Atomic uint64_t tsc; } moments[GILT_TICK_RING];

static uint64_t moment_time(uint64_t n) {
    uint64_t tag = atomic_load_explicit(&moments[n % GILT_TICK_RING].seq, memory_order_acquire);
    uint64_t tsc = atomic_load_explicit(&moments[n % GILT_TICK_RING].tsc, memory_order_acquire);
    uint64_t again = atomic_load_explicit(&moments[n % GILT_TICK_RING].seq, memory_order_acquire);
    return tag == n && again == n ? tsc : 0;
}

static void set_moment(uint64_t n, uint64_t tsc) {
    atomic_store_explicit(&moments[n % GILT_TICK_RING].seq, 0, memory_order_release);
    atomic_store_explicit(&moments[n % GILT_TICK_RING].tsc, tsc, memory_order_release);
    atomic_store_explicit(&moments[n % GILT_TICK_RING].seq, n, memory_order_release);
}

/* The TSC time of the coarse clock's first moment after moment `seen`, the clock now being at `now_seq` (> seen):
   what happened when the clock read `seen` happened before that time. When the ring no longer holds that moment,
   the oldest it holds (later, so still a lower bound of what lasted since). 0 when unknown (being written). */
HIDDEN uint64_t gilt_tick_after(uint64_t seen, uint64_t now_seq) {
    return moment_time(now_seq - seen >= GILT_TICK_RING ? now_seq - (GILT_TICK_RING - 1) : seen + 1);
}

/* Starts the coarse clock at moment 1, now. */
HIDDEN void gilt_tick_start(uint64_t now) {
    set_moment(1, now);
    atomic_store_explicit(&gilt_tick, 1, memory_order_release);
}

/* Advances the coarse clock to `now` (a TSC value) when its last moment is a millisecond old or more. Lock-free: the
   thread whose compare-and-swap wins writes the new moment's time (readers treat a moment not yet written as
   unknown), so a thread that read the TSC earlier and lost the race never dates a moment back. */
HIDDEN void gilt_tick_advance(uint64_t now) {
    uint64_t seq = atomic_load_explicit(&gilt_tick, memory_order_acquire);
    if (seq == 0) return; /* not running yet */
    uint64_t last = moment_time(seq);
    if (last && now < last + gilt_config.tick_gap) return;
    if (atomic_compare_exchange_strong_explicit(&gilt_tick, &seq, seq + 1, memory_order_acq_rel, memory_order_relaxed))
        set_moment(seq + 1, now);
}

static uint64_t start_ticks, start_unix_ns;
static uint64_t ticks_per_second = 1000000000ull;

HIDDEN uint64_t gilt_now(void) { return __rdtsc(); }

HIDDEN uint64_t gilt_monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

HIDDEN uint64_t gilt_ticks_to_ns(uint64_t ticks) {
    return (uint64_t)((double)ticks * 1e9 / (double)ticks_per_second);
}

HIDDEN uint64_t gilt_ns_to_ticks(uint64_t ns) {
    return (uint64_t)((double)ns * (double)ticks_per_second / 1e9);
}

/* Estimates the TSC rate against the monotonic clock over half a millisecond (a rate within about 0.2%: enough for
   durations, and it keeps the start-up of a traced program short). */
HIDDEN void gilt_clock_init(void) {
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t n0 = gilt_monotonic_ns(), t0 = __rdtsc();
    uint64_t n1;
    do { n1 = gilt_monotonic_ns(); } while (n1 - n0 < 500000ull);
    uint64_t t1 = __rdtsc();
    if (t1 > t0) ticks_per_second = (uint64_t)((double)(t1 - t0) * 1e9 / (double)(n1 - n0));
    start_ticks = t0;
    start_unix_ns = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
}

HIDDEN uint32_t gilt_gettid(void) { return (uint32_t)syscall(SYS_gettid); }

/* Writes all of `n` bytes, retrying short writes; async-signal-safe. */
static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes the thread's buffered records to its file. Called by the thread itself when its buffer is full, at its
   exit and after a finding; by the crash handlers and the watchdog for every thread (async-signal-safe). */
HIDDEN void gilt_flush(gilt_thread *t) {
    if (!t || t->fd < 0) return;
    uint64_t used = __atomic_load_n(&t->used, __ATOMIC_ACQUIRE), done = t->flushed;
    if (used <= done) return;
    if (write_all(t->fd, t->buffer + done, used - done) != 0) atomic_fetch_add(&gilt_dropped, (used - done) / sizeof(gilt_record));
    t->flushed = used;
    if (used == t->flushed && !atomic_load(&gilt_dying)) { t->used = 0; t->flushed = 0; }
}

static gilt_thread *create_thread_state(void) {
    gilt_thread *t = mmap(NULL, sizeof(gilt_thread) + GILT_BUFFER, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED) return NULL;
    t->buffer = (char *)(t + 1);
    t->tid = gilt_gettid();
    t->pid = (uint32_t)getpid();
    t->gil = -1;
    t->exact_left = GILT_EXACT_FIRST;
    char path[4200];
    snprintf(path, sizeof path, "%s/gilcheck.%u.%u.trace", gilt_config.dir, t->pid, t->tid);
    t->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
    if (t->fd >= 0) {
        gilt_file_header h;
        memset(&h, 0, sizeof h);
        memcpy(h.magic, GILT_FILE_MAGIC, 8);
        h.version = GILT_VERSION;
        h.pid = t->pid;
        h.tid = t->tid;
        h.ppid = (uint32_t)getppid();
        h.ticks_per_second = ticks_per_second;
        h.start_ticks = start_ticks;
        h.start_unix_ns = start_unix_ns;
        h.options = gilt_config.timeline == GILT_TIMELINE_OFF ? GILT_OPTION_NO_TIMELINE
                    : gilt_config.timeline == GILT_TIMELINE_SAMPLED ? GILT_OPTION_SAMPLED : 0;
        h.sample_rate = gilt_config.timeline == GILT_TIMELINE_SAMPLED ? gilt_config.sample_rate : 1;
        if (write_all(t->fd, (const char *)&h, sizeof h) != 0) { close(t->fd); t->fd = -1; }
    }
    int slot = atomic_fetch_add(&gilt_thread_count, 1);
    if (slot < GILT_MAX_THREADS) gilt_threads[slot] = t;
    return t;
}

HIDDEN gilt_thread *gilt_thread_state_slow(void) {
    gilt_thread *t;
    if (gilt_busy || !gilt_config.ready) return NULL;
    gilt_busy = 1;
    t = create_thread_state();
    gilt_self = t;
    gilt_busy = 0;
    return t;
}

/* Appends one record to `t`'s buffer. Records are complete before `used` moves past them, so a crash handler that
   flushes another thread's buffer never writes half a record. */
HIDDEN void gilt_emit_for(gilt_thread *t, uint32_t tid, uint16_t kind, uint32_t detail, uint16_t flags, uint64_t a,
                          uint64_t b, uint64_t pc, const uint64_t *payload, uint16_t words) {
    if (t == NULL || t->fd < 0) { atomic_fetch_add(&gilt_dropped, 1); return; }
    size_t need = sizeof(gilt_record) + (size_t)words * 8;
    if (t->used + need > GILT_BUFFER) {
        int saved = gilt_busy;
        gilt_busy = 1;
        gilt_flush(t);
        gilt_busy = saved;
        if (t->used + need > GILT_BUFFER) { atomic_fetch_add(&gilt_dropped, 1); return; }
    }
    gilt_record *r = (gilt_record *)(t->buffer + t->used);
    r->magic = GILT_RECORD_MAGIC;
    r->kind = kind;
    r->words = words;
    r->flags = flags;
    r->tid = tid;
    r->detail = detail;
    r->time = gilt_now();
    r->a = a;
    r->b = b;
    r->pc = pc;
    if (words) memcpy(r + 1, payload, (size_t)words * 8);
    __atomic_store_n(&t->used, t->used + need, __ATOMIC_RELEASE);
}

/* The hot path: a payload-free record about the thread itself, with a time the caller already read. */
HIDDEN void gilt_emit_at(gilt_thread *t, uint64_t time, uint16_t kind, uint32_t detail, uint16_t flags, uint64_t a,
                         uint64_t b, uint64_t pc) {
    if (__builtin_expect(t->fd < 0 || t->used + sizeof(gilt_record) > GILT_BUFFER, 0)) {
        gilt_emit_for(t, t->tid, kind, detail, flags, a, b, pc, NULL, 0);
        return;
    }
    gilt_record *r = (gilt_record *)(t->buffer + t->used);
    r->magic = GILT_RECORD_MAGIC;
    r->kind = kind;
    r->words = 0;
    r->flags = flags;
    r->tid = t->tid;
    r->detail = detail;
    r->time = time;
    r->a = a;
    r->b = b;
    r->pc = pc;
    __atomic_store_n(&t->used, t->used + sizeof(gilt_record), __ATOMIC_RELEASE);
}

HIDDEN void gilt_emit(uint16_t kind, uint32_t detail, uint16_t flags, uint64_t a, uint64_t b, uint64_t pc,
                      const uint64_t *payload, uint16_t words) {
    gilt_thread *t = gilt_thread_state();
    gilt_emit_for(t, t ? t->tid : gilt_gettid(), kind, detail, flags, a, b, pc, payload, words);
}

/* Packs a string into payload words; returns the number of words. */
HIDDEN uint16_t gilt_pack_string(const char *s, uint64_t *words, uint16_t max_words) {
    size_t n = strlen(s);
    if (n + 1 > (size_t)max_words * 8) n = (size_t)max_words * 8 - 1;
    memset(words, 0, (size_t)max_words * 8);
    memcpy(words, s, n);
    return (uint16_t)((n + 8) / 8);
}

/* Writes out every thread's records; from here on, buffers are not reused (the process is ending). */
HIDDEN void gilt_flush_all(void) {
    atomic_store(&gilt_dying, 1);
    uint32_t pid = (uint32_t)getpid();
    int n = atomic_load(&gilt_thread_count);
    if (n > GILT_MAX_THREADS) n = GILT_MAX_THREADS;
    for (int i = 0; i < n; i++)
        if (gilt_threads[i] && gilt_threads[i]->pid == pid) gilt_flush(gilt_threads[i]);
}

/* Fatal signals (CPython's fatal errors call abort()): write the logs, then let the signal do what it did
   before: the previous handler (faulthandler, a host's own) or the default action. */
static const int fatal_signals[] = {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTERM, SIGQUIT};
static struct sigaction previous[65];

static void on_fatal(int sig, siginfo_t *info, void *context) {
    /* A fault or abort ends the process whatever a previous handler does first (it returns into the fault again,
       or re-raises); a SIGTERM or SIGQUIT it handles may not, so those are noted only on the default path. */
    int fault = sig != SIGTERM && sig != SIGQUIT;
    if (fault) gilt_note_process_end(GILT_END_SIGNAL, (uint64_t)sig, (uint64_t)gilt_process_holds_gil());
    gilt_flush_all();
    struct sigaction *old = sig < 65 ? &previous[sig] : NULL;
    if (old && (old->sa_flags & SA_SIGINFO) && old->sa_sigaction) { old->sa_sigaction(sig, info, context); return; }
    if (old && old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN && old->sa_handler) { old->sa_handler(sig); return; }
    /* Default action: reinstall it and let the signal happen again (a fault re-executes; abort raises again). */
    if (!fault) {
        gilt_note_process_end(GILT_END_SIGNAL, (uint64_t)sig, (uint64_t)gilt_process_holds_gil());
        gilt_flush_all();
    }
    signal(sig, SIG_DFL);
    if (sig == SIGTERM || sig == SIGQUIT) raise(sig);
}

HIDDEN void gilt_install_crash_handlers(void) {
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fatal;
        sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(fatal_signals[i], &sa, &previous[fatal_signals[i]]);
    }
}
