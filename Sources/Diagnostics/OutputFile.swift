import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files gilcheck writes for the user (reports, SVG timelines, baselines, kept trace logs).
///
/// - Whole or not at all: a file is written to a temporary file in the same directory, then renamed over the
///   destination, so a reader (or a crash) never sees half a report. A destination that is not a regular file
///   (`/dev/stdout`, a FIFO) is written in place: renaming over a device would replace it.
/// - Never writable by others, whatever the umask: files are created 0644 and directories 0755, and the umask
///   can only take more away. A report that exists already keeps its own mode, without write bits for others.
public enum OutputFile {
    public struct WriteError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    static let fileMode: mode_t = 0o644
    static let directoryMode: mode_t = 0o755

    /// Writes `text` as UTF-8 to `path`.
    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }

    public static func write(_ data: Data, to path: String) throws {
        let target = resolved(path)
        var info = stat()
        let exists = stat(target, &info) == 0
        if exists && (info.st_mode & S_IFMT) != S_IFREG {
            if (info.st_mode & S_IFMT) == S_IFDIR { throw WriteError(path: path, reason: "it is a directory") }
            try writeInPlace(data, to: target, shown: path)
            return
        }
        let temporary = temporaryPath(for: path)
        var fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, fileMode)
        if fd < 0 && errno == EEXIST {
            // Left by an earlier process with the same id that crashed while writing.
            unlink(temporary)
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, fileMode)
        }
        if fd < 0 && exists && (errno == EACCES || errno == EPERM || errno == EROFS) && access(target, W_OK) == 0 {
            // A directory we may not create files in, holding a report we may write: the old way, in place.
            try writeInPlace(data, to: target, shown: path, truncate: true)
            return
        }
        guard fd >= 0 else { throw WriteError(path: path, reason: String(cString: strerror(errno))) }
        var failure: Int32 = 0
        if exists { fchmod(fd, info.st_mode & fileMode) }
        if !writeAll(fd, data) { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure == 0 && rename(temporary, target) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw WriteError(path: path, reason: String(cString: strerror(failure)))
        }
    }

    /// Creates `path` and its missing parents, each 0755 at most.
    public static func createDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw WriteError(path: path, reason: "it exists and is not a directory") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try createDirectory(parent) }
        if mkdir(path, directoryMode) != 0 && errno != EEXIST {
            throw WriteError(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// The temporary file `write` uses for `path`: next to where it ends up, named after this process, so that
    /// a crash handler can remove it (see `pathsToRemoveOnCrash`).
    public static func temporaryPath(for path: String) -> String {
        let target = resolved(path)
        let directory = (target as NSString).deletingLastPathComponent
        let name = "." + (target as NSString).lastPathComponent + ".gilcheck-\(getpid()).tmp"
        return directory.isEmpty ? name : directory + "/" + name
    }

    /// What a run that crashes before writing `path` should delete, so that no report of an earlier run stays in
    /// its place: the file and the temporary one, unless `path` names something other than a regular file.
    public static func pathsToRemoveOnCrash(for path: String) -> [String] {
        let target = resolved(path)
        var info = stat()
        if stat(target, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG { return [] }
        return [target, temporaryPath(for: path)]
    }

    /// `path` with symbolic links followed, so that a link to a report is kept and its target replaced.
    private static func resolved(_ path: String) -> String {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return path }
        return URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    private static func writeInPlace(_ data: Data, to target: String, shown: String, truncate: Bool = false) throws {
        let fd = open(target, O_WRONLY | O_CLOEXEC | (truncate ? O_TRUNC : 0))
        guard fd >= 0 else { throw WriteError(path: shown, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard writeAll(fd, data) else { throw WriteError(path: shown, reason: String(cString: strerror(errno))) }
    }

    private static func writeAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
            var offset = 0
            while offset < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }
}
