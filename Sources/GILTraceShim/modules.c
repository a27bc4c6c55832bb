/* Loaded objects: which are the user's code, patching their imports (GOT/PLT slots) to the tracer's hooks, and
 * the checking stubs that sit in front of every watched C API function the user's code imports. */
#include "shim.h"

#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <fnmatch.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- A tiny spin lock: the tracer never takes a pthread mutex of its own (its hooks would see it). */
static atomic_flag scan_lock = ATOMIC_FLAG_INIT;
static void spin_lock(atomic_flag *f) { while (atomic_flag_test_and_set_explicit(f, memory_order_acquire)) __builtin_ia32_pause(); }
static void spin_unlock(atomic_flag *f) { atomic_flag_clear_explicit(f, memory_order_release); }

static uint64_t runtime_lo, runtime_hi; /* CPython's _PyRuntime object: the 3.11 GIL lives inside it */

HIDDEN int gilt_in_runtime_object(const void *p) {
    uint64_t a = (uint64_t)p;
    return a >= runtime_lo && a < runtime_hi;
}

/* ---- Watched C API names (from the rules files, through `gilcheck trace`). */
static char **watch_patterns, **free_patterns;
static int watch_count, free_count;

HIDDEN void gilt_load_watch_list(const char *path) {
    FILE *f = path && *path ? fopen(path, "re") : NULL;
    if (!f) {
        /* Without a list: every Py* and _Py* function except the ones that are documented to be GIL-free. */
        static char *dw[] = {"Py*", "_Py*"};
        static char *df[] = {"PyGILState_*", "PyEval_*", "Py_Initialize*", "Py_Finalize*", "PyMem_Raw*",
                             "Py_IsInitialized", "PyThread_*", "PyThreadState_New", "PyInterpreterState_Main", "Py_DecodeLocale", "Py_EncodeLocale",
                             "PyMem_SetAllocator", "PyMem_GetAllocator", "Py_SetProgramName", "Py_SetPythonHome",
                             "Py_SetPath", "PyImport_AppendInittab", "PyImport_ExtendInittab", "Py_BytesMain",
                             "Py_Main", "Py_RunMain", "PyConfig_*", "PyPreConfig_*", "PyStatus_*",
                             "PyWideStringList_*", "Py_PreInitialize*", "Py_ExitStatusException",
                             "_Py_NewReference", "Py_FatalError", "_Py_FatalErrorFunc", "_Py_Dealloc"};
        watch_patterns = dw; watch_count = 2;
        free_patterns = df; free_count = (int)(sizeof df / sizeof *df);
        return;
    }
    char line[512];
    int wcap = 64, fcap = 256;
    watch_patterns = malloc(sizeof(char *) * (size_t)wcap);
    free_patterns = malloc(sizeof(char *) * (size_t)fcap);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strncmp(line, "watch ", 6) == 0 && watch_count < wcap) watch_patterns[watch_count++] = strdup(line + 6);
        else if (strncmp(line, "free ", 5) == 0) {
            if (free_count == fcap) { fcap *= 2; free_patterns = realloc(free_patterns, sizeof(char *) * (size_t)fcap); }
            free_patterns[free_count++] = strdup(line + 5);
        }
    }
    fclose(f);
}

static int watched(const char *name) {
    int hit = 0;
    for (int i = 0; i < watch_count && !hit; i++) hit = fnmatch(watch_patterns[i], name, 0) == 0;
    if (!hit) return 0;
    for (int i = 0; i < free_count; i++) if (fnmatch(free_patterns[i], name, 0) == 0) return 0;
    return 1;
}

/* ---- Checking stubs: `push $index; jmp common`. The common part saves every argument register (including
 * %al and the vector registers of variadic calls), asks gilt_api_check whether the call is legal, restores the
 * registers and jumps to the real function with the caller's own return address on the stack, so the stub
 * leaves no frame behind. Its CFI lets the unwinder walk through it when a finding captures a stack. */
