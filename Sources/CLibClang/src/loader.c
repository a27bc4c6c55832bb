/* Forwarders for the libclang functions gilcheck calls, resolved with dlopen/dlsym at run time.
 *
 * Each definition below must agree with its declaration in <clang-c/Index.h>, which the compiler checks.
 * A function that Swift code starts calling must be added to GILCHECK_LIBCLANG_FUNCTIONS, or the link fails
 * (nothing else defines it). The forwarders are hidden (CINDEX_NO_EXPORTS and -fvisibility=hidden), so the
 * library's own calls between its functions never land here. */
#define _GNU_SOURCE
#define CINDEX_NO_EXPORTS
#include "CLibClang.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef GILCHECK_LLVM_LIBDIR
#define GILCHECK_LLVM_LIBDIR "/usr/lib/llvm-19/lib"
#endif
#ifndef GILCHECK_LLVM_MAJOR
#define GILCHECK_LLVM_MAJOR 19
#endif

/* F(return type, name, (parameters), (arguments)); V for functions returning void. */
#define GILCHECK_LIBCLANG_FUNCTIONS(F, V) \
    F(unsigned, clang_CXXMethod_isStatic, (CXCursor a0), (a0)) \
    F(CXEvalResult, clang_Cursor_Evaluate, (CXCursor a0), (a0)) \
    F(enum CX_StorageClass, clang_Cursor_getStorageClass, (CXCursor a0), (a0)) \
    F(CXTranslationUnit, clang_Cursor_getTranslationUnit, (CXCursor a0), (a0)) \
    F(unsigned, clang_Cursor_isInlineNamespace, (CXCursor a0), (a0)) \
    F(int, clang_Cursor_isNull, (CXCursor a0), (a0)) \
    V(clang_EvalResult_dispose, (CXEvalResult a0), (a0)) \
    F(long long, clang_EvalResult_getAsLongLong, (CXEvalResult a0), (a0)) \
    F(CXEvalResultKind, clang_EvalResult_getKind, (CXEvalResult a0), (a0)) \
    F(int, clang_File_isEqual, (CXFile a0, CXFile a1), (a0, a1)) \
    F(int, clang_Location_isInSystemHeader, (CXSourceLocation a0), (a0)) \
    V(clang_PrintingPolicy_dispose, (CXPrintingPolicy a0), (a0)) \
    F(int, clang_Type_getNumTemplateArguments, (CXType a0), (a0)) \
    F(CXType, clang_Type_getTemplateArgumentAsType, (CXType a0, unsigned a1), (a0, a1)) \
    F(CXIndex, clang_createIndex, (int a0, int a1), (a0, a1)) \
    V(clang_disposeDiagnostic, (CXDiagnostic a0), (a0)) \
    V(clang_disposeIndex, (CXIndex a0), (a0)) \
    V(clang_disposeString, (CXString a0), (a0)) \
    V(clang_disposeTokens, (CXTranslationUnit a0, CXToken *a1, unsigned a2), (a0, a1, a2)) \
    V(clang_disposeTranslationUnit, (CXTranslationUnit a0), (a0)) \
    F(unsigned, clang_equalCursors, (CXCursor a0, CXCursor a1), (a0, a1)) \
    F(unsigned, clang_equalLocations, (CXSourceLocation a0, CXSourceLocation a1), (a0, a1)) \
    F(unsigned, clang_equalTypes, (CXType a0, CXType a1), (a0, a1)) \
    F(CXType, clang_getArrayElementType, (CXType a0), (a0)) \
    F(CXString, clang_getBinaryOperatorKindSpelling, (enum CXBinaryOperatorKind a0), (a0)) \
    F(const char *, clang_getCString, (CXString a0), (a0)) \
    F(CXType, clang_getCanonicalType, (CXType a0), (a0)) \
    F(enum CXBinaryOperatorKind, clang_getCursorBinaryOperatorKind, (CXCursor a0), (a0)) \
    F(CXCursor, clang_getCursorDefinition, (CXCursor a0), (a0)) \
    F(int, clang_getCursorExceptionSpecificationType, (CXCursor a0), (a0)) \
    F(CXSourceRange, clang_getCursorExtent, (CXCursor a0), (a0)) \
    F(enum CXCursorKind, clang_getCursorKind, (CXCursor a0), (a0)) \
    F(CXString, clang_getCursorKindSpelling, (enum CXCursorKind a0), (a0)) \
    F(CXSourceLocation, clang_getCursorLocation, (CXCursor a0), (a0)) \
    F(CXString, clang_getCursorPrettyPrinted, (CXCursor a0, CXPrintingPolicy a1), (a0, a1)) \
    F(CXPrintingPolicy, clang_getCursorPrintingPolicy, (CXCursor a0), (a0)) \
    F(CXCursor, clang_getCursorReferenced, (CXCursor a0), (a0)) \
    F(CXType, clang_getCursorResultType, (CXCursor a0), (a0)) \
    F(CXCursor, clang_getCursorSemanticParent, (CXCursor a0), (a0)) \
    F(enum CXTLSKind, clang_getCursorTLSKind, (CXCursor a0), (a0)) \
    F(CXString, clang_getCursorSpelling, (CXCursor a0), (a0)) \
    F(CXType, clang_getCursorType, (CXCursor a0), (a0)) \
    F(CXString, clang_getCursorUSR, (CXCursor a0), (a0)) \
    F(enum CXUnaryOperatorKind, clang_getCursorUnaryOperatorKind, (CXCursor a0), (a0)) \
    F(CXDiagnostic, clang_getDiagnostic, (CXTranslationUnit a0, unsigned a1), (a0, a1)) \
    F(CXSourceLocation, clang_getDiagnosticLocation, (CXDiagnostic a0), (a0)) \
    F(enum CXDiagnosticSeverity, clang_getDiagnosticSeverity, (CXDiagnostic a0), (a0)) \
    F(CXString, clang_getDiagnosticSpelling, (CXDiagnostic a0), (a0)) \
    F(long long, clang_getEnumConstantDeclValue, (CXCursor a0), (a0)) \
    V(clang_getExpansionLocation, (CXSourceLocation a0, CXFile *a1, unsigned *a2, unsigned *a3, unsigned *a4), (a0, a1, a2, a3, a4)) \
    F(const char *, clang_getFileContents, (CXTranslationUnit a0, CXFile a1, size_t *a2), (a0, a1, a2)) \
    F(CXString, clang_getFileName, (CXFile a0), (a0)) \
    V(clang_getInclusions, (CXTranslationUnit a0, CXInclusionVisitor a1, CXClientData a2), (a0, a1, a2)) \
    F(CXSourceLocation, clang_getLocationForOffset, (CXTranslationUnit a0, CXFile a1, unsigned a2), (a0, a1, a2)) \
    F(unsigned, clang_getNumDiagnostics, (CXTranslationUnit a0), (a0)) \
    F(CXType, clang_getPointeeType, (CXType a0), (a0)) \
    F(int, clang_getNumArgTypes, (CXType a0), (a0)) \
    F(CXType, clang_getArgType, (CXType a0, unsigned a1), (a0, a1)) \
    F(CXSourceRange, clang_getRange, (CXSourceLocation a0, CXSourceLocation a1), (a0, a1)) \
    F(CXSourceLocation, clang_getRangeEnd, (CXSourceRange a0), (a0)) \
    F(CXSourceLocation, clang_getRangeStart, (CXSourceRange a0), (a0)) \
    V(clang_getSpellingLocation, (CXSourceLocation a0, CXFile *a1, unsigned *a2, unsigned *a3, unsigned *a4), (a0, a1, a2, a3, a4)) \
    F(CXSourceLocation, clang_getTokenLocation, (CXTranslationUnit a0, CXToken a1), (a0, a1)) \
    F(CXString, clang_getTokenSpelling, (CXTranslationUnit a0, CXToken a1), (a0, a1)) \
    F(CXCursor, clang_getTranslationUnitCursor, (CXTranslationUnit a0), (a0)) \
    F(CXCursor, clang_getTypeDeclaration, (CXType a0), (a0)) \
    F(CXString, clang_getTypeSpelling, (CXType a0), (a0)) \
    F(CXString, clang_getUnaryOperatorKindSpelling, (enum CXUnaryOperatorKind a0), (a0)) \
    F(unsigned, clang_hashCursor, (CXCursor a0), (a0)) \
    F(unsigned, clang_isConstQualifiedType, (CXType a0), (a0)) \
    F(unsigned, clang_isCursorDefinition, (CXCursor a0), (a0)) \
    F(unsigned, clang_isDeclaration, (enum CXCursorKind a0), (a0)) \
    F(unsigned, clang_isExpression, (enum CXCursorKind a0), (a0)) \
    F(unsigned, clang_isPreprocessing, (enum CXCursorKind a0), (a0)) \
    F(unsigned, clang_isStatement, (enum CXCursorKind a0), (a0)) \
    F(enum CXErrorCode, clang_parseTranslationUnit2, (CXIndex a0, const char *a1, const char *const *a2, int a3, struct CXUnsavedFile *a4, unsigned a5, unsigned a6, CXTranslationUnit *a7), (a0, a1, a2, a3, a4, a5, a6, a7)) \
    V(clang_tokenize, (CXTranslationUnit a0, CXSourceRange a1, CXToken **a2, unsigned *a3), (a0, a1, a2, a3)) \
    F(unsigned, clang_visitChildren, (CXCursor a0, CXCursorVisitor a1, CXClientData a2), (a0, a1, a2))


