import Foundation
import Testing

/// One case of corpus/runtime: a C file with its shape (embedding program, extension module, host library) and
/// the findings `gilcheck trace` must report (see corpus/runtime/README.md).
struct RuntimeCase: CustomStringConvertible, Sendable {
    enum Shape: Sendable { case embed([String]), extensionModule, host([String]) }
    var path: String
    var name: String
    var shape: Shape
    /// Rule ids expected at a line of the case's own file.
    var atLine: [(rule: String, line: Int)]
    var anywhere: [String]
    var exitStatus: Int32?
    /// Extra `gilcheck trace` options (`// trace-options: --long-hold 40ms`).
    var options: [String] = []

    var description: String { "corpus/runtime/" + name + ".c" }

    static func all() -> [RuntimeCase] {
        let dir = packageRoot.appendingPathComponent("corpus/runtime")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".c") }.sorted().compactMap { parse(dir.appendingPathComponent($0).path) }
    }

    static func parse(_ path: String) -> RuntimeCase? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        var shape: Shape?
        var atLine: [(String, Int)] = []
        var anywhere: [String] = []
        var exit: Int32?
        var options: [String] = []
        let rule = try! NSRegularExpression(pattern: #"expect-trace(-anywhere)?\{\{([a-z-]+)\}\}"#)
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let s = String(line)
            if let r = s.range(of: "// trace-shape: ") {
                let words = s[r.upperBound...].split(separator: " ").map(String.init)
                switch words.first {
                case "embed": shape = .embed(Array(words.dropFirst()))
                case "extension": shape = .extensionModule
                case "host": shape = .host(Array(words.dropFirst()))
                default: break
                }
            }
            if let r = s.range(of: "// trace-options: ") { options += s[r.upperBound...].split(separator: " ").map(String.init) }
            if let r = s.range(of: "// trace-exit: ") { exit = Int32(s[r.upperBound...].trimmingCharacters(in: .whitespaces)) }
            let ns = s as NSString
            for m in rule.matches(in: s, range: NSRange(location: 0, length: ns.length)) {
                let id = ns.substring(with: m.range(at: 2))
                if m.range(at: 1).location != NSNotFound { anywhere.append(id) } else { atLine.append((id, i + 1)) }
            }
        }
        guard let shape else { return nil }
        return RuntimeCase(path: path, name: name, shape: shape, atLine: atLine, anywhere: anywhere, exitStatus: exit,
                           options: options)
    }
}

/// Runs a program, killing it after `timeout` seconds; returns its status and output.
func runBounded(_ executable: String, _ arguments: [String], cwd: String, timeout: TimeInterval = 120,
                environment: [String: String]? = nil) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let deadline = DispatchTime.now() + timeout
    DispatchQueue.global().asyncAfter(deadline: deadline) { if p.isRunning { p.terminate() } }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// The built gilcheck binary (next to the test bundle, as CLITests finds it).
func gilcheckBinary() throws -> String {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [exe.appendingPathComponent("gilcheck"), exe.deletingLastPathComponent().appendingPathComponent("gilcheck"),
                      packageRoot.appendingPathComponent(".build/debug/gilcheck")]
    guard let b = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "gilcheck binary next to \(exe.path)"])
    }
    return b.path
}

/// A fresh directory for one case's build and report.
func temporaryWorkDirectory() throws -> String {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("gilcheck-rt-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    return work
}

/// A JSON report written by a run (nil when the file is missing or not a JSON object).
func jsonReport(_ path: String) throws -> [String: Any]? {
    try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: path) ?? Data()) as? [String: Any]
}

/// The `findings` of a JSON trace report (none when the file is missing or not a report).
func reportFindings(_ path: String) throws -> [[String: Any]] {
    (try jsonReport(path)?["findings"] as? [[String: Any]]) ?? []
}

/// Debian's own interpreter (libpython linked into the executable), else the python3 on PATH.
let systemPython: String = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"

/// Debian's python3-config (the system Python the host links and /usr/bin/python3 runs), else the one on PATH.
let systemPythonConfig: String = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3-config")
    ? "/usr/bin/python3-config" : "python3-config"

func pythonConfig(_ flags: [String]) throws -> [String] {
    let r = try runBounded("/usr/bin/env", [systemPythonConfig] + flags, cwd: "/", timeout: 30)
    return r.out.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}

@Suite("Runtime corpus under gilcheck trace", .serialized)
struct TraceRuntimeTests {
    static let cases = RuntimeCase.all()

