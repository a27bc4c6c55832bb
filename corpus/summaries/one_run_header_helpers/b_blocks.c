// Second includer of gil_helpers.h.
#include "gil_helpers.h"
#include <unistd.h>

int b_blocks(void)
{
    gil_t g;
    gil_take(&g);
    sleep(1);                 // expect-warning{{sleep() may block}} [blocking-with-gil]
    gil_drop(&g);
    return 0;
}

int b_ok(PyObject *cb)
{
    gil_t g;
    gil_call(&g, cb);
    sleep(1);
    return 0;
}
