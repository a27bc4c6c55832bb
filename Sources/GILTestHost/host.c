/* gilcheck-host: a threaded embedding host for testing a shared library's Python entry points.
 *
 * It does what real hosts do (a 3D application running Python node scripts from render threads, an audio
 * engine calling back into Python): initialize Python on the main thread, optionally run a setup script,
 * release the GIL, then call the library's entry points from many threads at once, with seeded random jitter
 * between calls to vary the interleavings. At the end it takes the GIL back and finalizes.
 *
 * Entry points have the C signature   int NAME(int thread_index, int iteration)
 * and return 0 on success. Each is called from its thread WITHOUT the GIL, like a host's render or audio
 * thread: an entry point that uses Python must take the GIL itself (PyGILState_Ensure/Release).
 *
 * Exit status: 0 all calls returned 0; 1 some call returned non-zero; 2 usage error; 3 the library, an entry
 * point or the setup script could not be loaded or failed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*entry_fn)(int thread_index, int iteration);

#define MAX_ENTRIES 64

static struct {
    const char *library;
    const char *setup;
    const char *entries[MAX_ENTRIES];
    entry_fn fns[MAX_ENTRIES];
    int entry_count;
    int threads, iterations;
    unsigned long long seed;
    long jitter_us;
    int quiet;
} opt = {.threads = 4, .iterations = 100, .seed = 1, .jitter_us = 200};

static int failures;
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;

static void usage(FILE *f) {
    fprintf(f,
            "usage: gilcheck-host [options] LIBRARY --entry NAME [--entry NAME...]\n"
            "  --entry NAME       call `int NAME(int thread_index, int iteration)` (repeatable; in order)\n"
            "  --threads N        worker threads (default 4)\n"
            "  --iterations M     calls of each entry point per thread (default 100)\n"
            "  --seed S           seed of the random jitter (default 1)\n"
            "  --jitter-us U      up to U microseconds of random pause between calls (default 200; 0: none)\n"
            "  --setup FILE.py    run this Python script in __main__ first (with the GIL, before the threads)\n"
            "  --quiet            no summary line\n"
            "exit status: 0 ok, 1 an entry point returned non-zero, 2 usage, 3 load or setup failure\n");
}

static long number(const char *flag, const char *value, long min) {
    char *end = NULL;
    errno = 0;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || errno || *end || v < min) {
        fprintf(stderr, "gilcheck-host: %s needs a whole number >= %ld, got '%s'\n", flag, min, value ? value : "");
        exit(2);
    }
    return v;
}

static void parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
        else if (!strcmp(a, "--entry")) {
            if (!v) { fprintf(stderr, "gilcheck-host: --entry needs a function name\n"); exit(2); }
            if (opt.entry_count == MAX_ENTRIES) { fprintf(stderr, "gilcheck-host: at most %d entry points\n", MAX_ENTRIES); exit(2); }
            opt.entries[opt.entry_count++] = v; i++;
        }
        else if (!strcmp(a, "--threads")) { opt.threads = (int)number(a, v, 1); i++; }
        else if (!strcmp(a, "--iterations")) { opt.iterations = (int)number(a, v, 0); i++; }
        else if (!strcmp(a, "--seed")) { opt.seed = (unsigned long long)number(a, v, 0); i++; }
        else if (!strcmp(a, "--jitter-us")) { opt.jitter_us = number(a, v, 0); i++; }
        else if (!strcmp(a, "--setup")) { if (!v) { fprintf(stderr, "gilcheck-host: --setup needs a file\n"); exit(2); } opt.setup = v; i++; }
        else if (!strcmp(a, "--quiet")) opt.quiet = 1;
        else if (a[0] == '-') { fprintf(stderr, "gilcheck-host: unknown option '%s' (see --help)\n", a); exit(2); }
        else if (!opt.library) opt.library = a;
        else { fprintf(stderr, "gilcheck-host: one library only; '%s' is extra\n", a); exit(2); }
    }
    if (!opt.library) { fprintf(stderr, "gilcheck-host: no library given (see --help)\n"); exit(2); }
    if (!opt.entry_count) { fprintf(stderr, "gilcheck-host: no --entry given; name the functions to call\n"); exit(2); }
    if (opt.threads > 4096) { fprintf(stderr, "gilcheck-host: at most 4096 threads\n"); exit(2); }
}

/* xorshift64*: a small, seedable generator per thread. */
static uint64_t next_random(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void jitter(uint64_t *rng) {
    if (opt.jitter_us <= 0) return;
    long us = (long)(next_random(rng) % (uint64_t)(opt.jitter_us + 1));
    if (us == 0) return;
    struct timespec d = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&d, NULL);
}

static void *worker(void *arg) {
    int index = (int)(intptr_t)arg;
    uint64_t rng = (opt.seed + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(index + 1) * 0xBF58476D1CE4E5B9ull;
    if (!rng) rng = 1;
    int failed = 0;
    for (int it = 0; it < opt.iterations; it++) {
        for (int e = 0; e < opt.entry_count; e++) {
            jitter(&rng);
            if (opt.fns[e](index, it) != 0) failed++;
        }
    }
    if (failed) {
        pthread_mutex_lock(&failures_lock);
        failures += failed;
        pthread_mutex_unlock(&failures_lock);
    }
    return NULL;
}

static int run_setup(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "gilcheck-host: cannot open setup script %s: %s\n", path, strerror(errno)); return -1; }
    int rc = PyRun_SimpleFileExFlags(f, path, 1, NULL);
    if (rc != 0) fprintf(stderr, "gilcheck-host: setup script %s raised an exception (traceback above)\n", path);
    return rc;
}

int main(int argc, char **argv) {
    parse(argc, argv);
    void *lib = dlopen(opt.library, RTLD_NOW | RTLD_GLOBAL);
    if (!lib) { fprintf(stderr, "gilcheck-host: cannot load %s: %s\n", opt.library, dlerror()); return 3; }
    for (int e = 0; e < opt.entry_count; e++) {
        opt.fns[e] = (entry_fn)dlsym(lib, opt.entries[e]);
        if (!opt.fns[e]) { fprintf(stderr, "gilcheck-host: %s has no function '%s'\n", opt.library, opt.entries[e]); return 3; }
    }

    Py_Initialize();
    /* Scripts and the library can import modules that sit next to them. */
    PyRun_SimpleString("import sys, os; sys.path.insert(0, os.getcwd())");
    if (opt.setup && run_setup(opt.setup) != 0) { Py_FinalizeEx(); return 3; }
    /* Release the GIL so that the worker threads can take it, as every multi-threaded host must. */
    PyThreadState *main_state = PyEval_SaveThread();

    pthread_t *threads = calloc((size_t)opt.threads, sizeof *threads);
    if (!threads) { fprintf(stderr, "gilcheck-host: out of memory\n"); return 3; }
    int started = 0;
    for (int i = 0; i < opt.threads; i++) {
        int rc = pthread_create(&threads[i], NULL, worker, (void *)(intptr_t)i);
        if (rc != 0) { fprintf(stderr, "gilcheck-host: cannot start thread %d: %s\n", i, strerror(rc)); break; }
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    free(threads);

    /* Take the GIL back before finalizing. */
    PyEval_RestoreThread(main_state);
    if (Py_FinalizeEx() < 0) fprintf(stderr, "gilcheck-host: Py_FinalizeEx reported an error\n");
    if (!opt.quiet)
        fprintf(stderr, "gilcheck-host: %d threads x %d iterations x %d entry points, %d failed calls\n", started,
                opt.iterations, opt.entry_count, failures);
    return failures ? 1 : 0;
}
