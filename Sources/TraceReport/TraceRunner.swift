import APIModel
import Dispatch
import Diagnostics
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum TraceSetupError: Error, CustomStringConvertible {
    case libraryMissing(searched: [String])
    case libraryFromEnvironmentMissing(String)
    case badDuration(option: String, value: String)
    case cannotCreateDirectory(String, String)
    case cannotRun(String, String)
    case cannotWrite(String, String)

    public var description: String {
        switch self {
        case .libraryMissing(let searched):
            return "the trace library libgilcheck-trace.so was not found (looked in \(searched.joined(separator: ", "))); "
                + "build it with `swift build --product gilcheck-trace` (it lands next to the gilcheck executable), "
                + "or set GILCHECK_TRACE_LIBRARY to its path"
        case .libraryFromEnvironmentMissing(let path):
            return "GILCHECK_TRACE_LIBRARY=\(path) does not exist; build the library with `swift build --product gilcheck-trace`"
        case .badDuration(let option, let value):
            return "\(option) '\(value)' is not a duration; write it like 5s, 500ms, 250us or 1.5s"
        case .cannotCreateDirectory(let path, let why): return "cannot create the log directory \(path): \(why)"
        case .cannotRun(let command, let why): return "cannot run '\(command)': \(why)"
        case .cannotWrite(let path, let why): return "cannot write \(path): \(why)"
        }
    }
}

/// Reads "5s", "500ms", "250us", "1.5s", "2m" (a bare number is seconds) as milliseconds.
public func parseDuration(_ text: String, option: String) throws -> Double {
    let t = text.trimmingCharacters(in: .whitespaces).lowercased()
    let units: [(String, Double)] = [("ms", 1), ("us", 0.001), ("µs", 0.001), ("ns", 0.000001), ("s", 1000), ("m", 60_000)]
    for (suffix, factor) in units where t.hasSuffix(suffix) {
        if let v = Double(t.dropLast(suffix.count)), v >= 0, v.isFinite { return v * factor }
        throw TraceSetupError.badDuration(option: option, value: text)
    }
    if let v = Double(t), v >= 0, v.isFinite { return v * 1000 }
    throw TraceSetupError.badDuration(option: option, value: text)
}

/// Finds `libgilcheck-trace.so`: `GILCHECK_TRACE_LIBRARY` when set, else next to the gilcheck executable (where
/// SwiftPM puts the dynamic library product), else `../lib/gilcheck/` beside an installed binary.
public func locateTraceLibrary(executablePath: String, environment: [String: String]) throws -> String {
    let name = "libgilcheck-trace.so"
    if let path = environment["GILCHECK_TRACE_LIBRARY"], !path.isEmpty {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: absolute) else { throw TraceSetupError.libraryFromEnvironmentMissing(path) }
        return absolute
    }
    let candidates = installedCompanionPaths(name, executablePath: executablePath)
    if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
    throw TraceSetupError.libraryMissing(searched: candidates)
}

/// Where a file installed with gilcheck (the trace library, the test host) may be: next to the gilcheck executable
/// (where SwiftPM puts every product), else in `../lib/gilcheck/` beside an installed binary.
public func installedCompanionPaths(_ name: String, executablePath: String) -> [String] {
    let dir = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
    return [dir.appendingPathComponent(name).path, dir.appendingPathComponent("../lib/gilcheck/\(name)").standardizedFileURL.path]
}

/// The watch file the library reads (`GILCHECK_TRACE_WATCH_FILE`): `watch PATTERN` for functions that need the
/// GIL, `free NAME` for functions callable without it and for the GIL entry points the library hooks itself.
/// C++ names (`pybind11::*`) are left out: the library matches C symbol names.
public func watchList(model: APIModel) -> String {
    func isSymbol(_ s: String) -> Bool { !s.contains("::") && s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "*" || $0 == "?" } }
    let patterns = model.requiresGILPatterns.filter(isSymbol)
    var out = "# gilcheck trace: the C API functions to check, from \(model.sources.joined(separator: ", "))\n"
    out += "# watch PATTERN: calls need the GIL.  free NAME: callable without the GIL, or hooked by the library itself.\n"
    for p in patterns { out += "watch \(p)\n" }
    let names = model.functions.keys.filter(isSymbol).sorted()
    for name in names {
        guard let rule = model.function(named: name) else { continue }
        if rule.effect != nil || !model.requiresGIL(name) {
            // Only names a watch pattern matches are ever looked up (not libc's or a library's blocking calls).
            guard patterns.contains(where: { Glob.matches($0, name) }) else { continue }
            out += "free \(name)\n"
        } else if !patterns.contains(where: { Glob.matches($0, name) }) {
            out += "watch \(name)\n"
        }
    }
    return out
}