#define GILT_STUBS 2048
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl gilt_stub_common\n"
    ".hidden gilt_stub_common\n"
    ".type gilt_stub_common,@function\n"
    "gilt_stub_common:\n"
    ".cfi_startproc simple\n"
    ".cfi_def_cfa %rsp, 16\n"
    ".cfi_offset %rip, -8\n"
    /* Fast path: the thread's own call took the GIL and has not given it back (gilt_self->gil == 1, the struct's
       first field): no register needs saving, jump straight to the real function. Only %r10 and %r11 are touched,
       neither carries an argument. */
    "movq gilt_self@gottpoff(%rip), %r11\n"
    "movq %fs:(%r11), %r11\n"
    "testq %r11, %r11\n"
    "jz 1f\n"
    "cmpl $1, (%r11)\n"
    "jne 1f\n"
    "popq %r11\n"
    ".cfi_adjust_cfa_offset -8\n"
    "leaq gilt_stub_real(%rip), %r10\n"
    "jmp *(%r10,%r11,8)\n"
    ".cfi_adjust_cfa_offset 8\n"
    "1:\n"
    "pushq %rbp\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %rbp, -24\n"
    "movq %rsp, %rbp\n"
    ".cfi_def_cfa_register %rbp\n"
    "pushq %rdi\n pushq %rsi\n pushq %rdx\n pushq %rcx\n pushq %r8\n pushq %r9\n pushq %rax\n pushq %r10\n"
    "subq $136, %rsp\n"
    "movdqu %xmm0, 0(%rsp)\n movdqu %xmm1, 16(%rsp)\n movdqu %xmm2, 32(%rsp)\n movdqu %xmm3, 48(%rsp)\n"
    "movdqu %xmm4, 64(%rsp)\n movdqu %xmm5, 80(%rsp)\n movdqu %xmm6, 96(%rsp)\n movdqu %xmm7, 112(%rsp)\n"
    "movq 8(%rbp), %rdi\n"
    "movq 16(%rbp), %rsi\n"
    "call gilt_api_check\n"
    "movq %rax, %r11\n"
    "movdqu 0(%rsp), %xmm0\n movdqu 16(%rsp), %xmm1\n movdqu 32(%rsp), %xmm2\n movdqu 48(%rsp), %xmm3\n"
    "movdqu 64(%rsp), %xmm4\n movdqu 80(%rsp), %xmm5\n movdqu 96(%rsp), %xmm6\n movdqu 112(%rsp), %xmm7\n"
    "addq $136, %rsp\n"
    "popq %r10\n popq %rax\n popq %r9\n popq %r8\n popq %rcx\n popq %rdx\n popq %rsi\n popq %rdi\n"
    "popq %rbp\n"
    ".cfi_def_cfa %rsp, 16\n"
    "addq $8, %rsp\n"
    ".cfi_def_cfa_offset 8\n"
    "jmp *%r11\n"
    ".cfi_endproc\n"
    ".size gilt_stub_common, .-gilt_stub_common\n"
    ".p2align 4\n"
    ".globl gilt_stubs\n"
    ".hidden gilt_stubs\n"
    "gilt_stubs:\n"
    ".set gilt_stub_index, 0\n"
    ".rept 2048\n"
    ".p2align 4\n"
    "pushq $gilt_stub_index\n"
    "jmp gilt_stub_common\n"
    ".set gilt_stub_index, gilt_stub_index + 1\n"
    ".endr\n");

extern char gilt_stubs[];
/* Read by the stubs' assembly (hidden, so a PC-relative address reaches it). */
HIDDEN void *gilt_stub_real[GILT_STUBS];
_Static_assert(offsetof(gilt_thread, gil) == 0, "the stubs' fast path reads gil at offset 0");
static const char *stub_name[GILT_STUBS];
static int stub_count;

