/* The watchdog: a thread that wakes every few milliseconds, advances the coarse clock (gilt_tick) and, when some
 * thread has waited for the GIL or a mutex longer than the hang timeout, records every thread's stack and what it
 * waits for and holds, writes every log out and ends the process with exit status 86. It starts with the
 * process's second thread (or a single thread's first wait on a busy lock), so a single-threaded program stays
 * single-threaded under the tracer. */
#include "shim.h"

#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define GILT_HANG_EXIT 86
#define STACK_SIGNAL (SIGRTMIN + 4)

static void sample_stack(int sig) {
    (void)sig;
    gilt_thread *t = gilt_self;
    if (!t) return;
    void *frames[GILT_STACK_DEPTH];
    int n = backtrace(frames, GILT_STACK_DEPTH);
    /* Skip this handler and the signal trampoline. */
    int k = 0;
    for (int i = 2; i < n; i++) t->stack[k++] = (uint64_t)frames[i];
    atomic_store(&t->stack_words, k);
    atomic_store_explicit(&t->stack_ready, 1, memory_order_release);
}

static void pause_ms(long ms) {
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0) {}
}

static int live(gilt_thread *t, uint32_t pid) {
    return t && t->pid == pid && !t->internal && !atomic_load(&t->exited);
}

static void hang(gilt_thread *self, gilt_thread *victim, uint64_t lock, uint64_t waited_ns) {
    uint32_t pid = (uint32_t)getpid();
    gilt_emit_for(self, victim->tid, GILT_HANG, 0, 0, lock, waited_ns, 0, NULL, 0);
    int n = atomic_load(&gilt_thread_count);
    if (n > GILT_MAX_THREADS) n = GILT_MAX_THREADS;
    for (int i = 0; i < n; i++) {
        gilt_thread *t = gilt_threads[i];
        if (!live(t, pid)) continue;
        atomic_store(&t->stack_ready, 0);
        syscall(SYS_tgkill, pid, t->tid, STACK_SIGNAL);
    }
    for (int waited = 0; waited < 500; waited += 5) {
        int pending = 0;
        for (int i = 0; i < n; i++) {
            gilt_thread *t = gilt_threads[i];
            if (live(t, pid) && !atomic_load_explicit(&t->stack_ready, memory_order_acquire)) pending++;
        }
        if (!pending) break;
        pause_ms(5);
    }
    for (int i = 0; i < n; i++) {
        gilt_thread *t = gilt_threads[i];
        if (!live(t, pid)) continue;
        uint64_t payload[GILT_STACK_DEPTH + GILT_MAX_HELD + 2];
        int ready = atomic_load_explicit(&t->stack_ready, memory_order_acquire);
        int k = ready ? atomic_load(&t->stack_words) : 0;
        memcpy(payload, t->stack, (size_t)k * 8);
        payload[k++] = 0;
        for (int j = 0; j < t->held_count && j < GILT_MAX_HELD; j++) payload[k++] = t->held_lock[j];
        gilt_emit_for(self, t->tid, GILT_THREAD_STACK, 0, (uint16_t)ready, atomic_load(&t->waiting_on),
                      t->gil == 1 ? GILT_LOCK_GIL : 0, 0, payload, (uint16_t)k);
    }
    gilt_note_process_end(GILT_END_EXIT, GILT_HANG_EXIT, 0);
    gilt_flush_all();
    gilt_real_exit(GILT_HANG_EXIT); /* not the _exit hook: a hung process gets no exit checks */
}

HIDDEN _Atomic int gilt_watchdog_started;
static void *watchdog(void *unused) {
    (void)unused;
    gilt_thread *self = gilt_thread_state();
    if (!self) return NULL;
    self->internal = 1;
    gilt_busy = 1; /* nothing this thread does is the user's */
    uint32_t pid = (uint32_t)getpid();
    long period = (long)gilt_config.tick_ms;
    /* Per thread slot: the wait (its sequence number) seen at the last look, and since when. */
    static uint64_t seen_seq[GILT_MAX_THREADS], seen_since[GILT_MAX_THREADS];
    memset(seen_since, 0, sizeof seen_since); /* a forked child's watchdog starts afresh */
    for (;;) {
        pause_ms(period);
        uint64_t now = gilt_monotonic_ns();
        gilt_tick_advance(gilt_now());
        if (gilt_config.hang_timeout_ns == 0) continue;
        int n = atomic_load(&gilt_thread_count);
        if (n > GILT_MAX_THREADS) n = GILT_MAX_THREADS;
        for (int i = 0; i < n; i++) {
            gilt_thread *t = gilt_threads[i];
            if (!live(t, pid)) continue;
            uint64_t on = atomic_load_explicit(&t->waiting_on, memory_order_acquire);
            /* A GIL wait in the hooks ends with an acquisition, a mutex wait bumps wait_seq: either way a new wait
               changes the sum. */
            uint64_t seq = atomic_load_explicit(&t->wait_seq, memory_order_relaxed) + t->acquisitions;
            if (!on) { seen_since[i] = 0; continue; }
            if (seen_since[i] == 0 || seen_seq[i] != seq) { seen_seq[i] = seq; seen_since[i] = now; continue; }
            uint64_t waited = now - seen_since[i] + (uint64_t)period * 1000000ull / 2;
            if (waited > gilt_config.hang_timeout_ns) hang(self, t, on, waited);
        }
    }
    return NULL;
}

HIDDEN void gilt_start_watchdog(void) {
    int expected = 0;
    if (!gilt_config.ready || !atomic_compare_exchange_strong(&gilt_watchdog_started, &expected, 1)) return;
    if (gilt_config.hang_timeout_ns == 0 && gilt_config.timeline != GILT_TIMELINE_SAMPLED) return;
    /* The coarse clock runs from now on: its first moment is now, holds taken from here on are bounded by it. */
    gilt_tick_start(gilt_now());
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sample_stack;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(STACK_SIGNAL, &sa, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int saved = gilt_busy;
    gilt_busy = 1; /* our own pthread_create hook lets this one through untouched */
    pthread_create(&th, &attr, watchdog, NULL);
    gilt_busy = saved;
    pthread_attr_destroy(&attr);
}
