/* Shared-memory ring written by another process.  wait_for_slot() spins on
 * a sequence word in the mapping until the producer publishes the slot --
 * potentially forever -- so the project calls it with the GIL released.
 * slot_checksum() is a cheap fixed-size (32-byte header) checksum; it
 * appears once inside a released block only because it sits next to the
 * wait there. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define SLOT_HDR 32
#define SLOT_DATA 4064

struct slot {
    volatile uint32_t seq;
    uint32_t len;
    uint32_t csum;
    unsigned char hdr[SLOT_HDR];
    unsigned char data[SLOT_DATA];
};

struct ring {
    volatile uint32_t head;
    volatile uint32_t tail;
    uint32_t nslots;
    struct slot slots[];
};

typedef struct {
    PyObject_HEAD
    struct ring *ring;
    uint32_t next;
} RingObject;

static inline void
cpu_relax(void)
{
    __asm__ __volatile__("" ::: "memory");
}

/* Spin until the producer has published sequence number `want`. */
static void
wait_for_slot(struct slot *s, uint32_t want)
{
    while (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != want)
        cpu_relax();
}

/* Cheap: always exactly SLOT_HDR bytes. */
static uint32_t
slot_checksum(const unsigned char *hdr)
{
    uint32_t h = 2166136261u;
    int i;

    for (i = 0; i < SLOT_HDR; i++) {
        h ^= hdr[i];
        h *= 16777619u;
    }
    return h;
}

/* OK: waits (and checksums) with the GIL released. */
static PyObject *
ok_ring_get(RingObject *self, PyObject *Py_UNUSED(ignored))
{
    struct slot *s = &self->ring->slots[self->next % self->ring->nslots];
    uint32_t want = self->next + 1, csum;
    PyObject *res;

    Py_BEGIN_ALLOW_THREADS
    wait_for_slot(s, want);
    csum = slot_checksum(s->hdr);
    Py_END_ALLOW_THREADS

    if (csum != s->csum) {
        PyErr_SetString(PyExc_ValueError, "corrupt slot header");
        return NULL;
    }
    res = PyBytes_FromStringAndSize((const char *)s->data,
                                    (Py_ssize_t)(s->len > SLOT_DATA ? SLOT_DATA : s->len));
    if (res != NULL)
        self->next++;
    return res;
}

/* OK: second call site of wait_for_slot, also released. */
static PyObject *
ok_ring_wait_ready(RingObject *self, PyObject *args)
{
    uint32_t idx;
    struct slot *s;

    if (!PyArg_ParseTuple(args, "I:wait_ready", &idx))
        return NULL;
    if (self->ring->nslots == 0) {
        PyErr_SetString(PyExc_ValueError, "empty ring");
        return NULL;
    }
    s = &self->ring->slots[idx % self->ring->nslots];

    Py_BEGIN_ALLOW_THREADS
    wait_for_slot(s, idx + 1);
    Py_END_ALLOW_THREADS

    Py_RETURN_NONE;
}

/* BAD: peek() spins in wait_for_slot() with the GIL held. */
static PyObject *
bad_ring_peek(RingObject *self, PyObject *Py_UNUSED(ignored))
{
    struct slot *s = &self->ring->slots[self->next % self->ring->nslots];

    wait_for_slot(s, self->next + 1);
    return PyBytes_FromStringAndSize((const char *)s->hdr, SLOT_HDR);
}

/* OK: cheap fixed-size checksum with the GIL held. */
static PyObject *
ok_ring_verify(RingObject *self, PyObject *args)
{
    uint32_t idx;
    struct slot *s;

    if (!PyArg_ParseTuple(args, "I:verify", &idx))
        return NULL;
    s = &self->ring->slots[idx % self->ring->nslots];
    return PyBool_FromLong(slot_checksum(s->hdr) == s->csum);
}

/* OK: cheap checksum held, in a loop over a bounded number of slots that
 * are already published (no waiting). */
static PyObject *
ok_ring_stats(RingObject *self, PyObject *Py_UNUSED(ignored))
{
    uint32_t i, bad = 0, n = self->ring->nslots;
    uint32_t head = __atomic_load_n(&self->ring->head, __ATOMIC_ACQUIRE);

    for (i = 0; i < n && i < head; i++) {
        struct slot *s = &self->ring->slots[i];
        if (slot_checksum(s->hdr) != s->csum)
            bad++;
    }
    return Py_BuildValue("{sIsI}", "slots", n, "corrupt", bad);
}

/* OK: cheap checksum held while building a header tuple. */
static PyObject *
ok_slot_header(RingObject *self, PyObject *args)
{
    uint32_t idx;
    struct slot *s;

    if (!PyArg_ParseTuple(args, "I:header", &idx))
        return NULL;
    s = &self->ring->slots[idx % self->ring->nslots];
    return Py_BuildValue("(y#I)", (const char *)s->hdr, (Py_ssize_t)SLOT_HDR,
                         slot_checksum(s->hdr));
}

static PyMethodDef Ring_methods[] = {
    {"get", (PyCFunction)ok_ring_get, METH_NOARGS, NULL},
    {"wait_ready", (PyCFunction)ok_ring_wait_ready, METH_VARARGS, NULL},
    {"peek", (PyCFunction)bad_ring_peek, METH_NOARGS, NULL},
    {"verify", (PyCFunction)ok_ring_verify, METH_VARARGS, NULL},
    {"stats", (PyCFunction)ok_ring_stats, METH_NOARGS, NULL},
    {"header", (PyCFunction)ok_slot_header, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};
