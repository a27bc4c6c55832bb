/* The one place that names libclang's C API. Include paths come from Package.swift.
 *
 * gilcheck does not link libclang: src/loader.c defines each libclang function gilcheck calls as a forwarder
 * to the library it loads with dlopen at run time (GILCHECK_LIBCLANG, else the libclang of the build), so one
 * binary runs with Debian's libclang or with the libclang of a Python wheel (libclang-ng). */
#ifndef GILCHECK_CLIBCLANG_H
#define GILCHECK_CLIBCLANG_H

#include <clang-c/Index.h>

/* Loads libclang once: `path` when it is not NULL (an error if that file does not load), else the libclang
 * of the build. Returns 0, or -1 with the reason in gilcheck_libclang_error(). Thread-safe; later calls
 * return the first call's result whatever their argument. */
int gilcheck_libclang_load(const char *path);
/* The file loaded (NULL before a successful load). */
const char *gilcheck_libclang_path(void);
/* Why the load failed: every file tried and dlopen's or dlsym's reason (NULL when it did not fail). */
const char *gilcheck_libclang_error(void);

#endif