    @Test("the runtime corpus has every shape, every runtime rule and clean cases")
    func coverage() {
        var rules = Set<String>()
        for c in Self.cases { rules.formUnion(c.atLine.map(\.rule) + c.anywhere) }
        for r in ["release-without-ensure", "api-without-gil", "thread-exit-holding-gil", "ensure-leak-at-exit",
                  "lock-order-inversion", "hang", "gil-long-hold"] {
            #expect(rules.contains(r), "no runtime case expects \(r)")
        }
        #expect(Self.cases.contains { if case .embed = $0.shape { true } else { false } })
        #expect(Self.cases.contains { if case .extensionModule = $0.shape { true } else { false } })
        #expect(Self.cases.contains { if case .host = $0.shape { true } else { false } })
        #expect(Self.cases.filter { $0.atLine.isEmpty && $0.anywhere.isEmpty }.count >= 3)
    }

    @Test("extension modules linked with -z now (read-only GOT) and -fno-plt (GLOB_DAT slots) are patched too",
          arguments: [["-Wl,-z,now"], ["-fno-plt"], ["-fno-plt", "-Wl,-z,now"]])
    func linkVariants(_ flags: [String]) throws {
        let work = try temporaryWorkDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let source = packageRoot.appendingPathComponent("corpus/runtime/ext_allow_threads.c").path
        let suffix = try pythonConfig(["--extension-suffix"]).first ?? ".so"
        let build = try runBounded("/usr/bin/env", ["gcc", "-g", "-O1", "-shared", "-fPIC"] + flags
                                   + ["-o", "ext_allow_threads" + suffix, source] + (try pythonConfig(["--includes"])), cwd: work)
        try #require(build.status == 0, Comment(rawValue: build.err))
        let python = systemPython
        let r = try runBounded(try gilcheckBinary(), ["trace", "--format", "json", "--report", work + "/r.json", "--long-hold", "10s",
                                                      "--", python, "-c", "import ext_allow_threads as m; m.run()"], cwd: work)
        let rules = try reportFindings(work + "/r.json").compactMap { $0["ruleId"] as? String }
        #expect(rules == ["api-without-gil"], Comment(rawValue: "\(flags): \(rules)\n\(r.err)"))
        #expect(r.status == 1)
    }

    @Test("the trace report's SARIF and Chrome trace load in their consumers' formats",
          .enabled(if: AdoptionTests.sarifToolsReady, "sarif-tools 3.0.5 could not be installed from PyPI"))
    func traceReportFormats() throws {
        let work = try temporaryWorkDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let source = packageRoot.appendingPathComponent("corpus/runtime/embed_lock_order.c").path
        let flags = try pythonConfig(["--cflags", "--embed", "--ldflags"])
        let build = try runBounded("/usr/bin/env", ["gcc", "-g", "-O0", "-o", "prog", source] + flags + ["-pthread"], cwd: work)
        try #require(build.status == 0, Comment(rawValue: build.err))
        let gilcheck = try gilcheckBinary()
        let run = try runBounded(gilcheck, ["trace", "--format", "sarif", "--report", "t.sarif", "--keep-logs", "logs",
                                            "--", "./prog"], cwd: work)
        #expect(run.status == 1, Comment(rawValue: run.err))
        let summary = try runBounded("/usr/bin/env", ["python3", "-m", "sarif", "summary", "t.sarif"], cwd: work)
        #expect(summary.status == 0, Comment(rawValue: summary.out + summary.err))
        #expect(summary.out.contains("lock-order-inversion"), Comment(rawValue: summary.out))
        // The same logs, as a Chrome trace: a JSON object whose traceEvents hold GIL holds ("X") per thread.
        let chrome = try runBounded(gilcheck, ["trace", "--from-logs", "logs", "--format", "chrome", "--report", "t.json"], cwd: work)
        #expect(chrome.status == 1, Comment(rawValue: chrome.err))
        let events = try jsonReport(work + "/t.json")?["traceEvents"] as? [[String: Any]] ?? []
        #expect(events.contains { ($0["ph"] as? String) == "X" })
        #expect(events.contains { ($0["ph"] as? String) == "i" })
    }

