/* The test host is a program; it has no C API. */
