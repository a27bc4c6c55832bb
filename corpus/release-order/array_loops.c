// GIL states kept in an array and released in a loop: counting the index up releases the first one taken first,
// while the ones taken after it are still held (CPython wants them released last-in, first-out). Counting down,
// or taking and releasing each one in the same iteration, is fine.
#include <Python.h>

#define MAX_LAYERS 8
extern int layer_begin(int i);
extern void layer_end(int i);

int bad_release_in_acquisition_order(int n)
{
    PyGILState_STATE held[MAX_LAYERS];
    int entered = 0;
    for (int i = 0; i < n && i < MAX_LAYERS; i++) {
        held[i] = PyGILState_Ensure();
        entered++;
        if (layer_begin(i) < 0)
            break;
    }
    for (int i = entered - 1; i >= 0; i--)
        layer_end(i);
    for (int i = 0; i < entered; i++)
        PyGILState_Release(held[i]);   // expect-warning{{with 'i' counting up: the first one taken is released first}} [release-order]
    return 0;
}

int ok_release_counting_down(int n)
{
    PyGILState_STATE held[MAX_LAYERS];
    int entered = 0;
    for (int i = 0; i < n && i < MAX_LAYERS; i++) {
        held[i] = PyGILState_Ensure();
        entered++;
    }
    for (int i = entered - 1; i >= 0; i--)
        PyGILState_Release(held[i]);
    return 0;
}

int ok_pair_per_iteration(int n)
{
    PyGILState_STATE st[MAX_LAYERS];
    for (int i = 0; i < n && i < MAX_LAYERS; i++) {
        st[i] = PyGILState_Ensure();
        layer_begin(i);
        PyGILState_Release(st[i]);
    }
    return 0;
}

struct spans { PyGILState_STATE gil[MAX_LAYERS]; int depth; };
static struct spans t_spans;

void span_begin(void) { t_spans.gil[t_spans.depth++] = PyGILState_Ensure(); }

void bad_abort_spans_from_the_bottom(void)
{
    for (int i = 0; i < t_spans.depth; ++i)
        PyGILState_Release(t_spans.gil[i]);   // expect-warning{{counting up}} [release-order]
    t_spans.depth = 0;
}

void ok_abort_spans_from_the_top(void)
{
    while (t_spans.depth > 0)
        PyGILState_Release(t_spans.gil[--t_spans.depth]);
}
