// The one place that names libclang's C API. Include paths come from Package.swift.
#include <clang-c/Index.h>
#include <clang-c/CXCompilationDatabase.h>