#define INDEX_F(ret, name, params, args) IDX_##name,
#define INDEX_V(name, params, args) IDX_##name,
enum { GILCHECK_LIBCLANG_FUNCTIONS(INDEX_F, INDEX_V) FUNCTION_COUNT };

#define NAME_F(ret, name, params, args) #name,
#define NAME_V(name, params, args) #name,
static const char *const function_names[FUNCTION_COUNT] = {GILCHECK_LIBCLANG_FUNCTIONS(NAME_F, NAME_V)};

static void *functions[FUNCTION_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *requested_path;
static int load_status = -1;
static char loaded_path[4096];
static char error_text[8192];

static void note(const char *format, ...) {
    size_t used = strlen(error_text);
    if (used + 1 >= sizeof error_text) return;
    va_list ap;
    va_start(ap, format);
    vsnprintf(error_text + used, sizeof error_text - used, format, ap);
    va_end(ap);
}

/* dlopen's one file; on success every function is resolved or the library is rejected. */
static int try_open(const char *path) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        note("%s%s", error_text[0] ? "; " : "", why ? why : path);
        return -1;
    }
    void *resolved[FUNCTION_COUNT];
    for (int i = 0; i < FUNCTION_COUNT; i++) {
        resolved[i] = dlsym(handle, function_names[i]);
        if (!resolved[i]) {
            note("%s%s has no %s (gilcheck needs libclang 17 or newer)", error_text[0] ? "; " : "", path, function_names[i]);
            dlclose(handle);
            return -1;
        }
    }
    memcpy(functions, resolved, sizeof functions);
    snprintf(loaded_path, sizeof loaded_path, "%s", path);
    return 0;
}

