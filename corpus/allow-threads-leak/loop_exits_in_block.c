// A Py_BEGIN_ALLOW_THREADS block inside a loop body, left early with continue or break: the matching
// Py_END_ALLOW_THREADS is skipped.
#include <Python.h>

extern int fetch(int i);

int bad_break_out_of_block(int n)
{
    int total = 0;
    for (int i = 0; i < n; i++) {
        Py_BEGIN_ALLOW_THREADS
        int v = fetch(i);
        if (v < 0)
            break;
        total += v;
        Py_END_ALLOW_THREADS
    }
    return total;   // expect-error{{is not re-acquired}} [allow-threads-leak]
}

int bad_continue_out_of_block(int n)
{
    int total = 0;
    for (int i = 0; i < n; i++) {
        /* After a continue, the next iteration releases again and loses the saved state. */
        Py_BEGIN_ALLOW_THREADS  // expect-error{{already released on this path}} [nested-release] expect-error{{is overwritten before it is restored}} [allow-threads-leak]
        int v = fetch(i);
        if (v == 0)
            continue;
        total += v;
        Py_END_ALLOW_THREADS
    }
    return total;   // expect-error{{is not re-acquired}} [allow-threads-leak]
}

int ok_exit_after_end(int n)
{
    int total = 0;
    for (int i = 0; i < n; i++) {
        int v;
        Py_BEGIN_ALLOW_THREADS
        v = fetch(i);
        Py_END_ALLOW_THREADS
        if (v < 0)
            break;
        if (v == 0)
            continue;
        total += v;
    }
    return total;
}
