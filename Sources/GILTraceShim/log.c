/* Per-thread event logs written through shared file mappings, the thread registry, clocks. */
#include "shim.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

HIDDEN struct gilt_config gilt_config;
HIDDEN gilt_thread *gilt_threads[GILT_MAX_THREADS];
HIDDEN _Atomic int gilt_thread_count;
HIDDEN _Atomic uint64_t gilt_dropped;
HIDDEN __thread gilt_thread *gilt_self TLS_IE;
/* Set while this thread runs tracer code that may call hooked functions (file creation, dlsym, unwinding). */
HIDDEN __thread int gilt_busy TLS_IE;

static uint64_t start_ticks, start_unix_ns;
static uint64_t ticks_per_second = 1000000000ull;

HIDDEN uint64_t gilt_now(void) { return __rdtsc(); }

static uint64_t monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

HIDDEN uint64_t gilt_ticks_to_ns(uint64_t ticks) {
    return (uint64_t)((double)ticks * 1e9 / (double)ticks_per_second);
}

/* Estimates the TSC rate against the monotonic clock over about two milliseconds. */
HIDDEN void gilt_clock_init(void) {
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t n0 = monotonic_ns(), t0 = __rdtsc();
    uint64_t n1;
    do { n1 = monotonic_ns(); } while (n1 - n0 < 2000000ull);
    uint64_t t1 = __rdtsc();
    if (t1 > t0) ticks_per_second = (uint64_t)((double)(t1 - t0) * 1e9 / (double)(n1 - n0));
    start_ticks = t0;
    start_unix_ns = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
}

HIDDEN uint32_t gilt_gettid(void) { return (uint32_t)syscall(SYS_gettid); }

/* Maps the window of the log file that starts at the page holding `offset`. */
static int map_window(gilt_thread *t, uint64_t offset) {
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t base = offset & ~(page - 1);
    if (ftruncate(t->fd, (off_t)(base + GILT_WINDOW)) != 0) return -1;
    void *m = mmap(NULL, GILT_WINDOW, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, (off_t)base);
    if (m == MAP_FAILED) return -1;
    if (t->map) munmap(t->map, GILT_WINDOW);
    t->map = m;
    t->window = base;
    t->used = offset - base;
    return 0;
}

static gilt_thread *create_thread_state(void) {
    gilt_thread *t = mmap(NULL, sizeof(gilt_thread), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED) return NULL;
    t->tid = gilt_gettid();
    t->pid = (uint32_t)getpid();
    t->gil = -1;
    t->fd = -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/gilcheck.%u.%u.trace", gilt_config.dir, t->pid, t->tid);
    t->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (t->fd >= 0 && map_window(t, 0) == 0) {
        gilt_file_header *h = (gilt_file_header *)t->map;
        memcpy(h->magic, GILT_FILE_MAGIC, 8);
        h->version = GILT_VERSION;
        h->pid = t->pid;
        h->tid = t->tid;
        h->ppid = (uint32_t)getppid();
        h->ticks_per_second = ticks_per_second;
        h->start_ticks = start_ticks;
        h->start_unix_ns = start_unix_ns;
        t->used = sizeof(gilt_file_header);
    } else {
        if (t->fd >= 0) close(t->fd);
        t->fd = -1;
    }
    int slot = atomic_fetch_add(&gilt_thread_count, 1);
    if (slot < GILT_MAX_THREADS) gilt_threads[slot] = t;
    return t;
}

/* This thread's state, created on first use. NULL while the tracer itself is creating it. */
HIDDEN gilt_thread *gilt_thread_state(void) {
    gilt_thread *t = gilt_self;
    if (__builtin_expect(t != NULL, 1)) return t;
    if (gilt_busy || !gilt_config.ready) return NULL;
    gilt_busy = 1;
    t = create_thread_state();
    gilt_self = t;
    gilt_busy = 0;
    return t;
}

/* Appends one record to `t`'s log. The record's magic is stored last, so a record cut short by the death of
   the process is not mistaken for a whole one. */
HIDDEN void gilt_emit_for(gilt_thread *t, uint32_t tid, uint16_t kind, uint32_t detail, uint16_t flags, uint64_t a,
                          uint64_t b, uint64_t pc, const uint64_t *payload, uint16_t words) {
    if (t == NULL || t->fd < 0) { atomic_fetch_add(&gilt_dropped, 1); return; }
    size_t need = sizeof(gilt_record) + (size_t)words * 8;
    if (t->used + need > GILT_WINDOW) {
        int saved = gilt_busy;
        gilt_busy = 1;
        int rc = map_window(t, t->window + t->used);
        gilt_busy = saved;
        if (rc != 0) { atomic_fetch_add(&gilt_dropped, 1); return; }
    }
    gilt_record *r = (gilt_record *)(t->map + t->used);
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
    __atomic_store_n(&r->magic, (uint16_t)GILT_RECORD_MAGIC, __ATOMIC_RELEASE);
    t->used += need;
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
