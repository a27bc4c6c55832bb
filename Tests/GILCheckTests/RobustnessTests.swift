import Foundation
import Testing

/// What one run of the built binary did, with a time limit.
struct BoundedRun {
    var status: Int32
    /// Killed by a signal (`status` is then the signal number).
    var signaled: Bool
    var timedOut: Bool
    var seconds: Double
    var out: String
    var err: String

    var summary: String {
        "status \(status)\(signaled ? " (signal)" : "")\(timedOut ? " (timed out)" : ""), \(String(format: "%.1f", seconds)) s; stderr: \(err.prefix(2000))"
    }
}

/// The `gilcheck` binary the tests run (next to the test bundle, or in .build/debug).
func builtGILCheck() throws -> URL {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [exe.appendingPathComponent("gilcheck"), exe.deletingLastPathComponent().appendingPathComponent("gilcheck"),
                      packageRoot.appendingPathComponent(".build/debug/gilcheck")]
    guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "gilcheck binary next to \(exe.path)"])
    }
    return binary
}

/// Runs `gilcheck arguments` in `cwd` with extra environment variables, killing it after `timeout` seconds.
/// Output goes through files, so a run that hangs cannot block the test on a full pipe.
func runBounded(_ arguments: [String], cwd: URL = packageRoot, environment: [String: String] = [:],
                timeout: Double = 120, shell: String? = nil) throws -> BoundedRun {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gilcheck-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let p = Process()
    if let shell {
        // `sh -c 'umask 000; exec "$0" "$@"' gilcheck ARGS...`
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", shell + "; exec \"$0\" \"$@\"", try builtGILCheck().path] + arguments
    } else {
        p.executableURL = try builtGILCheck()
        p.arguments = arguments
    }
    p.currentDirectoryURL = cwd
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = try FileHandle(forWritingTo: outURL)
    p.standardError = try FileHandle(forWritingTo: errURL)
    let start = Date()
    try p.run()
    var timedOut = false
    while p.isRunning {
        if Date().timeIntervalSince(start) > timeout {
            timedOut = true
            kill(p.processIdentifier, SIGKILL)
            break
        }
        usleep(20_000)
    }
    p.waitUntilExit()
    let seconds = Date().timeIntervalSince(start)
    return BoundedRun(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal, timedOut: timedOut,
                      seconds: seconds, out: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                      err: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
}

/// A C function that leaks its GIL state on one path (one ensure-leak finding).
private func leakingFunction(_ name: String) -> String {
    """
    #include <Python.h>
    int \(name)(int e) {
        PyGILState_STATE s = PyGILState_Ensure();
        if (e) return -1;
        PyGILState_Release(s);
        return 0;
    }

    """
}

/// Generated code that nests deeper than libclang's own 8 MB parse thread can take, each with the clang flags
/// it needs. The texts are built by the tests, never stored.
struct DeepInput: CustomStringConvertible, Sendable {
    var name: String
    var body: @Sendable () -> String
    var flags: [String] = []
    var description: String { name }

    static let all: [DeepInput] = [
        DeepInput(name: "a sum of 50,000 terms") {
            "int deep(int x) { return " + Array(repeating: "x", count: 50_000).joined(separator: " + ") + "; }\n"
        },
        DeepInput(name: "an else-if chain of 10,000") {
            "int deep(int x) {\n    if (x == 0) return 0;\n"
                + (1..<10_000).map { "    else if (x == \($0)) return \($0);\n" }.joined() + "    return -1;\n}\n"
        },
        DeepInput(name: "100,000 comma operands") {
            "int deep(int x) { return (" + Array(repeating: "x", count: 100_000).joined(separator: ", ") + "); }\n"
        },
        DeepInput(name: "20,000 && operands") {
            "int deep(int x) { return " + Array(repeating: "x", count: 20_000).joined(separator: " && ") + "; }\n"
        },
        DeepInput(name: "10,000 nested blocks with a raised -fbracket-depth", body: nestedBlocks, flags: ["-fbracket-depth=20000"]),
    ]