/* Call sites already reported for api-without-gil (index, return address), with their counts. */
#define SITES 4096
static struct { uint64_t key, pc; _Atomic uint64_t count; } sites[SITES];
static atomic_flag sites_lock = ATOMIC_FLAG_INIT;

HIDDEN void *gilt_api_check(uint64_t index, uint64_t ret) {
    void *real = gilt_stub_real[index];
    if (__builtin_expect(gilt_busy, 0)) return real;
    gilt_thread *t = gilt_self;
    if (__builtin_expect(t != NULL && t->gil == 1, 1)) return real; /* taken by the user's own call, not given back */
    if (gilt_python_holds_gil()) return real;
    t = gilt_thread_state();
    if (!t) return real;
    uint64_t key = (index << 48) ^ ret;
    uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 52;
    int fresh = 0;
    uint64_t count = 0;
    spin_lock(&sites_lock);
    for (uint64_t i = 0; i < SITES; i++) {
        uint64_t s = (h + i) % SITES;
        if (sites[s].key == 0) { sites[s].key = key; sites[s].pc = ret; fresh = 1; count = 1; atomic_store(&sites[s].count, 1); break; }
        if (sites[s].key == key) { count = atomic_fetch_add(&sites[s].count, 1) + 1; break; }
    }
    spin_unlock(&sites_lock);
    if (fresh) gilt_report(GILT_F_API_WITHOUT_GIL, 0, index, count, ret);
    return real;
}

static int stub_for(const char *name, void *real) {
    for (int i = 0; i < stub_count; i++) if (strcmp(stub_name[i], name) == 0) return i;
    if (stub_count == GILT_STUBS) return -1;
    int i = stub_count++;
    gilt_stub_real[i] = real;
    stub_name[i] = strdup(name);
    uint64_t words[32];
    uint16_t n = gilt_pack_string(name, words, 32);
    gilt_emit(GILT_API_NAME, 0, 0, (uint64_t)i, 0, 0, words, n);
    return i;
}

/* The tracer's replacement for an imported function, or NULL when the name is not hooked. */
/* While set, patching replaces only this one import (see gilt_patch_interpreter). */
static const char *only_name;
static void *only_hook;

static void *replacement(const char *name) {
    if (only_name) return strcmp(name, only_name) == 0 ? only_hook : NULL;
    void *hook = gilt_hook_for(name);
    if (hook) return hook;
    if ((name[0] != 'P' && name[0] != '_') || !watched(name)) return NULL;
    void *real = dlsym(RTLD_DEFAULT, name);
    if (!real) return NULL;
    /* Only functions: data imports (PyExc_*, _Py_NoneStruct) keep their slots. */
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1(real, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || ELF64_ST_TYPE(sym->st_info) != STT_FUNC)
        return NULL;
    int i = stub_for(name, real);
    return i < 0 ? NULL : (void *)(gilt_stubs + 16 * i);
}

/* ---- Scanning loaded objects. */
static uint64_t patched_bases[1024];
static int patched_count;
static uint64_t reported_bases[1024];
static int reported_count;

static int classify(const char *path, int is_main, uint64_t base) {
    static uint64_t self_base; /* this library's load base, looked up once */
    if (!self_base) {
        Dl_info self;
        if (dladdr((void *)&gilt_scan_modules, &self)) self_base = (uint64_t)self.dli_fbase;
    }
    if (self_base && base == self_base) return GILT_MODULE_TRACER;
    const char *slash = strrchr(path, '/');
    const char *file = slash ? slash + 1 : path;
    const char *user = getenv("GILCHECK_TRACE_USER_MODULES");
    if (user && *user) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", user);
        for (char *save = NULL, *p = strtok_r(buf, ":", &save); p; p = strtok_r(NULL, ":", &save))
            if (fnmatch(p, path, 0) == 0 || fnmatch(p, file, 0) == 0) return GILT_MODULE_USER;
    }
    if (strncmp(file, "libpython", 9) == 0 || strstr(path, "/lib-dynload/")) return GILT_MODULE_INTERPRETER;
    if (is_main && strncmp(file, "python", 6) == 0) return GILT_MODULE_INTERPRETER;
    if (strncmp(file, "linux-vdso", 10) == 0 || strncmp(path, "/lib/", 5) == 0 || strncmp(path, "/lib64/", 7) == 0 ||
        strncmp(path, "/usr/lib/", 9) == 0 || strncmp(path, "/usr/lib64/", 11) == 0)
        return GILT_MODULE_SYSTEM;
    if (is_main && base == 0 && strcmp(file, "") == 0) return GILT_MODULE_SYSTEM;
    return GILT_MODULE_USER;
}