    @Test("a fault in a child process (fork and exec from Python) is reported")
    func childProcesses() throws {
        let work = try temporaryWorkDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let source = packageRoot.appendingPathComponent("corpus/runtime/embed_api_without_gil.c").path
        let flags = try pythonConfig(["--cflags", "--embed", "--ldflags"])
        let build = try runBounded("/usr/bin/env", ["gcc", "-g", "-O0", "-o", "child", source] + flags + ["-pthread"], cwd: work)
        try #require(build.status == 0, Comment(rawValue: build.err))
        let python = systemPython
        let r = try runBounded(try gilcheckBinary(), ["trace", "--format", "json", "--report", "r.json", "--long-hold", "10s", "--",
                                                      python, "-c", "import subprocess; subprocess.run(['./child'], check=True)"], cwd: work)
        let findings = try reportFindings(work + "/r.json")
        #expect(findings.compactMap { $0["ruleId"] as? String } == ["api-without-gil"], Comment(rawValue: r.err))
        #expect(r.status == 1)
    }

    @Test("timeline options: conflicting or out-of-range choices are usage errors; the JSON report says when it sampled")
    func timelineOptions() throws {
        let work = try temporaryWorkDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let both = try runBounded(try gilcheckBinary(), ["trace", "--no-timeline", "--exact-timeline", "--", "/bin/true"], cwd: work)
        #expect(both.status == 2)
        #expect(both.err.contains("choose one"))
        let zero = try runBounded(try gilcheckBinary(), ["trace", "--sample", "0", "--", "/bin/true"], cwd: work)
        #expect(zero.status == 2)
        #expect(zero.err.contains("--sample 0"))
        let python = systemPython
        for (options, sampled) in [(["--sample", "8"], true), (["--exact-timeline"], false)] {
            let r = try runBounded(try gilcheckBinary(), ["trace", "--format", "json", "--report", "r.json"] + options
                                   + ["--", python, "-c", "import threading; t = threading.Thread(target=sum, args=([1],)); t.start(); t.join()"],
                                   cwd: work)
            let report = try jsonReport(work + "/r.json")
            #expect(r.status == 0, Comment(rawValue: r.err))
            #expect((report?["sampling"] as? [String: Any])?["rate"] as? Int == (sampled ? 8 : nil))
        }
    }