    /// `void deep(void) {{{...}}}`, 10,000 deep.
    @Sendable static func nestedBlocks() -> String {
        "void deep(void) " + String(repeating: "{", count: 10_000) + String(repeating: "}", count: 10_000) + "\n"
    }
}

@Suite("Nothing a user feeds lint crashes it, hangs it or misleads")
struct RobustnessTests {
    // MARK: - YAML

    /// 400-odd bytes that expand to 10^9 nodes in a mapping key.
    static let aliasBomb: String = {
        var lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in 1...8 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        lines += ["? [*a8, *a8]", ": 1", "? [*a8, *a8]", ": 2"]
        return lines.joined(separator: "\n") + "\n"
    }()

    @Test("an alias bomb in a discovered .gilcheck.yml or a --rules file is refused at once, with file:line")
    func aliasBomb() throws {
        #expect(Self.aliasBomb.utf8.count < 600)
        let dir = try temporaryProject([".gilcheck.yml": Self.aliasBomb, "rules/bomb.yml": Self.aliasBomb,
                                        "src/a.c": leakingFunction("a")])
        let config = try runBounded(["lint", "src/a.c"], cwd: dir, timeout: 20)
        #expect(!config.timedOut && config.status == 2, Comment(rawValue: config.summary))
        #expect(config.err.contains(".gilcheck.yml:2: YAML anchors"), Comment(rawValue: config.err))
        try FileManager.default.removeItem(at: dir.appendingPathComponent(".gilcheck.yml"))
        let rules = try runBounded(["lint", "--rules", "rules/bomb.yml", "src/a.c"], cwd: dir, timeout: 20)
        #expect(!rules.timedOut && rules.status == 2, Comment(rawValue: rules.summary))
        #expect(rules.err.contains("rules/bomb.yml:2: YAML anchors"), Comment(rawValue: rules.err))
    }

    @Test("a config file larger than the size limit is refused")
    func hugeConfig() throws {
        let dir = try temporaryProject(["a.c": leakingFunction("a"),
                                        "big.yml": "version: 1\n" + String(repeating: "# padding padding padding\n", count: 200_000)])
        let r = try runBounded(["lint", "--config", "big.yml", "a.c"], cwd: dir, timeout: 30)
        #expect(r.status == 2, Comment(rawValue: r.summary))
        #expect(r.err.contains("big.yml: cannot read the config file: it is"), Comment(rawValue: r.err))
    }

    // MARK: - Deep code and crashes

    @Test("deep generated code is analyzed like any other file, never a signal", arguments: DeepInput.all)
    func deepCode(_ input: DeepInput) throws {
        let dir = try temporaryProject(["deep.c": leakingFunction("leaks") + input.body()])
        let r = try runBounded(["lint", "deep.c", "--"] + input.flags, cwd: dir, timeout: 60)
        #expect(!r.signaled && !r.timedOut && r.status == 1, Comment(rawValue: r.summary))
        #expect(r.out.contains("[ensure-leak]"), Comment(rawValue: r.out))
    }