static void patch_slot(uint64_t *slot, void *target, uint64_t relro_lo, uint64_t relro_hi) {
    if (*slot == (uint64_t)target) return;
    uint64_t addr = (uint64_t)slot;
    if (addr >= relro_lo && addr < relro_hi) {
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
        void *p = (void *)(addr & ~(page - 1));
        if (mprotect(p, page, PROT_READ | PROT_WRITE) != 0) return;
        __atomic_store_n(slot, (uint64_t)target, __ATOMIC_RELEASE);
        mprotect(p, page, PROT_READ);
    } else {
        __atomic_store_n(slot, (uint64_t)target, __ATOMIC_RELEASE);
    }
}

static void patch_relocations(uint64_t base, const ElfW(Rela) *rel, size_t bytes, const ElfW(Sym) *symtab,
                              const char *strtab, uint64_t relro_lo, uint64_t relro_hi) {
    if (!rel || !symtab || !strtab) return;
    for (size_t i = 0; i < bytes / sizeof(ElfW(Rela)); i++) {
        uint32_t type = ELF64_R_TYPE(rel[i].r_info), sym = ELF64_R_SYM(rel[i].r_info);
        if (sym == 0) continue;
        if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT && !(type == R_X86_64_64 && rel[i].r_addend == 0))
            continue;
        const ElfW(Sym) *s = &symtab[sym];
        if (s->st_shndx != SHN_UNDEF || ELF64_ST_TYPE(s->st_info) == STT_OBJECT) continue;
        void *target = replacement(strtab + s->st_name);
        if (target) patch_slot((uint64_t *)(base + rel[i].r_offset), target, relro_lo, relro_hi);
    }
}

static uint64_t dyn_ptr(uint64_t base, uint64_t value) { return value < base ? base + value : value; }

static void patch_object(struct dl_phdr_info *info) {
    uint64_t base = info->dlpi_addr;
    const ElfW(Dyn) *dyn = NULL;
    uint64_t relro_lo = 0, relro_hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)(base + p->p_vaddr);
        if (p->p_type == PT_GNU_RELRO) { relro_lo = base + p->p_vaddr; relro_hi = relro_lo + p->p_memsz; }
    }
    if (!dyn) return;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *jmprel = NULL, *rela = NULL;
    size_t jmprel_size = 0, rela_size = 0;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn_ptr(base, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const char *)dyn_ptr(base, d->d_un.d_ptr); break;
        case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn_ptr(base, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: jmprel_size = d->d_un.d_val; break;
        case DT_RELA: rela = (const ElfW(Rela) *)dyn_ptr(base, d->d_un.d_ptr); break;
        case DT_RELASZ: rela_size = d->d_un.d_val; break;
        }
    }
    patch_relocations(base, jmprel, jmprel_size, symtab, strtab, relro_lo, relro_hi);
    patch_relocations(base, rela, rela_size, symtab, strtab, relro_lo, relro_hi);
}

static int seen(uint64_t *list, int *count, uint64_t base) {
    for (int i = 0; i < *count; i++) if (list[i] == base) return 1;
    if (*count < 1024) list[(*count)++] = base;
    return 0;
}

static char main_path[4096];
static uint64_t tracer_lo, tracer_hi;

/* The path of the `index`th loaded object (the resolved executable for the main program, which comes first with
   no name), or NULL for other unnamed entries. */