    @Test("under umask 000 the report, the SVG timeline, the --keep-logs directories and their files are not writable by others")
    func outputModes() throws {
        let work = try temporaryWorkDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        // `sh -c 'umask 000; exec gilcheck ARGS...'`
        let r = try runBounded("/bin/sh", ["-c", "umask 000; exec \"$0\" \"$@\"", try gilcheckBinary(), "trace", "--format", "json",
                                           "--report", "r.json", "--timeline", "t.svg", "--keep-logs", "logs/run1",
                                           "--", systemPython, "-c", "pass"], cwd: work)
        #expect(r.status == 0, Comment(rawValue: r.err))
        func mode(_ path: String) -> mode_t {
            var info = stat()
            return stat(work + "/" + path, &info) == 0 ? info.st_mode & 0o7777 : 0
        }
        #expect(mode("r.json") == 0o644)
        #expect(mode("t.svg") == 0o644)
        #expect(mode("logs") == 0o755)
        #expect(mode("logs/run1") == 0o755)
        let kept = try FileManager.default.contentsOfDirectory(atPath: work + "/logs/run1")
        #expect(!kept.isEmpty)
        for name in kept { #expect(mode("logs/run1/" + name) & 0o022 == 0, Comment(rawValue: "\(name): \(String(mode("logs/run1/" + name), radix: 8))")) }
    }

    @Test("a static program (LD_PRELOAD ignored): every report format carries the exit status 4 and says why, like stderr")
    func staticProgram() throws {
        let work = try temporaryWorkDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        try "int main(void) { return 0; }\n".write(toFile: work + "/st.c", atomically: true, encoding: .utf8)
        let build = try runBounded("/usr/bin/env", ["gcc", "-static", "-o", "st", "st.c"], cwd: work)
        try #require(build.status == 0, Comment(rawValue: build.err))
        let gilcheck = try gilcheckBinary()
        let why = "the run left no trace logs"
        let json = try runBounded(gilcheck, ["trace", "--format", "json", "--report", "r.json", "--", "./st"], cwd: work)
        #expect(json.status == 4 && json.err.contains(why), Comment(rawValue: json.err))
        let report = try jsonReport(work + "/r.json")
        #expect(report?["exitStatus"] as? Int == 4, Comment(rawValue: "\(report ?? [:])"))
        #expect((report?["warnings"] as? [String] ?? []).contains { $0.contains(why) }, Comment(rawValue: "\(report ?? [:])"))
        let text = try runBounded(gilcheck, ["trace", "--", "./st"], cwd: work)
        #expect(text.status == 4 && text.out.contains(why) && !text.out.contains("no GIL faults found"), Comment(rawValue: text.out))
        let sarif = try runBounded(gilcheck, ["trace", "--format", "sarif", "--report", "r.sarif", "--", "./st"], cwd: work)
        #expect(sarif.status == 4)
        let runs = try jsonReport(work + "/r.sarif")?["runs"] as? [[String: Any]] ?? []
        let invocation = (runs.first?["invocations"] as? [[String: Any]])?.first ?? [:]
        #expect(invocation["executionSuccessful"] as? Bool == false, Comment(rawValue: "\(invocation)"))
        let notes = invocation["toolExecutionNotifications"] as? [[String: Any]] ?? []
        #expect(notes.contains { (($0["message"] as? [String: Any])?["text"] as? String ?? "").contains(why) }, Comment(rawValue: "\(invocation)"))
        let html = try runBounded(gilcheck, ["trace", "--format", "html", "--report", "r.html", "--", "./st"], cwd: work)
        let page = (try? String(contentsOfFile: work + "/r.html", encoding: .utf8)) ?? ""
        #expect(html.status == 4 && page.contains(why) && !page.contains("no GIL faults found"), Comment(rawValue: page))
        let chrome = try runBounded(gilcheck, ["trace", "--format", "chrome", "--report", "r.trace.json", "--", "./st"], cwd: work)
        let other = try jsonReport(work + "/r.trace.json")?["otherData"] as? [String: Any] ?? [:]
        #expect(chrome.status == 4 && other["exitStatus"] as? Int == 4 && "\(other["warnings"] ?? "")".contains(why), Comment(rawValue: "\(other)"))
    }

    @Test("each traced process's end is reported: a forked child killed by SIGABRT holding the GIL, a child that exits")
    func processEnds() throws {
        let work = try temporaryWorkDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let source = packageRoot.appendingPathComponent("corpus/runtime/embed_fork_child_aborts.c").path
        let flags = try pythonConfig(["--cflags", "--embed", "--ldflags"])
        let build = try runBounded("/usr/bin/env", ["gcc", "-g", "-O0", "-o", "prog", source] + flags + ["-pthread"], cwd: work)
        try #require(build.status == 0, Comment(rawValue: build.err))
        let r = try runBounded(try gilcheckBinary(), ["trace", "--format", "json", "--report", "r.json", "--", "./prog"], cwd: work)
        #expect(r.status == 3, Comment(rawValue: r.err))
        let processes = try jsonReport(work + "/r.json")?["processes"] as? [[String: Any]] ?? []
        #expect(processes.count == 2, Comment(rawValue: "\(processes)"))
        let parent = processes.first { ($0["ppid"] as? Int) != processes.first?["pid"] as? Int }
        let child = processes.first { ($0["ppid"] as? Int) == parent?["pid"] as? Int }
        #expect((child?["command"] as? [String] ?? []).first?.hasSuffix("prog") == true, Comment(rawValue: "\(processes)"))
        let childEnd = child?["end"] as? [String: Any] ?? [:]
        #expect(childEnd["how"] as? String == "signal" && childEnd["signalName"] as? String == "SIGABRT"
                && childEnd["heldGIL"] as? Bool == true, Comment(rawValue: "\(processes)"))
        #expect(child?["forked"] as? Bool == true, Comment(rawValue: "\(processes)"))
        let parentEnd = parent?["end"] as? [String: Any] ?? [:]
        #expect(parentEnd["how"] as? String == "exited" && parentEnd["status"] as? Int == 0, Comment(rawValue: "\(processes)"))
        let shown = try runBounded(try gilcheckBinary(), ["trace", "--", "./prog"], cwd: work)
        #expect(shown.out.contains("killed by SIGABRT while holding the GIL"), Comment(rawValue: shown.out))
    }

