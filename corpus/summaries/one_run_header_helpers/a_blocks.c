// First includer of gil_helpers.h (this directory is also linted as one run: see CorpusTests).
#include "gil_helpers.h"
#include <unistd.h>

int a_blocks(void)
{
    gil_t g;
    gil_take(&g);
    sleep(1);                 // expect-warning{{sleep() may block}} [blocking-with-gil]
    gil_drop(&g);
    return 0;
}