static const char *object_path(struct dl_phdr_info *info, int index, int *is_main) {
    *is_main = index == 0 && (!info->dlpi_name || !*info->dlpi_name);
    const char *path = *is_main ? main_path : (info->dlpi_name ? info->dlpi_name : "");
    return *is_main || *path ? path : NULL;
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    int is_main;
    const char *path = object_path(info, (*(int *)data)++, &is_main);
    if (!path) return 0;
    int flags = classify(path, is_main, info->dlpi_addr);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD) continue;
        uint64_t a = info->dlpi_addr + p->p_vaddr;
        if (a < lo) lo = a;
        if (a + p->p_memsz > hi) hi = a + p->p_memsz;
    }
    if (hi == 0) return 0;
    if (flags & GILT_MODULE_TRACER) { tracer_lo = lo; tracer_hi = hi; }
    uint64_t id = lo ^ (uint64_t)flags;
    if (!seen(reported_bases, &reported_count, id)) {
        uint64_t words[512];
        uint16_t n = gilt_pack_string(path, words, 512);
        gilt_emit(GILT_MODULE, 0, (uint16_t)flags, info->dlpi_addr, hi, lo, words, n);
    }
    if ((flags & GILT_MODULE_USER) && !seen(patched_bases, &patched_count, lo)) patch_object(info);
    return 0;
}

/* Finds the loaded objects, records them, and patches the imports of the user's. Safe to call again: objects
   already patched are skipped. Called at start-up and after every dlopen. */
HIDDEN void gilt_scan_modules(void) {
    int saved = gilt_busy;
    gilt_busy = 1;
    spin_lock(&scan_lock);
    if (!main_path[0]) {
        ssize_t n = readlink("/proc/self/exe", main_path, sizeof main_path - 1);
        main_path[n > 0 ? n : 0] = 0;
    }
    gilt_resolve_python();
    void *rt = dlsym(RTLD_DEFAULT, "_PyRuntime");
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (rt && dladdr1(rt, &info, (void **)&sym, RTLD_DL_SYMENT) && sym) {
        runtime_lo = (uint64_t)rt;
        runtime_hi = runtime_lo + sym->st_size;
    }
    int index = 0;
    dl_iterate_phdr(scan_one, &index);
    spin_unlock(&scan_lock);
    gilt_busy = saved;
}

static int patch_interpreter_one(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    int is_main;
    const char *path = object_path(info, (*(int *)data)++, &is_main);
    if (path && classify(path, is_main, info->dlpi_addr) == GILT_MODULE_INTERPRETER) patch_object(info);
    return 0;
}

/* Points the interpreter's own imports of `name` at `hook` (its other imports stay as they are). */
HIDDEN void gilt_patch_interpreter(const char *name, void *hook) {
    int saved = gilt_busy;
    gilt_busy = 1;
    spin_lock(&scan_lock);
    only_name = name;
    only_hook = hook;
    int index = 0;
    dl_iterate_phdr(patch_interpreter_one, &index);
    only_name = NULL;
    only_hook = NULL;
    spin_unlock(&scan_lock);
    gilt_busy = saved;
}

HIDDEN void gilt_capture_stack(uint64_t *out, int *count, int skip) {
    void *frames[GILT_STACK_DEPTH + 4];
    int saved = gilt_busy;
    gilt_busy = 1;
    int n = backtrace(frames, GILT_STACK_DEPTH + 4);
    gilt_busy = saved;
    /* Frames of the tracer itself (hooks, stubs) are not the user's: the stack starts at the call site. */
    int i = 0;
    while (i < n && (uint64_t)frames[i] >= tracer_lo && (uint64_t)frames[i] < tracer_hi) i++;
    if (i == n) i = skip < n ? skip : n;
    int k = 0;
    for (; i < n && k < GILT_STACK_DEPTH; i++) out[k++] = (uint64_t)frames[i];
    *count = k;
}
