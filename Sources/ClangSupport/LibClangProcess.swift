import Foundation

/// How libclang must run in a gilcheck process, set once at start-up.
///
/// By default libclang 19 parses each translation unit on a thread of its own with an 8 MB stack, inside an
/// LLVM crash-recovery context. Generated code (a 10,000-deep `else if`, 20,000 `&&` operands, 10,000 nested
/// blocks) overflows that stack, and the recovery handler, installed without an alternate stack, cannot run on
/// the overflowed one: the process dies of SIGSEGV. When recovery does run after an overflow, it may jump out
/// of malloc with the arena locked, and the next free() hangs (measured on 10,000 nested blocks, 5 runs of 5).
///
/// So gilcheck parses on the calling thread (`LIBCLANG_NOTHREADS`), which is one of its own with a large stack
/// and an alternate signal stack, and turns libclang's crash recovery off (`LIBCLANG_DISABLE_CRASH_RECOVERY`,
/// read when the first index is created): a crash reaches gilcheck's own handler, which names the file and runs
/// the analysis again without it.
public enum LibClangProcess {
    /// Call before any thread starts and before the first `ClangIndex` (setenv is not safe alongside getenv).
    public static func parseOnCallingThreads() {
        setenv("LIBCLANG_NOTHREADS", "1", 1)
        setenv("LIBCLANG_DISABLE_CRASH_RECOVERY", "1", 1)
    }
}
