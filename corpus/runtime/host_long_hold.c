// A plug-in entry point that keeps the GIL across slow C work (a 60 ms "disk read") instead of releasing it:
// every other thread that runs Python stalls for that long. The tracer reports the acquisition site (here with
// every acquisition timed: --exact-timeline).
// trace-shape: host --entry load_asset --entry quick_eval --threads 3 --iterations 3
// trace-options: --long-hold 40ms --exact-timeline
#include <Python.h>
#include <time.h>

static void slow_disk_read(void)
{
    struct timespec d = {0, 60 * 1000 * 1000};
    nanosleep(&d, NULL);
}

int load_asset(int thread_index, int iteration)
{
    if (thread_index != 0 || iteration != 0) return 0;
    PyGILState_STATE gil = PyGILState_Ensure(); // expect-trace{{gil-long-hold}}
    PyObject *name = PyUnicode_FromString("asset");
    slow_disk_read(); /* should be inside Py_BEGIN_ALLOW_THREADS */
    Py_XDECREF(name);
    PyGILState_Release(gil);
    return 0;
}

int quick_eval(int thread_index, int iteration)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *v = PyLong_FromLong((long)thread_index + iteration);
    Py_XDECREF(v);
    PyGILState_Release(gil);
    return 0;
}
