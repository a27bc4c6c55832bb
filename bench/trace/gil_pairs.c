/* Micro and macro workloads for bench/trace-overhead: GIL pair costs and a threaded GIL-heavy run. */
#include <Python.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long iterations;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long shared_count;

static void *worker(void *arg) {
    (void)arg;
    for (long i = 0; i < iterations; i++) {
        PyGILState_STATE g = PyGILState_Ensure();
        PyObject *v = PyLong_FromLong(i);
        Py_XDECREF(v);
        PyGILState_Release(g);
        pthread_mutex_lock(&mu);
        shared_count++;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* A render-style worker: Python work under the GIL (a node script's worth of object calls), then C work without
   it, then a shared mutex — the GIL is contended, but not handed over every microsecond. */
static volatile double sink;

static void *render_worker(void *arg) {
    (void)arg;
    for (long i = 0; i < iterations; i++) {
        PyGILState_STATE g = PyGILState_Ensure();
        PyObject *total = PyLong_FromLong(0);
        for (long k = 0; k < 40 && total; k++) {
            PyObject *v = PyLong_FromLong(i + k);
            PyObject *next = v ? PyNumber_Add(total, v) : NULL;
            Py_XDECREF(v);
            Py_DECREF(total);
            total = next;
        }
        Py_XDECREF(total);
        PyGILState_Release(g);
        double x = 0;
        for (int k = 0; k < 20000; k++) x += (double)k * 0.5;
        sink = x;
        pthread_mutex_lock(&mu);
        shared_count++;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: gil_pairs ensure|nested|save|threads|render N [THREADS]\n"); return 2; }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    Py_Initialize();
    double t0, t1;
    /* The micro modes time 20 batches of n/20 pairs and keep the fastest batch: interrupts, other processes
       and a busy hypervisor only ever add time, so the minimum is the cost of the pair itself. */
    int batches = 20;
    long per = n / batches > 0 ? n / batches : 1;
    double best = 1e30;
    if (!strcmp(mode, "nested")) {
        for (int b = 0; b < batches; b++) {
            t0 = now();
            for (long i = 0; i < per; i++) { PyGILState_STATE g = PyGILState_Ensure(); PyGILState_Release(g); }
            t1 = now();
            if (t1 - t0 < best) best = t1 - t0;
        }
    } else if (!strcmp(mode, "save")) {
        for (int b = 0; b < batches; b++) {
            t0 = now();
            for (long i = 0; i < per; i++) { PyThreadState *s = PyEval_SaveThread(); PyEval_RestoreThread(s); }
            t1 = now();
            if (t1 - t0 < best) best = t1 - t0;
        }
    } else if (!strcmp(mode, "ensure")) {
        PyThreadState *main_state = PyEval_SaveThread();
        for (int b = 0; b < batches; b++) {
            t0 = now();
            for (long i = 0; i < per; i++) { PyGILState_STATE g = PyGILState_Ensure(); PyGILState_Release(g); }
            t1 = now();
            if (t1 - t0 < best) best = t1 - t0;
        }
        PyEval_RestoreThread(main_state);
    } else if (!strcmp(mode, "threads") || !strcmp(mode, "render")) {
        int threads = argc > 3 ? atoi(argv[3]) : 4;
        if (threads < 1 || threads > 64) threads = 4;
        iterations = n;
        PyThreadState *main_state = PyEval_SaveThread();
        pthread_t th[64];
        t0 = now();
        for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, !strcmp(mode, "render") ? render_worker : worker, NULL);
        for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
        t1 = now();
        PyEval_RestoreThread(main_state);
        n *= threads;
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    Py_FinalizeEx();
    if (best < 1e30) printf("%.3f\n", best * 1e9 / (double)per);
    else printf("%.3f\n", (t1 - t0) * 1e9 / (double)n);
    return 0;
}
