/* pymutex-leak / pymutex-unlock-without-lock: a buffer pool and a
 * statistics block protected by PyMutex (not by critical sections). */
#include <Python.h>
#include <string.h>
#include "ft_fixture.h"

#define POOL_SLOTS 32

typedef struct {
    PyMutex lock;
    void *slots[POOL_SLOTS];
    int nfree;
    size_t slot_size;
    Py_ssize_t allocs;
    Py_ssize_t failures;
} BufferPool;

typedef struct {
    PyObject_HEAD
    BufferPool pool;
    PyMutex stats_lock;
    Py_ssize_t requests;
    int shared;             /* set once the pool is handed to other threads */
} PoolObject;

// BAD: pymutex-leak allocation failure returns NULL while pool->lock is held
static void *
bad_pool_acquire(BufferPool *pool)
{
    void *buf;
    PyMutex_Lock(&pool->lock);
    if (pool->nfree > 0) {
        buf = pool->slots[--pool->nfree];
    }
    else {
        buf = PyMem_RawMalloc(pool->slot_size);
        if (buf == NULL) {
            pool->failures++;
            return NULL;            /* lock still held */
        }
    }
    pool->allocs++;
    PyMutex_Unlock(&pool->lock);
    return buf;
}

// OK: both the hit and the failure path unlock before returning
static void *
ok_pool_acquire(BufferPool *pool)
{
    void *buf;
    PyMutex_Lock(&pool->lock);
    if (pool->nfree > 0) {
        buf = pool->slots[--pool->nfree];
    }
    else {
        buf = PyMem_RawMalloc(pool->slot_size);
        if (buf == NULL) {
            pool->failures++;
            PyMutex_Unlock(&pool->lock);
            return NULL;
        }
    }
    pool->allocs++;
    PyMutex_Unlock(&pool->lock);
    return buf;
}

// BAD: pymutex-leak the pool-full path frees the buffer and returns without unlocking
static void
bad_pool_release(BufferPool *pool, void *buf)
{
    PyMutex_Lock(&pool->lock);
    if (pool->nfree == POOL_SLOTS) {
        PyMem_RawFree(buf);
        return;
    }
    pool->slots[pool->nfree++] = buf;
    PyMutex_Unlock(&pool->lock);
}

// OK: pool-full decision made under the lock, free done after unlocking
static void
ok_pool_release(BufferPool *pool, void *buf)
{
    int full;
    PyMutex_Lock(&pool->lock);
    full = (pool->nfree == POOL_SLOTS);
    if (!full) {
        pool->slots[pool->nfree++] = buf;
    }
    PyMutex_Unlock(&pool->lock);
    if (full) {
        PyMem_RawFree(buf);
    }
}

// BAD: pymutex-unlock-without-lock lock is taken only when shared, unlock is unconditional
static void
bad_pool_count_request(PoolObject *self)
{
    if (self->shared) {
        PyMutex_Lock(&self->stats_lock);
    }
    self->requests++;
    PyMutex_Unlock(&self->stats_lock);
}

// OK: lock and unlock unconditionally around the counter update
static void
ok_pool_count_request(PoolObject *self)
{
    PyMutex_Lock(&self->stats_lock);
    self->requests++;
    PyMutex_Unlock(&self->stats_lock);
}

// BAD: pymutex-unlock-without-lock validation failure jumps to the exit label that unlocks a mutex not yet locked
static int
bad_pool_resize(BufferPool *pool, size_t new_size)
{
    int rc = -1;
    if (new_size == 0 || new_size > (1u << 20)) {
        goto out;                   /* lock not taken yet */
    }
    PyMutex_Lock(&pool->lock);
    while (pool->nfree > 0) {
        PyMem_RawFree(pool->slots[--pool->nfree]);
    }
    pool->slot_size = new_size;
    rc = 0;
out:
    PyMutex_Unlock(&pool->lock);
    return rc;
}

// OK: validation returns before locking, the exit label is only reached with the lock held
static int
ok_pool_resize(BufferPool *pool, size_t new_size)
{
    int rc = -1;
    if (new_size == 0 || new_size > (1u << 20)) {
        return -1;
    }
    PyMutex_Lock(&pool->lock);
    if (pool->slot_size == new_size) {
        rc = 0;
        goto out;
    }
    while (pool->nfree > 0) {
        PyMem_RawFree(pool->slots[--pool->nfree]);
    }
    pool->slot_size = new_size;
    rc = 0;
out:
    PyMutex_Unlock(&pool->lock);
    return rc;
}

// BAD: pymutex-unlock-without-lock repair branch unlocks early and then falls through to the common unlock (double unlock)
static PyObject *
bad_pool_stats(PoolObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t allocs, failures;
    PyMutex_Lock(&self->pool.lock);
    allocs = self->pool.allocs;
    failures = self->pool.failures;
    if (allocs < 0) {
        self->pool.allocs = 0;
        PyMutex_Unlock(&self->pool.lock);
        allocs = 0;
    }
    PyMutex_Unlock(&self->pool.lock);
    return Py_BuildValue("(nn)", allocs, failures);
}

// OK: counters copied under the lock, error raised after the single unlock
static PyObject *
ok_pool_stats(PoolObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t allocs, failures;
    PyMutex_Lock(&self->pool.lock);
    allocs = self->pool.allocs;
    failures = self->pool.failures;
    PyMutex_Unlock(&self->pool.lock);
    if (allocs < 0) {
        PyErr_SetString(PyExc_RuntimeError, "corrupt pool counters");
        return NULL;
    }
    return Py_BuildValue("(nn)", allocs, failures);
}

// BAD: pymutex-leak continue on an empty slot skips the per-iteration unlock
static Py_ssize_t
bad_pool_scrub(PoolObject **pools, Py_ssize_t npools)
{
    Py_ssize_t cleared = 0;
    for (Py_ssize_t i = 0; i < npools; i++) {
        BufferPool *p = &pools[i]->pool;
        PyMutex_Lock(&p->lock);
        if (p->nfree == 0) {
            continue;               /* p->lock stays locked */
        }
        for (int j = 0; j < p->nfree; j++) {
            memset(p->slots[j], 0, p->slot_size);
        }
        cleared += p->nfree;
        PyMutex_Unlock(&p->lock);
    }
    return cleared;
}

// OK: per-iteration lock released before both continue and the loop end
static Py_ssize_t
ok_pool_scrub(PoolObject **pools, Py_ssize_t npools)
{
    Py_ssize_t cleared = 0;
    for (Py_ssize_t i = 0; i < npools; i++) {
        BufferPool *p = &pools[i]->pool;
        PyMutex_Lock(&p->lock);
        if (p->nfree == 0) {
            PyMutex_Unlock(&p->lock);
            continue;
        }
        for (int j = 0; j < p->nfree; j++) {
            memset(p->slots[j], 0, p->slot_size);
        }
        cleared += p->nfree;
        PyMutex_Unlock(&p->lock);
    }
    return cleared;
}

// OK: two different mutexes locked in a fixed order and released in reverse
static void
ok_pool_transfer_stats(PoolObject *self)
{
    PyMutex_Lock(&self->stats_lock);
    PyMutex_Lock(&self->pool.lock);
    self->requests += self->pool.allocs;
    self->pool.allocs = 0;
    PyMutex_Unlock(&self->pool.lock);
    PyMutex_Unlock(&self->stats_lock);
}
