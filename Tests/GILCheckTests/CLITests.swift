import Foundation
import Testing

/// Runs the built `gilcheck` binary and returns its exit status, stdout and stderr.
func runGILCheck(_ arguments: [String], cwd: URL = packageRoot) throws -> (status: Int32, out: String, err: String) {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [exe.appendingPathComponent("gilcheck"), exe.deletingLastPathComponent().appendingPathComponent("gilcheck"),
                      packageRoot.appendingPathComponent(".build/debug/gilcheck")]
    guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "gilcheck binary next to \(exe.path)"])
    }
    let p = Process()
    p.executableURL = binary
    p.arguments = arguments
    p.currentDirectoryURL = cwd
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func temporaryFile(_ name: String, _ text: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gilcheck-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url
}

@Suite("Command line")
struct CLITests {
    @Test("the bundled example gives clang-style findings with notes and exit status 1")
    func example() throws {
        let r = try runGILCheck(["lint", "examples/render_hooks.c"])
        #expect(r.status == 1)
        #expect(r.out.contains("examples/render_hooks.c:45:9: error: GIL state 'gil' acquired by PyGILState_Ensure() is not released before this return [ensure-leak]"))
        #expect(r.out.contains("        return -1;\n        ^\n"))
        #expect(r.out.contains("examples/render_hooks.c:42:28: note: GIL acquired here"))
        #expect(r.out.contains("[api-without-gil]"))
        #expect(!r.out.contains("node_evaluate"))
    }

    @Test("generated code nested thousands deep is analyzed without a crash and without giving up")
    func deeplyNested() throws {
        // A 3,000-arm else-if chain (one join block per level) and a 10,000-term sum (as deep an AST).
        var lines = ["#include <Python.h>", "int chain(int x) {", "  PyGILState_STATE s = PyGILState_Ensure();",
                     "  int r = 0;", "  if (x == 0) r = 0;"]
        for i in 1..<3000 { lines.append("  else if (x == \(i)) r = \(i);") }
        lines += ["  if (r < 0) return r;", "  PyGILState_Release(s);", "  return r;", "}"]
        lines.append("int sum(int x) { return " + (0..<10_000).map { "x*\($0)" }.joined(separator: " + ") + "; }")
        let f = try temporaryFile("deep.c", lines.joined(separator: "\n") + "\n")
        let r = try runGILCheck(["lint", "--format", "json", f.path])
        #expect(r.status == 1, Comment(rawValue: r.err))
        #expect(r.out.contains("\"ruleId\" : \"ensure-leak\""))
        #expect(!r.out.contains("analysis-budget"))
    }

    @Test("correct code exits 0 and prints nothing")
    func clean() throws {
        let f = try temporaryFile("ok.c", """
            #include <Python.h>
            void ok(void) { PyGILState_STATE s = PyGILState_Ensure(); PyGILState_Release(s); }
            """)
        let r = try runGILCheck(["lint", f.path])
        #expect(r.status == 0)
        #expect(r.out.isEmpty)
    }

    @Test("-j takes its value attached (-j1) or separate (-j 1)")
    func jobsShortOption() throws {
        let f = try temporaryFile("ok.c", """
            #include <Python.h>
            void ok(void) { PyGILState_STATE s = PyGILState_Ensure(); PyGILState_Release(s); }
            """)
        for arguments in [["-j1"], ["-j", "1"], ["--jobs", "2"]] {
            let r = try runGILCheck(["lint"] + arguments + [f.path])
            #expect(r.status == 0, Comment(rawValue: "\(arguments): \(r.err)"))
        }
    }

    @Test("a missing input is a usage error with exit status 2 and a one-line message")
    func missingInput() throws {
        let r = try runGILCheck(["lint", "/nonexistent/x.c"])
        #expect(r.status == 2)
        #expect(r.out.contains("/nonexistent/x.c does not exist"))
    }

    @Test("no inputs, an unknown flag or an unknown rule id is a usage error")
    func usage() throws {
        #expect(try runGILCheck(["lint"]).status == 2)
        let unknownFlag = try runGILCheck(["lint", "--frobnicate", "examples/render_hooks.c"])
        #expect(unknownFlag.status == 2)
        #expect(unknownFlag.err.contains("--frobnicate"))
        let r = try runGILCheck(["lint", "--only", "ensure-leek", "examples/render_hooks.c"])
        #expect(r.status == 2)
        #expect(r.err.contains("did you mean 'ensure-leak'"))
    }

    @Test("a bad rules file names the file, the line and the fix, with exit status 2")
    func badRules() throws {
        let rules = try temporaryFile("bad.yml", "version: 1\nfunctions:\n  ctx_enter: { efect: ensure }\n")
        let r = try runGILCheck(["lint", "--rules", rules.path, "examples/render_hooks.c"])
        #expect(r.status == 2)
        #expect(r.err.contains("bad.yml:3"))
        #expect(r.err.contains("did you mean 'effect'"))
    }

    @Test("a file with syntax errors is reported with clang's errors, exit 3, and other files are still analyzed")
    func parseError() throws {
        // It names a Python API, so the token pre-check does not skip it.
        let broken = try temporaryFile("broken.c", "#include <Python.h>\nint f(void) { Py_Initialize(); return 1 +; }\n")
        let r = try runGILCheck(["lint", broken.path, "examples/render_hooks.c"])
        #expect(r.status == 3)
        #expect(r.out.contains("broken.c:2:"))
        #expect(r.out.contains("[gilcheck-parse-error]"))
        #expect(r.out.contains("[ensure-leak]"))
    }

