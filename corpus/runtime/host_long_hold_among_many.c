// A render callback that takes the GIL hundreds of times per thread for a few microseconds each, and once, deep
// into the run, keeps it across 60 ms of C work. With the timeline sampled so sparsely that the countdown cannot
// pick that acquisition (--sample 1000000), the watchdog's coarse clock still finds the long hold at its release.
// trace-shape: host --entry render_tick --threads 2 --iterations 400
// trace-options: --long-hold 30ms --sample 1000000
#include <Python.h>
#include <time.h>

static void decode_texture(void)
{
    struct timespec d = {0, 60 * 1000 * 1000};
    nanosleep(&d, NULL);
}

int render_tick(int thread_index, int iteration)
{
    PyGILState_STATE gil = PyGILState_Ensure(); // expect-trace{{gil-long-hold}}
    PyObject *frame = PyLong_FromLong((long)iteration);
    if (thread_index == 1 && iteration == 300) decode_texture(); /* belongs inside Py_BEGIN_ALLOW_THREADS */
    Py_XDECREF(frame);
    PyGILState_Release(gil);
    return 0;
}