/// Creates the log directory: the given one (made if missing, old logs removed), or a fresh one under TMPDIR.
public func prepareLogDirectory(_ requested: String?, temporaryDirectory: String) throws -> String {
    let fm = FileManager.default
    if let requested {
        let path = URL(fileURLWithPath: requested).standardizedFileURL.path
        do {
            // 0755 at most, whatever the umask (the logs show the program's calls and stacks).
            try OutputFile.createDirectory(path)
        } catch let e as OutputFile.WriteError {
            throw TraceSetupError.cannotCreateDirectory(path, e.reason)
        }
        for name in (try? fm.contentsOfDirectory(atPath: path)) ?? [] where TraceFormat.isLogFileName(name) {
            try? fm.removeItem(atPath: path + "/" + name)
        }
        return path
    }
    var template = Array(((temporaryDirectory.hasSuffix("/") ? temporaryDirectory : temporaryDirectory + "/")
        + "gilcheck-trace.XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else {
        throw TraceSetupError.cannotCreateDirectory(temporaryDirectory, String(cString: strerror(errno)))
    }
    return String(cString: made)
}

/// Runs the traced command with the terminal's stdin/stdout/stderr, forwarding SIGINT and SIGTERM to it, and
/// returns how it ended.
public func runChild(_ command: [String], environment: [String: String]) throws -> Termination {
    precondition(!command.isEmpty)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attributes, &mask)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    let argv = command.map { strdup($0) } + [nil]
    let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    // gilcheck itself ignores SIGINT/SIGTERM while the child runs and hands them to it, so that the report is
    // still written when the user interrupts a run.
    let oldInt = signal(SIGINT, SIG_IGN)
    let oldTerm = signal(SIGTERM, SIG_IGN)
    defer {
        signal(SIGINT, oldInt)
        signal(SIGTERM, oldTerm)
    }
    var pid: pid_t = 0
    let rc = argv.withUnsafeBufferPointer { a in
        envp.withUnsafeBufferPointer { e in
            posix_spawnp(&pid, command[0], nil, &attributes, UnsafeMutablePointer(mutating: a.baseAddress!),
                         UnsafeMutablePointer(mutating: e.baseAddress!))
        }
    }
    guard rc == 0 else { throw TraceSetupError.cannotRun(command[0], String(cString: strerror(rc))) }
    let child = pid
    let queue = DispatchQueue(label: "gilcheck.trace.signals")
    let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
        let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        source.setEventHandler { kill(child, sig) }
        source.resume()
        return source
    }
    defer { sources.forEach { $0.cancel() } }
    var status: Int32 = 0
    while waitpid(child, &status, 0) < 0 {
        guard errno == EINTR else { throw TraceSetupError.cannotRun(command[0], "waitpid: \(String(cString: strerror(errno)))") }
    }
    if status & 0x7f == 0 { return .exited((status >> 8) & 0xff) }
    return .signaled(status & 0x7f)
}

/// Runs a tool (addr2line, nm) with stdin and stderr on /dev/null and returns what it wrote on stdout; nil when
/// it cannot be started. posix_spawn and a blocking read: Foundation's Process costs tens of milliseconds a run
/// (a thread to launch it and a run loop to see it end), most of a short traced run's report time.
func captureOutput(_ tool: String, _ arguments: [String]) -> String? {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return nil }
    let (readEnd, writeEnd) = (fds[0], fds[1])
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addclose(&actions, readEnd)
    posix_spawn_file_actions_addclose(&actions, writeEnd)
    let argv = ([tool] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = argv.withUnsafeBufferPointer { a in
        posix_spawn(&pid, tool, &actions, nil, UnsafeMutablePointer(mutating: a.baseAddress!), environ)
    }
    close(writeEnd)
    guard rc == 0 else { close(readEnd); return nil }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
        if n > 0 { data.append(contentsOf: buffer[0..<n]); continue }
        if n < 0 && errno == EINTR { continue }
        break
    }
    close(readEnd)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return String(decoding: data, as: UTF8.self)
}