    @Test("a file that crashes the analysis is reported as not analyzed; the other files' findings are reported and -o is replaced")
    func oneCrashingFileAmongGoodOnes() throws {
        // The worker stack is made small so that the nested blocks overflow it: a real SIGSEGV inside
        // clang_parseTranslationUnit2, on one of our threads.
        let dir = try temporaryProject(["src/a.c": leakingFunction("a"), "src/b.c": leakingFunction("b"),
                                        "src/bad.c": leakingFunction("bad") + DeepInput.nestedBlocks(),
                                        "report.json": "stale report of an earlier run\n"])
        let r = try runBounded(["lint", "--worker-stack-mib", "8", "--format", "json", "-o", "report.json", "src",
                                "--", "-fbracket-depth=20000"], cwd: dir, timeout: 60)
        #expect(!r.signaled && r.status == 3, Comment(rawValue: r.summary))
        #expect(r.err.contains("src/bad.c") && r.err.contains("crashed"), Comment(rawValue: r.err))
        let report = try String(contentsOf: dir.appendingPathComponent("report.json"), encoding: .utf8)
        let json = try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any]
        let findings = json?["findings"] as? [[String: Any]] ?? []
        #expect(Set(findings.compactMap { $0["function"] as? String }) == ["a", "b"], Comment(rawValue: report))
        let errors = json?["errors"] as? [[String: Any]] ?? []
        #expect(errors.count == 1 && (errors.first?["file"] as? String ?? "").hasSuffix("src/bad.c")
                && (errors.first?["message"] as? String ?? "").contains("not analyzed"), Comment(rawValue: report))
    }

    @Test("an internal failure exits 4 with a message and leaves no stale -o report")
    func internalFailure() throws {
        let dir = try temporaryProject(["a.c": leakingFunction("a"), "report.txt": "stale report of an earlier run\n"])
        let r = try runBounded(["lint", "--debug-crash", "-o", "report.txt", "a.c"], cwd: dir, timeout: 60)
        #expect(!r.signaled && r.status == 4, Comment(rawValue: r.summary))
        #expect(r.err.contains("gilcheck: internal error"), Comment(rawValue: r.err))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.txt").path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["a.c"])
    }

    // MARK: - Inputs that are not regular files

    @Test("a FIFO named on the command line is refused with exit 2 and a clear message, at once")
    func namedFIFO() throws {
        let dir = try temporaryProject(["a.c": leakingFunction("a")])
        #expect(mkfifo(dir.appendingPathComponent("pipe.c").path, 0o644) == 0)
        let r = try runBounded(["lint", "a.c", "pipe.c"], cwd: dir, timeout: 20)
        #expect(!r.timedOut && r.status == 2, Comment(rawValue: r.summary))
        // The text report carries input problems with the findings (other formats print them on stderr).
        #expect(r.out.contains("pipe.c: error: pipe.c is a FIFO, not a regular file"), Comment(rawValue: r.out))
        #expect(r.out.contains("a.c:") && r.out.contains("[ensure-leak]"), Comment(rawValue: r.out))
        let device = try runBounded(["lint", "/dev/zero"], cwd: dir, timeout: 20)
        #expect(!device.timedOut && device.status == 2, Comment(rawValue: device.summary))
        #expect(device.out.contains("/dev/zero is a device, not a regular file"), Comment(rawValue: device.out))
    }

    @Test("a FIFO found in a directory is skipped, with a --verbose note, and the other files are analyzed")
    func fifoInDirectory() throws {
        let dir = try temporaryProject(["src/a.c": leakingFunction("a")])
        #expect(mkfifo(dir.appendingPathComponent("src/pipe.c").path, 0o644) == 0)
        let r = try runBounded(["lint", "--verbose", "src"], cwd: dir, timeout: 20)
        #expect(!r.timedOut && r.status == 1, Comment(rawValue: r.summary))
        #expect(r.out.contains("src/a.c:") && !r.out.contains("pipe.c"), Comment(rawValue: r.out))
        #expect(r.err.contains("src/pipe.c: skipped: a FIFO, not a regular file"), Comment(rawValue: r.err))
        let quiet = try runBounded(["lint", "src"], cwd: dir, timeout: 20)
        #expect(!quiet.timedOut && quiet.status == 1 && !quiet.err.contains("pipe.c"), Comment(rawValue: quiet.summary))
    }

    @Test("a compilation database entry naming a FIFO is refused with exit 2; the other entries are analyzed")
    func fifoInDatabase() throws {
        let dir = try temporaryProject(["src/a.c": leakingFunction("a")])
        #expect(mkfifo(dir.appendingPathComponent("src/pipe.c").path, 0o644) == 0)
        let entries = ["a.c", "pipe.c"].map {
            "{\"directory\": \"\(dir.path)/src\", \"file\": \"\($0)\", \"arguments\": [\"cc\", \"-c\", \"\($0)\"]}"
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("build"), withIntermediateDirectories: true)
        try ("[" + entries.joined(separator: ",") + "]").write(to: dir.appendingPathComponent("build/compile_commands.json"),
                                                              atomically: true, encoding: .utf8)
        let r = try runBounded(["lint", "-p", "build", "--format", "json"], cwd: dir, timeout: 20)
        #expect(!r.timedOut && r.status == 2, Comment(rawValue: r.summary))
        #expect(r.err.contains("src/pipe.c is a FIFO, not a regular file"), Comment(rawValue: r.err))
        #expect(r.out.contains("src/a.c") && r.out.contains("\"ensure-leak\""), Comment(rawValue: r.out))
    }

    // MARK: - The pre-check

    @Test("a file the pre-check cannot tokenize cleanly is parsed, and reported with exit 3 when it is broken",
          arguments: [
              ("an unterminated comment", "int x;\n/* the comment never ends\nint f(void) { return 0; }\n"),
              ("an unterminated string", "const char *s = \"never ends;\nint f(void) { return 0; }\n"),
              ("an unterminated character literal", "int c = 'x;\nint f(void) { return 0; }\n"),
              ("an #if without #endif", "#if 1\nint f(void) { return 0; }\n"),
              ("an #endif without #if", "int f(void) { return 0; }\n#endif\n"),
              ("an unterminated raw string", "const char *s = R\"x(never ends;\nint f() { return 0; }\n"),
          ])
    func precheckDoesNotHideParseErrors(_ kind: String, _ text: String) throws {
        let name = text.contains("R\"") ? "broken.cpp" : "broken.c"
        let dir = try temporaryProject([name: text])
        let r = try runBounded(["lint", name], cwd: dir, timeout: 30)
        #expect(r.status == 3, Comment(rawValue: "\(kind): \(r.summary)"))
        #expect(r.out.contains("[gilcheck-parse-error]"), Comment(rawValue: "\(kind): \(r.out)"))
    }

    @Test("text the pre-check cannot tokenize cleanly but clang accepts is parsed and gives no error")
    func precheckUncleanButValid() throws {
        // An apostrophe in an #error line of a skipped block: clang does not lex it as a literal.
        let dir = try temporaryProject(["ok.c": "#if 0\n#error don't build this\n#endif\nint f(void) { return 0; }\n"])
        let r = try runBounded(["lint", "--verbose", "ok.c"], cwd: dir, timeout: 30)
        #expect(r.status == 0, Comment(rawValue: r.summary))
        #expect(r.err.contains("1 file: 1 parsed"), Comment(rawValue: r.err))
    }

    // MARK: - Output files

    /// The permission bits of `path`.
    static func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    @Test("under umask 000 the report and the baseline are created 0644, and an existing report loses write bits for others")
    func outputModes() throws {
        let dir = try temporaryProject(["a.c": leakingFunction("a")])
        let r = try runBounded(["lint", "--format", "json", "-o", "report.json", "--write-baseline", "base.json", "a.c"],
                               cwd: dir, timeout: 60, shell: "umask 000")
        #expect(r.status == 0, Comment(rawValue: r.summary))
        #expect(Self.mode(dir.appendingPathComponent("report.json").path) == 0o644)
        #expect(Self.mode(dir.appendingPathComponent("base.json").path) == 0o644)
        #expect(chmod(dir.appendingPathComponent("report.json").path, 0o666) == 0)
        let again = try runBounded(["lint", "--format", "json", "-o", "report.json", "a.c"], cwd: dir, timeout: 60, shell: "umask 000")
        #expect(again.status == 1, Comment(rawValue: again.summary))
        #expect(Self.mode(dir.appendingPathComponent("report.json").path) == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["a.c", "base.json", "report.json"])
    }

    @Test("-o /dev/stdout is written in place, never replaced")
    func outputToDevice() throws {
        let dir = try temporaryProject(["a.c": leakingFunction("a")])
        let r = try runBounded(["lint", "-o", "/dev/stdout", "a.c"], cwd: dir, timeout: 60)
        #expect(r.status == 1 && r.out.contains("[ensure-leak]"), Comment(rawValue: r.summary))
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR)
    }

    // MARK: - Messages

    @Test("rules-files naming a FIFO, a device or a directory: exit 2 naming the file, the key and what is expected")
    func rulesFilesOfTheWrongKind() throws {
        let dir = try temporaryProject(["a.c": leakingFunction("a")])
        #expect(mkfifo(dir.appendingPathComponent("fifo.yml").path, 0o644) == 0)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("dir.yml"), withIntermediateDirectories: true)
        for (target, kind) in [("fifo.yml", "is not a regular file"), ("/dev/zero", "is not a regular file"), ("dir.yml", "is a directory")] {
            try "version: 1\nrules-files: [\(target)]\n".write(to: dir.appendingPathComponent("cfg.yml"), atomically: true, encoding: .utf8)
            let r = try runBounded(["lint", "--config", "cfg.yml", "a.c"], cwd: dir, timeout: 20)
            #expect(!r.timedOut && r.status == 2, Comment(rawValue: r.summary))
            #expect(r.err.contains("cfg.yml:2: `rules-files`: ") && r.err.contains(kind) && r.err.contains("expected a YAML rules file"),
                    Comment(rawValue: r.err))
            #expect(!r.err.contains("permission") && !r.err.contains("NSCocoaErrorDomain"), Comment(rawValue: r.err))
        }
        for (target, kind) in [("fifo.yml", "is a FIFO"), ("/dev/zero", "is a device"), ("dir.yml", "is a directory")] {
            let r = try runBounded(["lint", "--rules", target, "a.c"], cwd: dir, timeout: 20)
            #expect(!r.timedOut && r.status == 2, Comment(rawValue: r.summary))
            #expect(r.err.contains("\(target): cannot read rules file: it \(kind)"), Comment(rawValue: r.err))
        }
    }

    @Test("a baseline count of 1.5 or -5 and a deprecation since \"banana\" are refused, naming file, key and expectation")
    func badValues() throws {
        let dir = try temporaryProject(["a.c": leakingFunction("a"),
                                        "r.yml": "version: 1\nfunctions:\n  old_api: { gil: required, deprecated: { since: \"banana\" } }\n"])
        let write = try runBounded(["lint", "--write-baseline", "base.json", "a.c"], cwd: dir, timeout: 60)
        #expect(write.status == 0, Comment(rawValue: write.summary))
        let base = try String(contentsOf: dir.appendingPathComponent("base.json"), encoding: .utf8)
        #expect(base.contains("\"count\" : 1"))
        for (value, expected) in [("1.5", "`findings[0].count` must be a whole number of at least 1"),
                                  ("-5", "`findings[0].count` must be a whole number of at least 1"),
                                  ("\"two\"", "`findings[0].count` must be a whole number of at least 1")] {
            try base.replacingOccurrences(of: "\"count\" : 1", with: "\"count\" : \(value)")
                .write(to: dir.appendingPathComponent("bad.json"), atomically: true, encoding: .utf8)
            let r = try runBounded(["lint", "--baseline", "bad.json", "a.c"], cwd: dir, timeout: 60)
            #expect(r.status == 2, Comment(rawValue: r.summary))
            #expect(r.err.contains("bad.json: ") && r.err.contains(expected), Comment(rawValue: r.err))
            #expect(!r.err.contains("not valid JSON"), Comment(rawValue: r.err))
        }
        let rules = try runBounded(["lint", "--rules", "r.yml", "a.c"], cwd: dir, timeout: 60)
        #expect(rules.status == 2, Comment(rawValue: rules.summary))
        #expect(rules.err.contains("r.yml:3: deprecated.since of 'old_api' must be a Python version like \"3.9\", not 'banana'"),
                Comment(rawValue: rules.err))
    }
}