static void load_once(void) {
    if (requested_path) {
        load_status = try_open(requested_path);
        return;
    }
    /* The libclang the build compiled against: Debian's libclang1-N puts libclang-N.so.N under llvm-N/lib
     * (libclang finds its builtin headers relative to the path it was loaded from: ../lib/clang/N/include). */
    char candidates[3][4200];
    int count = 0;
    if (GILCHECK_LLVM_MAJOR > 0)
        snprintf(candidates[count++], sizeof candidates[0], "%s/libclang-%d.so.%d", GILCHECK_LLVM_LIBDIR,
                 GILCHECK_LLVM_MAJOR, GILCHECK_LLVM_MAJOR);
    snprintf(candidates[count++], sizeof candidates[0], "%s/libclang.so", GILCHECK_LLVM_LIBDIR);
    snprintf(candidates[count++], sizeof candidates[0], "%s/libclang.so.1", GILCHECK_LLVM_LIBDIR);
    for (int i = 0; i < count; i++) {
        if (access(candidates[i], F_OK) != 0) {
            note("%s%s: not found", error_text[0] ? "; " : "", candidates[i]);
            continue;
        }
        if (try_open(candidates[i]) == 0) {
            load_status = 0;
            return;
        }
    }
    load_status = -1;
}

int gilcheck_libclang_load(const char *path) {
    /* Only the first call's argument counts; pthread_once orders the write before load_once reads it. */
    static pthread_mutex_t first = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&first);
    static int asked;
    if (!asked) {
        asked = 1;
        requested_path = path && path[0] ? strdup(path) : NULL;
    }
    pthread_mutex_unlock(&first);
    pthread_once(&once, load_once);
    if (load_status == 0) error_text[0] = 0;
    return load_status;
}

const char *gilcheck_libclang_path(void) { return load_status == 0 ? loaded_path : NULL; }

const char *gilcheck_libclang_error(void) { return load_status == 0 ? NULL : error_text; }

/* A libclang call before gilcheck_libclang_load (a test, a library user): load the build's libclang, and end
 * the process with the reason if there is none (nothing sensible can follow). */
static void load_or_exit(void) {
    if (gilcheck_libclang_load(NULL) == 0) return;
    fprintf(stderr, "gilcheck: cannot load libclang: %s\n", error_text);
    _exit(2);
}

#define DEFINE_F(ret, name, params, args)                                                                     \
    ret name params {                                                                                          \
        if (__builtin_expect(functions[IDX_##name] == NULL, 0)) load_or_exit();                                \
        return ((ret(*) params)functions[IDX_##name]) args;                                                    \
    }
#define DEFINE_V(name, params, args)                                                                           \
    void name params {                                                                                         \
        if (__builtin_expect(functions[IDX_##name] == NULL, 0)) load_or_exit();                                \
        ((void(*) params)functions[IDX_##name]) args;                                                          \
    }
GILCHECK_LIBCLANG_FUNCTIONS(DEFINE_F, DEFINE_V)
