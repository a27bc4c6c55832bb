// Two worker threads of an embedding host take two mutexes in opposite orders and meet in the middle: a
// plain deadlock, no GIL involved. The watchdog reports who waits for which mutex and who holds it, and the
// lock graph shows the cycle that caused it.
// trace-shape: embed
// expect-trace-anywhere{{hang}}
// expect-trace-anywhere{{lock-order-inversion}}
// trace-exit: 5
#include <Python.h>
#include <pthread.h>

static pthread_mutex_t scene_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t texture_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both_hold_one;

static void *loader(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&scene_lock);
    pthread_barrier_wait(&both_hold_one);
    pthread_mutex_lock(&texture_lock);
    pthread_mutex_unlock(&texture_lock);
    pthread_mutex_unlock(&scene_lock);
    return NULL;
}

static void *renderer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&texture_lock);
    pthread_barrier_wait(&both_hold_one);
    pthread_mutex_lock(&scene_lock);
    pthread_mutex_unlock(&scene_lock);
    pthread_mutex_unlock(&texture_lock);
    return NULL;
}

int main(void)
{
    Py_Initialize();
    PyThreadState *main_state = PyEval_SaveThread();
    pthread_barrier_init(&both_hold_one, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, loader, NULL);
    pthread_create(&b, NULL, renderer, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    PyEval_RestoreThread(main_state);
    Py_FinalizeEx();
    return 0;
}
