import Diagnostics
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One file to parse: a translation unit with its own flags, or a header that is parsed on its own only when no
/// parsed translation unit includes it.
public struct SourceJob: Sendable, Hashable {
    /// The path as reports show it (as given, joined under a directory input, or absolute from a database).
    public var path: String
    /// Compiler flags for this file (without Python's include directories, which the session adds).
    public var arguments: [String]
    public var isHeader: Bool

    public init(path: String, arguments: [String], isHeader: Bool) {
        self.path = path
        self.arguments = arguments
        self.isHeader = isHeader
    }

    /// The absolute, normalized path, to compare with the files a translation unit included.
    var absolutePath: String { absolutize(path) }
}

/// File names gilcheck parses when it walks a directory.
enum SourceKind {
    static let sourceExtensions: Set<String> = ["c", "cc", "cpp", "cxx"]
    static let headerExtensions: Set<String> = ["h", "hpp"]

    static func isSource(_ path: String) -> Bool { sourceExtensions.contains(ext(path)) }
    static func isHeader(_ path: String) -> Bool { headerExtensions.contains(ext(path)) }
    private static func ext(_ path: String) -> String { (path as NSString).pathExtension.lowercased() }
}

/// `--exclude` and config `exclude:` patterns: fnmatch globs tried on a path relative to the input root it was
/// found under, relative to the config file's directory, and on its base name. `*` also crosses `/`.
public struct ExcludeMatcher: Sendable {
    public var patterns: [String]
    /// Directory that config patterns are relative to.
    public var configDirectory: String?

    public init(patterns: [String], configDirectory: String? = nil) {
        self.patterns = patterns.map { $0.hasSuffix("/") && $0.count > 1 ? String($0.dropLast()) : $0 }
        self.configDirectory = configDirectory
    }

    /// True when `path` (found under `root`, or given directly when `root` is nil) is excluded.
    public func excludes(_ path: String, root: String?) -> Bool {
        guard !patterns.isEmpty else { return false }
        var candidates = [path, (path as NSString).lastPathComponent]
        if let root, let rel = relative(path, to: root) { candidates.append(rel) }
        if let configDirectory, let rel = relative(absolutize(path), to: configDirectory) { candidates.append(rel) }
        return patterns.contains { p in candidates.contains { fnmatch(p, $0, 0) == 0 } }
    }

    private func relative(_ path: String, to root: String) -> String? {
        let root = root == "." ? "" : (root.hasSuffix("/") ? String(root.dropLast()) : root)
        if root.isEmpty { return path.hasPrefix("/") ? nil : path }
        guard path.hasPrefix(root + "/") else { return nil }
        return String(path.dropFirst(root.count + 1))
    }
}

/// Expands the inputs of a run (files and directories) into parse jobs, sorted.
struct InputCollector {
    var excludes: [ExcludeMatcher]
    var arguments: [String]

    func isExcluded(_ path: String, root: String?) -> Bool { excludes.contains { $0.excludes(path, root: root) } }

    struct Result {
        var jobs: [SourceJob] = []
        var errors: [Diagnostic] = []
        /// Files found in directories that are not regular files (a FIFO would block the parse forever), with
        /// what they are; `--verbose` lists them.
        var skipped: [(path: String, kind: String)] = []
    }

    func collect(_ inputs: [String]) -> Result {
        var result = Result()
        var seen = Set<String>()
        let fm = FileManager.default
        func add(_ path: String, header: Bool) {
            guard seen.insert(absolutize(path)).inserted else { return }
            result.jobs.append(SourceJob(path: path, arguments: arguments, isHeader: header))
        }
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: input, isDirectory: &isDirectory) else {
                result.errors.append(inputError(input, "\(input) does not exist"))
                continue
            }
            if isDirectory.boolValue {
                let root = input.count > 1 && input.hasSuffix("/") ? String(input.dropLast()) : input
                var files: [String] = []
                var visited = Set<String>()
                walk(root, root: root, into: &files, visited: &visited)
                for f in files.sorted() {
                    if let kind = nonRegularKind(f) {
                        result.skipped.append((f, kind))
                    } else {
                        add(f, header: SourceKind.isHeader(f))
                    }
                }
            } else if let kind = nonRegularKind(input) {
                result.errors.append(inputError(input, notRegularMessage(input, kind)))
            } else if !fm.isReadableFile(atPath: input) {
                result.errors.append(inputError(input, "\(input) cannot be read (check its permissions)"))
            } else if !isExcluded(input, root: nil) {
                add(input, header: SourceKind.isHeader(input))
            }
        }
        return result
    }

    /// Files with a C or C++ extension under `dir`, skipping hidden entries and excluded paths; a symbolic
    /// link to a directory already walked is not walked again.
    private func walk(_ dir: String, root: String, into files: inout [String], visited: inout Set<String>) {
        let fm = FileManager.default
        guard visited.insert(URL(fileURLWithPath: dir).resolvingSymlinksInPath().path).inserted,
              let names = try? fm.contentsOfDirectory(atPath: dir) else { return }
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = dir == "." ? name : dir + "/" + name
            if isExcluded(path, root: root) { continue }
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                walk(path, root: root, into: &files, visited: &visited)
            } else if SourceKind.isSource(path) || SourceKind.isHeader(path) {
                files.append(path)
            }
        }
    }
}

/// What `path` is when it is not a regular file (following symbolic links): "a FIFO", "a device", "a socket";
/// nil for a regular file, a directory, or a path that does not exist.
func nonRegularKind(_ path: String) -> String? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    switch info.st_mode & S_IFMT {
    case S_IFREG, S_IFDIR: return nil
    case S_IFIFO: return "a FIFO"
    case S_IFCHR, S_IFBLK: return "a device"
    case S_IFSOCK: return "a socket"
    default: return "not a regular file"
    }
}

/// The input error for a named file that is not a regular file: reading it could block forever or never end.
func notRegularMessage(_ path: String, _ kind: String) -> String {
    "\(path) is \(kind), not a regular file: gilcheck reads only regular source files"
}

func inputError(_ file: String, _ message: String) -> Diagnostic {
    Diagnostic(ruleId: "gilcheck-input-error", severity: .error, file: file, line: 0, column: 0, function: nil,
               message: message)
}

/// `path` made absolute against the current directory, with `.` and `..` steps removed lexically.
func absolutize(_ path: String, against base: String? = nil) -> String {
    if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
    let dir = base ?? FileManager.default.currentDirectoryPath
    return URL(fileURLWithPath: dir + "/" + path).standardizedFileURL.path
}
