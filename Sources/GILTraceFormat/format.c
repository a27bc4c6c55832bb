/* The trace format is header-only; this file gives the target something to compile. */
#include "gilcheck_trace_format.h"
