/* The trace library exports only its hooks; it has no C API of its own. */