    @Test("a sampled run still counts every acquisition of every thread exactly")
    func exactCountsWhenSampled() throws {
        let work = try temporaryWorkDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let source = packageRoot.appendingPathComponent("corpus/runtime/host_ok_callbacks.c").path
        let build = try runBounded("/usr/bin/env", ["gcc", "-g", "-O1", "-shared", "-fPIC", "-o", "libok.so", source]
                                   + (try pythonConfig(["--includes"])) + ["-pthread"], cwd: work)
        try #require(build.status == 0, Comment(rawValue: build.err))
        // on_frame takes the GIL once per call; 3 threads x 600 calls each, far past the 256 timed ones per thread.
        let r = try runBounded(try gilcheckBinary(), ["host", "--format", "json", "--report", "r.json", "--sample", "16",
                                                      "--long-hold", "10s", "--jitter-us", "0", work + "/libok.so",
                                                      "--entry", "on_frame", "--threads", "3", "--iterations", "600"], cwd: work)
        #expect(r.status == 0, Comment(rawValue: r.err))
        let report = try jsonReport(work + "/r.json")
        let workers = ((report?["threads"] as? [[String: Any]]) ?? []).filter { ($0["name"] as? String)?.contains("worker") == true }
        #expect(workers.count == 3)
        for w in workers { #expect(w["acquisitions"] as? Int == 600, Comment(rawValue: "\(w)")) }
        #expect((report?["sampling"] as? [String: Any])?["rate"] as? Int == 16)
    }

    @Test("each runtime case reports exactly its expected findings", arguments: cases)
    func runtimeCase(_ c: RuntimeCase) throws {
        let work = try temporaryWorkDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let gilcheck = try gilcheckBinary()
        // The report goes to a file: the traced program shares stdout.
        let reportPath = work + "/report.json"
        // A loaded test machine stretches GIL holds: gil-long-hold only where a case asks for it.
        let traceOptions = ["--format", "json", "--report", reportPath, "--hang-timeout", "2s"]
            + (c.options.isEmpty ? ["--long-hold", "10s"] : c.options)
        var arguments: [String]
        switch c.shape {
        case .embed(let args):
            let flags = try pythonConfig(["--cflags", "--embed", "--ldflags"])
            let build = try runBounded("/usr/bin/env", ["gcc", "-g", "-O0", "-o", "prog", c.path] + flags + ["-pthread"], cwd: work)
            try #require(build.status == 0, Comment(rawValue: "gcc failed: \(build.err)"))
            arguments = ["trace"] + traceOptions + ["--", work + "/prog"] + args
        case .extensionModule:
            let suffix = try pythonConfig(["--extension-suffix"]).first ?? ".so"
            let includes = try pythonConfig(["--includes"])
            let build = try runBounded("/usr/bin/env", ["gcc", "-g", "-O0", "-shared", "-fPIC", "-o", c.name + suffix, c.path]
                                       + includes + ["-pthread"], cwd: work)
            try #require(build.status == 0, Comment(rawValue: "gcc failed: \(build.err)"))
            let python = systemPython
            arguments = ["trace"] + traceOptions + ["--", python, "-c", "import \(c.name); \(c.name).run()"]
        case .host(let args):
            let includes = try pythonConfig(["--includes"])
            let build = try runBounded("/usr/bin/env", ["gcc", "-g", "-O0", "-shared", "-fPIC", "-o", "lib\(c.name).so", c.path]
                                       + includes + ["-pthread"], cwd: work)
            try #require(build.status == 0, Comment(rawValue: "gcc failed: \(build.err)"))
            arguments = ["host"] + traceOptions + [work + "/lib\(c.name).so"] + args
        }
        let r = try runBounded(gilcheck, arguments, cwd: work)
        let reportData = FileManager.default.contents(atPath: reportPath) ?? Data()
        let report = try? JSONSerialization.jsonObject(with: reportData) as? [String: Any]
        let findings = try #require(report?["findings"] as? [[String: Any]], Comment(rawValue: "no JSON report: \(r.out)\n\(r.err)"))
        let file = (c.path as NSString).lastPathComponent
        var unmatched = findings
        func lines(_ f: [String: Any]) -> [Int] {
            ((f["stack"] as? [[String: Any]]) ?? []).compactMap { frame in
                guard let path = frame["file"] as? String, (path as NSString).lastPathComponent == file else { return nil }
                return frame["line"] as? Int
            }
        }
        var problems: [String] = []
        for e in c.atLine {
            if let i = unmatched.firstIndex(where: { ($0["ruleId"] as? String) == e.rule && lines($0).first == e.line }) {
                unmatched.remove(at: i)
            } else {
                problems.append("missing \(e.rule) at line \(e.line)")
            }
        }
        for rule in c.anywhere {
            if let i = unmatched.firstIndex(where: { ($0["ruleId"] as? String) == rule }) { unmatched.remove(at: i) } else {
                problems.append("missing \(rule)")
            }
        }
        for f in unmatched {
            problems.append("unexpected \(f["ruleId"] ?? "?") at lines \(lines(f)): \(f["message"] ?? "")")
        }
        #expect(problems.isEmpty, Comment(rawValue: "\(c):\n  " + problems.joined(separator: "\n  ") + "\n\(r.err)"))
        let expectedStatus = c.exitStatus ?? (c.atLine.isEmpty && c.anywhere.isEmpty ? 0 : 1)
        #expect(r.status == expectedStatus, Comment(rawValue: "\(c): gilcheck exited \(r.status)\n\(r.err)"))
    }
}
