import CLibClang
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

    /// Loads libclang (it is not linked; see CLibClang.h): `path` when given (the CLI passes
    /// `GILCHECK_LIBCLANG`), else the libclang of the build. Returns the file loaded. Only the first call loads.
    @discardableResult
    public static func load(path: String?) throws -> String {
        if gilcheck_libclang_load(path) == 0, let loaded = gilcheck_libclang_path() { return String(cString: loaded) }
        let why = gilcheck_libclang_error().map { String(cString: $0) } ?? "unknown reason"
        throw LibClangLoadError(reason: why, requested: path)
    }

    /// The clang resource directory (builtin headers such as stddef.h) shipped beside the loaded libclang, as
    /// the libclang-ng wheel lays it out (`native/libclang.so`, `native/resource/include/`). A libclang
    /// installed by Debian finds its own (`../lib/clang/N` from where it was loaded); then this is nil.
    public static let bundledResourceDirectory: String? = {
        guard gilcheck_libclang_load(nil) == 0, let loaded = gilcheck_libclang_path() else { return nil }
        let dir = URL(fileURLWithPath: String(cString: loaded)).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("resource").path
        return FileManager.default.fileExists(atPath: dir + "/include/stddef.h") ? dir : nil
    }()
}

/// libclang could not be loaded.
public struct LibClangLoadError: Error, CustomStringConvertible {
    public var reason: String
    public var requested: String?

    public var description: String {
        var text = "cannot load libclang: \(reason)"
        if requested != nil {
            text += "; GILCHECK_LIBCLANG must name a libclang.so of LLVM 17 or newer"
        } else {
            text += "; install Debian's libclang1-19 and libclang-common-19-dev, or set GILCHECK_LIBCLANG to a "
                + "libclang.so of LLVM 17 or newer (`pip install gilcheck` brings one: libclang-ng)"
        }
        return text
    }
}