    @Test("JSON output follows the documented schema")
    func json() throws {
        let r = try runGILCheck(["lint", "--format", "json", "examples/render_hooks.c"])
        #expect(r.status == 1)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(doc["schemaVersion"] as? Int == 1)
        let findings = try #require(doc["findings"] as? [[String: Any]])
        #expect(findings.count == 3)
        let first = try #require(findings.first)
        for key in ["ruleId", "file", "line", "column", "function", "severity", "message", "path"] {
            #expect(first[key] != nil, "missing \(key)")
        }
        #expect(first["function"] as? String == "node_refresh")
        let path = try #require(first["path"] as? [[String: Any]])
        #expect(path.first?["message"] as? String == "GIL acquired here by PyGILState_Ensure()")
    }

    @Test("SARIF output carries the rule table, relative locations and code flows")
    func sarif() throws {
        let r = try runGILCheck(["lint", "--format", "sarif", "examples/render_hooks.c"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(doc["version"] as? String == "2.1.0")
        let run = try #require((doc["runs"] as? [[String: Any]])?.first)
        let driver = try #require((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
        let rules = try #require(driver["rules"] as? [[String: Any]])
        #expect(rules.contains { $0["id"] as? String == "ensure-leak" })
        let results = try #require(run["results"] as? [[String: Any]])
        let loc = try #require(((results.first?["locations"] as? [[String: Any]])?.first?["physicalLocation"]) as? [String: Any])
        let artifact = try #require(loc["artifactLocation"] as? [String: Any])
        #expect(artifact["uri"] as? String == "examples/render_hooks.c")
        #expect(artifact["uriBaseId"] as? String == "%SRCROOT%")
        #expect(results.first?["codeFlows"] != nil)
    }

    @Test("compiler flags after -- reach libclang")
    func passthroughFlags() throws {
        let f = try temporaryFile("flags.c", """
            #include <Python.h>
            int f(int e) {
                PyGILState_STATE s = PyGILState_Ensure();
            #ifdef BUGGY
                if (e) return -1;
            #endif
                PyGILState_Release(s);
                return 0;
            }
            """)
        #expect(try runGILCheck(["lint", f.path]).status == 0)
        let r = try runGILCheck(["lint", f.path, "--", "-DBUGGY=1"])
        #expect(r.status == 1)
        #expect(r.out.contains(":5:12: error:"))
    }

    @Test("summaries reach across the files of one run")
    func acrossFiles() throws {
        let helpers = try temporaryFile("gil_helpers.c", """
            #include <Python.h>
            void project_gil_enter(PyGILState_STATE *out) { *out = PyGILState_Ensure(); }
            void project_gil_leave(PyGILState_STATE *st) { PyGILState_Release(*st); }
            void project_log(PyObject *logger) { PyObject *r = PyObject_CallNoArgs(logger); Py_XDECREF(r); }
            """)
        let user = helpers.deletingLastPathComponent().appendingPathComponent("render.c")
        try """
            #include <Python.h>
            void project_gil_enter(PyGILState_STATE *out);
            void project_gil_leave(PyGILState_STATE *st);
            void project_log(PyObject *logger);
            extern int frame_ready(void);
            int render(PyObject *logger) {
                PyGILState_STATE st;
                project_gil_enter(&st);
                if (!frame_ready())
                    return -1;
                project_log(logger);
                project_gil_leave(&st);
                return 0;
            }
            void bake(PyObject *logger) {
                Py_BEGIN_ALLOW_THREADS
                project_log(logger);
                Py_END_ALLOW_THREADS
            }
            """.write(to: user, atomically: true, encoding: .utf8)
        // Alone, render.c knows nothing of the helpers: no finding.
        #expect(try runGILCheck(["lint", user.path]).status == 0)
        let r = try runGILCheck(["lint", helpers.path, user.path])
        #expect(r.status == 1)
        #expect(r.out.contains("render.c:10:9: error: GIL state 'st' acquired by project_gil_enter() is not released before this return [ensure-leak]"))
        #expect(r.out.contains("project_gil_enter() acquires the GIL and hands its state to the caller (summary)"))
        #expect(r.out.contains("render.c:17:5: error: project_log() (summary: it calls PyObject_CallNoArgs()) needs the GIL"))
    }

    @Test("rules and explain document every rule")
    func discoverability() throws {
        let rules = try runGILCheck(["rules"])
        #expect(rules.status == 0)
        #expect(rules.out.contains("ensure-leak"))
        #expect(rules.out.contains("api-without-gil"))
        let explain = try runGILCheck(["explain", "allow-threads-leak"])
        #expect(explain.status == 0)
        #expect(explain.out.contains("Wrong:"))
        #expect(try runGILCheck(["explain", "no-such-rule"]).status == 2)
    }

    @Test("rules --libs lists every library model shipped in rules/libs, with its blocking calls and callbacks")
    func libraryModels() throws {
        let dir = packageRoot.appendingPathComponent("rules/libs")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yml") }.sorted()
        #expect(files.count >= 20)
        let r = try runGILCheck(["rules", "--libs"])
        #expect(r.status == 0)
        for file in files {
            #expect(r.out.contains("(\(file)): "), "rules --libs does not list \(file)")
        }
        #expect(r.out.contains("SQLite (sqlite.yml): "))
        #expect(r.out.contains("sqlite3_step"))
        #expect(r.out.contains("SDL_OpenAudioDevice"))
    }
}
