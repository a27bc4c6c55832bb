import Foundation
import Testing

/// A scratch project directory with the given files (relative path → text).
func temporaryProject(_ files: [String: String]) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gilcheck-project-\(UUID().uuidString)")
    for (path, text) in files {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }
    return dir.resolvingSymlinksInPath()
}

/// The count of `needle` in `text`.
func occurrences(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

/// A function that leaks its GIL state on the error path.
func leaky(_ name: String) -> String {
    """
    int \(name)(int err) {
        PyGILState_STATE st = PyGILState_Ensure();
        if (err)
            return -1;
        PyGILState_Release(st);
        return 0;
    }

    """
}

@Suite("Adoption on real projects")
struct AdoptionTests {
    /// A CMake-like tree: a shared header with an inline helper, a source whose bug exists only with a -D
    /// flag, relative -I paths that must resolve against the entry's directory.
    static func cmakeProject() throws -> URL {
        let root = try temporaryProject([
            "include/gil_util.h": """
                #include <Python.h>
                static inline int shared_helper(int e) {
                    PyGILState_STATE s = PyGILState_Ensure();
                    if (e) return -1;
                    PyGILState_Release(s);
                    return 0;
                }
                """,
            "src/render.c": """
                #include "gil_util.h"
                int render(int e) {
                    PyGILState_STATE s = PyGILState_Ensure();
                #if STRICT_PATHS
                    if (e) return -1;
                #endif
                    PyGILState_Release(s);
                    return shared_helper(e);
                }
                """,
            "src/audio.c": """
                #include <gil_util.h>
                int audio(int e) { return shared_helper(e) + 1; }
                """,
            "src/math_only.c": "int add_numbers(int x, int y) { return x + y; }\n",
        ])
        let db = """
            [
              {"directory": "\(root.path)/build", "file": "../src/render.c",
               "command": "/usr/bin/cc -I../include -DSTRICT_PATHS=1 -MD -MF render.d -o CMakeFiles/render.o -c ../src/render.c"},
              {"directory": "\(root.path)/build", "file": "\(root.path)/src/audio.c",
               "arguments": ["ccache", "cc", "-I", "../include", "-Werror", "-c", "\(root.path)/src/audio.c", "-o", "audio.o"]},
              {"directory": "\(root.path)/build", "file": "../src/math_only.c", "command": "cc -O2 -c '../src/math_only.c'"}
            ]
            """
        try FileManager.default.createDirectory(at: root.appendingPathComponent("build"), withIntermediateDirectories: true)
        try db.write(to: root.appendingPathComponent("build/compile_commands.json"), atomically: true, encoding: .utf8)
        return root
    }

    @Test("-p reads compile_commands.json: each entry's own flags and directory, a shared header reported once")
    func compilationDatabase() throws {
        let root = try Self.cmakeProject()
        let r = try runGILCheck(["lint", "-p", "build", "--verbose"], cwd: root)
        #expect(r.status == 1, Comment(rawValue: r.out + r.err))
        // The -D flag of render.c's entry makes its early return real.
        #expect(r.out.contains("\(root.path)/src/render.c:5:12: error: GIL state 's'"))
        // Both entries include the header (one by a relative -I): its finding is reported once.
        #expect(occurrences("include/gil_util.h:4:12: error:", in: r.out) == 1, Comment(rawValue: r.out))
        #expect(r.err.contains("3 files: 2 parsed"), Comment(rawValue: r.err))
        #expect(r.err.contains("1 skipped by the pre-check"), Comment(rawValue: r.err))
        #expect(!r.out.contains("gilcheck-parse-error"))

        // Parsing in the entries' directory must not move the process: relative output stays relative to the
        // current directory (libclang's -working-directory would chdir() the whole process).
        let sarif = try runGILCheck(["lint", "-p", "build", "--format", "sarif", "--write-baseline", "base.json"], cwd: root)
        #expect(sarif.out.contains("\"uri\" : \"src/render.c\""), Comment(rawValue: sarif.out))
        #expect(sarif.out.contains("\"uri\" : \"file://\(root.path)/\""))
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("base.json").path))

        // The database file itself, and a positional file restricting the run to its entry.
        let file = try runGILCheck(["lint", "-p", "build/compile_commands.json", "src/audio.c"], cwd: root)
        #expect(file.status == 1)
        #expect(!file.out.contains("render.c"))
        #expect(file.out.contains("gil_util.h:4:12"))

        // --exclude tries the database's absolute paths relative to the current directory.
        let excluded = try runGILCheck(["lint", "-p", "build", "--exclude", "src/render.c"], cwd: root)
        #expect(!excluded.out.contains("render.c"))
        #expect(excluded.out.contains("gil_util.h:4:12"))
    }

    @Test("a bad or missing compilation database is a one-line usage error")
    func badDatabase() throws {
        let root = try temporaryProject(["build/compile_commands.json": "[{\"directory\": \"/tmp\", \"file\": 3,}",
                                         "empty/readme.txt": "no database here\n"])
        let bad = try runGILCheck(["lint", "-p", "build"], cwd: root)
        #expect(bad.status == 2)
        #expect(bad.err.hasPrefix("gilcheck: ") && bad.err.contains("compile_commands.json: not valid JSON"), Comment(rawValue: bad.err))
        #expect(occurrences("\n", in: bad.err) == 1)
        let missing = try runGILCheck(["lint", "-p", "empty"], cwd: root)
        #expect(missing.status == 2)
        #expect(missing.err.contains("has no compile_commands.json"), Comment(rawValue: missing.err))
        let shape = try temporaryFile("compile_commands.json", "[{\"directory\": \"/tmp\", \"file\": \"a.c\"}]")
        let noCommand = try runGILCheck(["lint", "-p", shape.path])
        #expect(noCommand.status == 2)
        #expect(noCommand.err.contains("entry 1 needs \"arguments\""), Comment(rawValue: noCommand.err))
    }

    @Test("a directory is searched for sources, --exclude and hidden directories are skipped, headers come through their includers")
    func directoryInput() throws {
        let root = try temporaryProject([
            "tree/core/engine.c": "#include <Python.h>\n#include \"engine.h\"\n" + leaky("engine_step"),
            "tree/core/engine.h": "#include <Python.h>\nstatic inline " + leaky("engine_header_leak"),
            "tree/core/orphan.h": "#include <Python.h>\n" + leaky("orphan_leak"),
            "tree/third_party/vendored.c": "#include <Python.h>\n" + leaky("vendored_leak"),
            "tree/gen/messages.pb.c": "#include <Python.h>\n" + leaky("generated_leak"),
            "tree/.cache/hidden.c": "#include <Python.h>\n" + leaky("hidden_leak"),
            "tree/README.md": "not C\n",
        ])
        let r = try runGILCheck(["lint", "tree", "--exclude", "third_party/*", "--exclude", "*.pb.c", "--verbose"], cwd: root)
        #expect(r.status == 1, Comment(rawValue: r.err))
        #expect(r.out.contains("tree/core/engine.c:6:"))
        #expect(occurrences("tree/core/engine.h:", in: r.out.components(separatedBy: "\n").filter { $0.contains("error:") }.joined(separator: "\n")) == 1)
        // Included by no source: analyzed on its own.
        #expect(r.out.contains("tree/core/orphan.h:5:"))
        for hidden in ["vendored_leak", "generated_leak", "hidden_leak", "vendored.c", "messages.pb.c", "hidden.c"] { #expect(!r.out.contains(hidden)) }
        #expect(r.err.contains("1 header parsed alone, 1 header reached through the files including them"), Comment(rawValue: r.err))
    }

    @Test("--jobs 2 prints exactly what --jobs 1 prints over the whole corpus", .tags(.corpus))
    func parallelIsDeterministic() throws {
        let args = ["lint", "--format", "json", "corpus", "--exclude", "runtime", "--", "-Icorpus/include"]
        let one = try runGILCheck(["lint", "--jobs", "1"] + args.dropFirst())
        let two = try runGILCheck(["lint", "--jobs", "2"] + args.dropFirst())
        #expect(one.status == 1)
        #expect(one.out.count > 10_000)
        #expect(one.out == two.out)
        #expect(one.err == two.err)
        #expect(one.status == two.status)
    }

    @Test("the token pre-check never changes the findings of the corpus", .tags(.corpus))
    func precheckIsSound() throws {
        let args = ["lint", "--format", "json", "corpus", "--exclude", "runtime", "--", "-Icorpus/include"]
        let checked = try runGILCheck(args)
        let unchecked = try runGILCheck(["lint", "--no-precheck"] + args.dropFirst())
        #expect(checked.out == unchecked.out)
    }

    @Test("a method registered in another file's PyMethodDef table starts with the GIL held; also through the pre-check")
    func pythonEntryAcrossFiles() throws {
        let root = try temporaryProject([
            "src/methods.c": "#include <Python.h>\nPyObject *ext_wait(PyObject *self, PyObject *unused);\nPyObject *ext_nap(PyObject *self, PyObject *unused);\nstatic PyMethodDef ext_methods[] = {\n    {\"wait\", ext_wait, METH_NOARGS, NULL},\n    {\"nap\", ext_nap, METH_NOARGS, NULL},\n    {NULL, NULL, 0, NULL},\n};\nvoid *ext_table(void) { return ext_methods; }\n",
            "src/impl.c": "#include <pthread.h>\n#include <unistd.h>\ntypedef struct _object PyObject;\nstatic pthread_t worker;\nPyObject *ext_wait(PyObject *self, PyObject *unused)\n{\n    pthread_join(worker, 0);\n    return self;\n}\n",
            "src/nap.c": "#include <Python.h>\n#include <unistd.h>\nPyObject *ext_nap(PyObject *self, PyObject *unused)\n{\n    Py_BEGIN_ALLOW_THREADS\n    sleep(1);\n    Py_END_ALLOW_THREADS\n    Py_RETURN_NONE;\n}\n",
        ])
        let r = try runGILCheck(["lint", "src"], cwd: root)
        #expect(r.status == 1, Comment(rawValue: r.err))
        #expect(r.out.contains("src/impl.c:7:5: warning: pthread_join() may block while this thread holds the GIL"), Comment(rawValue: r.out))
        #expect(r.out.contains("registered in PyMethodDef 'ext_methods' at methods.c:4"), Comment(rawValue: r.out))
        #expect(!r.out.contains("nap.c"), Comment(rawValue: r.out))
        let all = try runGILCheck(["lint", "src", "--no-precheck"], cwd: root)
        #expect(all.out == r.out)
    }

    @Test("files naming nothing the rules know are skipped before parsing, and --verbose says how many")
    func precheckSkips() throws {
        let root = try temporaryProject([
            "src/bug.c": "#include <Python.h>\n" + leaky("bug"),
            "src/checksum.c": "#include <Python.h>\n/* PyGILState_Ensure in a comment does not count */\nunsigned sum(const unsigned char *p, int n) { unsigned s = 0; while (n--) s += *p++; return s; }\n",
            "src/strings.c": "const char *greeting(void) { return \"PyGILState_Ensure()\"; }\n",
            "src/uses_helper.c": "void *drop_lock(void);\nvoid log_value(int);\nvoid outer(void) {\n    void *t = drop_lock();\n    log_value(1);\n}\n",
            "src/helper.c": "#include <Python.h>\nvoid *drop_lock(void) { return PyEval_SaveThread(); }\nvoid log_value(int v) { PyObject *o = PyLong_FromLong(v); Py_XDECREF(o); }\n",
        ])
        let r = try runGILCheck(["lint", "src", "--verbose"], cwd: root)
        #expect(r.status == 1)
        #expect(r.err.contains("5 files: 3 parsed, 2 skipped by the pre-check"), Comment(rawValue: r.err))
        // uses_helper.c names no Python API but calls functions that drop the GIL and need it: it is parsed.
        #expect(r.out.contains("src/uses_helper.c:5:5: error: log_value()"), Comment(rawValue: r.out))
        let all = try runGILCheck(["lint", "src", "--verbose", "--no-precheck"], cwd: root)
        #expect(all.err.contains("5 parsed, 0 skipped"))
        #expect(all.out == r.out)
    }

    @Test("findings are never mixed with a progress line when stderr is not a terminal")
    func noProgressInPipes() throws {
        let r = try runGILCheck(["lint", "examples/render_hooks.c"])
        #expect(!r.err.contains("\r"))
        #expect(!r.out.contains("\r"))
    }

    @Test(".gilcheck.yml enables, disables and re-grades rules; dump-config prints a config that gives the same run")
    func configRoundTrip() throws {
        let root = try temporaryProject([
            ".gilcheck.yml": """
                version: 1
                rules:
                  disable: [deprecated-gil-api]
                severity:
                  ensure-leak: warning
                exclude: ["legacy/*"]
                """,
            "src/ext.c": "#include <Python.h>\n" + leaky("ext_call") + "void old_init(void) { PyEval_InitThreads(); }\n",
            "legacy/old.c": "#include <Python.h>\n" + leaky("legacy_call"),
        ])
        let r = try runGILCheck(["lint", "src", "legacy"], cwd: root)
        #expect(r.status == 1)
        #expect(r.out.contains("src/ext.c:5:9: warning: GIL state 'st'"), Comment(rawValue: r.out))
        #expect(!r.out.contains("deprecated"))
        #expect(!r.out.contains("legacy_call") && !r.out.contains("legacy/old.c"))

        // Flags override the file.
        let flags = try runGILCheck(["lint", "src", "--only", "deprecated-gil-api"], cwd: root)
        #expect(flags.out.contains("[deprecated-gil-api]"))
        #expect(!flags.out.contains("[ensure-leak]"))

        let dumped = try runGILCheck(["dump-config", "src"], cwd: root)
        #expect(dumped.status == 0)
        #expect(dumped.out.contains("read from \(root.path)/.gilcheck.yml"))
        #expect(dumped.out.contains("  ensure-leak: warning"))
        #expect(dumped.out.contains("disable: [deprecated-gil-api]"))
        let copy = try temporaryFile("dumped.yml", dumped.out)
        let again = try runGILCheck(["lint", "--config", copy.path, "src/ext.c"], cwd: root)
        #expect(again.out == (try runGILCheck(["lint", "src/ext.c"], cwd: root)).out)
        let redumped = try runGILCheck(["dump-config", "--config", copy.path], cwd: root)
        #expect(redumped.out.components(separatedBy: "\n").dropFirst() == dumped.out.components(separatedBy: "\n").dropFirst())
    }

    @Test(".gilcheck.yml thread-entries: the project's own foreign-thread callbacks start without the GIL")
    func configThreadEntries() throws {
        let root = try temporaryProject([
            ".gilcheck.yml": "thread-entries: [on_frame, on_tick]\n",
            "src/cb.c": """
                #include <Python.h>
                void on_frame(PyObject *cb) {
                    PyObject_CallNoArgs(cb);
                    Py_DECREF(cb);
                }
                void on_other(PyObject *cb) { PyObject_CallNoArgs(cb); }
                """,
        ])
        let r = try runGILCheck(["lint", "src"], cwd: root)
        #expect(r.status == 1)
        #expect(r.out.contains("src/cb.c:3:5: error: PyObject_CallNoArgs() needs the GIL, but 'on_frame' runs on a thread without it"),
                Comment(rawValue: r.out + r.err))
        #expect(!r.out.contains("cb.c:4:") && !r.out.contains("on_other"), Comment(rawValue: r.out))
        let dumped = try runGILCheck(["dump-config", "src"], cwd: root)
        #expect(dumped.out.contains("thread-entries: [on_frame, on_tick]"), Comment(rawValue: dumped.out))
        let bad = try runGILCheck(["lint", "src"], cwd: try temporaryProject([".gilcheck.yml": "thread-entries: {a: 1}\n", "src/x.c": "int x;\n"]))
        #expect(bad.status == 2)
        #expect(bad.err.contains("`thread-entries` must be a list"), Comment(rawValue: bad.err))
    }

    @Test("python-version: an API deprecated after the target is not reported; one deprecated before it is")
    func pythonVersion() throws {
        let root = try temporaryProject([
            "ext.c": """
                #include <Python.h>
                void PyEval_InitThreads(void);
                void PyEval_ReInitThreads(void);
                void start(void) { PyEval_InitThreads(); }
                void after_fork(void) { PyEval_ReInitThreads(); }
                """,
        ])
        let old = try runGILCheck(["lint", "--python-version", "3.8", "ext.c"], cwd: root)
        #expect(!old.out.contains("PyEval_InitThreads() is deprecated"), Comment(rawValue: old.out))
        #expect(old.out.contains("PyEval_ReInitThreads() is deprecated since Python 3.7"))
        try "python-version: \"3.11\"\n".write(to: root.appendingPathComponent(".gilcheck.yml"), atomically: true, encoding: .utf8)
        let new = try runGILCheck(["lint", "ext.c"], cwd: root)
        #expect(new.out.contains("PyEval_InitThreads() is deprecated since Python 3.9"))
    }

    @Test("a bad config is a usage error that names the file and line")
    func badConfig() throws {
        let root = try temporaryProject([
            ".gilcheck.yml": "rules:\n  disable: [ensure-leak]\nseverty:\n  ensure-leak: warning\n",
            "ext.c": "#include <Python.h>\n" + leaky("f"),
        ])
        let r = try runGILCheck(["lint", "ext.c"], cwd: root)
        #expect(r.status == 2)
        #expect(r.err.contains(".gilcheck.yml:3: unknown key 'severty' (did you mean 'severity'?)"), Comment(rawValue: r.err))
        for (text, message) in [("severity:\n  ensure-leak: fatal\n", ".gilcheck.yml:2: severity of 'ensure-leak' must be error, warning or note"),
                                ("rules:\n  enable: [ensure-leek]\n", ".gilcheck.yml:2: unknown rule 'ensure-leek' (did you mean 'ensure-leak'?)"),
                                ("python-version: three\n", ".gilcheck.yml:1: python-version must be a version like \"3.11\""),
                                ("rules: [\n", ".gilcheck.yml: not valid YAML")] {
            try text.write(to: root.appendingPathComponent(".gilcheck.yml"), atomically: true, encoding: .utf8)
            let bad = try runGILCheck(["lint", "ext.c"], cwd: root)
            #expect(bad.status == 2)
            #expect(bad.err.contains(message), Comment(rawValue: bad.err))
            #expect(occurrences("\n", in: bad.err) == 1, Comment(rawValue: bad.err))
        }
        let missing = try runGILCheck(["lint", "--config", "nope.yml", "ext.c"], cwd: root)
        #expect(missing.status == 2)
        #expect(missing.err.contains("nope.yml: config file does not exist"))
    }

    @Test("inline suppressions on the line or the line before; unused ones reported on request")
    func suppressions() throws {
        let root = try temporaryProject([
            "ext.c": """
                #include <Python.h>
                int on_line(int err) {
                    PyGILState_STATE st = PyGILState_Ensure();
                    if (err)
                        return -1;  // gilcheck: ignore[ensure-leak] the caller releases it (see docs)
                    PyGILState_Release(st);
                    return 0;
                }
                int line_before(int err) {
                    PyGILState_STATE st = PyGILState_Ensure();
                    if (err)
                        /* gilcheck: ignore[api-without-gil, ensure-leak] handed over */
                        return -1;
                    PyGILState_Release(st);
                    return 0;
                }
                int reported(int err) {
                    PyGILState_STATE st = PyGILState_Ensure();
                    if (err)
                        return -1;
                    PyGILState_Release(st);
                    return 0;   // gilcheck: ignore[ensure-leak] nothing to silence here
                }
                const char *text = "// gilcheck: ignore[ensure-leak] inside a string is no comment";
                """,
        ])
        let r = try runGILCheck(["lint", "ext.c"], cwd: root)
        #expect(r.status == 1)
        #expect(occurrences("[ensure-leak]\n", in: r.out) == 1, Comment(rawValue: r.out))
        #expect(r.out.contains("ext.c:20:9: error:"))
        let unused = try runGILCheck(["lint", "--report-unused-suppressions", "--format", "json", "ext.c"], cwd: root)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(unused.out.utf8)) as? [String: Any])
        let findings = try #require(doc["findings"] as? [[String: Any]])
        let flagged = findings.filter { $0["ruleId"] as? String == "unused-suppression" }
        #expect(flagged.map { $0["line"] as? Int } == [12, 22], Comment(rawValue: unused.out))
        #expect(flagged.first?["severity"] as? String == "warning")
        #expect((flagged.first?["message"] as? String)?.contains("'api-without-gil'") == true)
    }

    @Test("a baseline hides today's findings through line shifts and lets a new one through")
    func baseline() throws {
        let original = "#include <Python.h>\n" + leaky("first") + leaky("second")
        let root = try temporaryProject(["src/ext.c": original])
        let write = try runGILCheck(["lint", "--write-baseline", "gil-baseline.json", "src"], cwd: root)
        #expect(write.status == 0, Comment(rawValue: write.err))
        #expect(write.err.contains("wrote 2 findings to gil-baseline.json"))
        let text = try String(contentsOf: root.appendingPathComponent("gil-baseline.json"), encoding: .utf8)
        #expect(text.contains("\"file\" : \"src/ext.c\""))
        #expect(text.contains("\"snippet\" : \"return -1;\""))
        #expect(text.contains("\"count\" : 1"))
        #expect(!text.contains("\"line\""))

        // Shift every line down, re-indent: still the same findings.
        let shifted = "/* a new licence header */\n\n#include <stdio.h>\n"
            + original.replacingOccurrences(of: "        return -1;", with: "\treturn   -1;")
        try shifted.write(to: root.appendingPathComponent("src/ext.c"), atomically: true, encoding: .utf8)
        let quiet = try runGILCheck(["lint", "--baseline", "gil-baseline.json", "src", "--verbose"], cwd: root)
        #expect(quiet.status == 0, Comment(rawValue: quiet.out))
        #expect(quiet.out.isEmpty)
        #expect(quiet.err.contains("2 accepted by the baseline"))

        // A new bug: only it is reported.
        try (shifted + leaky("third")).write(to: root.appendingPathComponent("src/ext.c"), atomically: true, encoding: .utf8)
        let fresh = try runGILCheck(["lint", "--baseline", "gil-baseline.json", "--format", "json", "src"], cwd: root)
        #expect(fresh.status == 1)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(fresh.out.utf8)) as? [String: Any])
        let findings = try #require(doc["findings"] as? [[String: Any]])
        #expect(findings.map { $0["function"] as? String } == ["third"])

        let broken = try runGILCheck(["lint", "--baseline", "src/ext.c", "src"], cwd: root)
        #expect(broken.status == 2)
        #expect(broken.err.contains("src/ext.c: not a gilcheck baseline"), Comment(rawValue: broken.err))
    }

    /// sarif-tools (PyPI), pinned: scripts/setup installs it; when it is missing the suite tries once itself.
    static let sarifToolsReady: Bool = {
        func succeeds(_ argv: [String]) -> Bool {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = argv
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return false }
            p.waitUntilExit()
            return p.terminationStatus == 0
        }
        let probe = ["python3", "-c", "import importlib.metadata as m, sys; sys.exit(m.version('sarif-tools') != '3.0.5')"]
        if succeeds(probe) { return true }
        let install = ["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "sarif-tools==3.0.5"]
        return (succeeds(install) || succeeds(install + ["--break-system-packages"])) && succeeds(probe)
    }()

    @Test("the SARIF report loads in sarif-tools (PyPI), with relative locations",
          .enabled(if: AdoptionTests.sarifToolsReady, "sarif-tools 3.0.5 could not be installed from PyPI (python3 -m pip install sarif-tools==3.0.5)"))
    func sarifTools() throws {
        let dir = try temporaryProject(["README": ""])
        let sarif = dir.appendingPathComponent("gil.sarif").path
        let r = try runGILCheck(["lint", "--format", "sarif", "--output", sarif, "examples/render_hooks.c"])
        #expect(r.status == 1)
        func tool(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", "-m", "sarif"] + args
            p.currentDirectoryURL = dir
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let summary = try tool(["summary", sarif])
        #expect(summary.0 == 0, Comment(rawValue: summary.1))
        #expect(summary.1.contains("error: 3"), Comment(rawValue: summary.1))
        #expect(summary.1.contains("ensure-leak"))
        let csv = try tool(["csv", "--output", dir.appendingPathComponent("gil.csv").path, sarif])
        #expect(csv.0 == 0, Comment(rawValue: csv.1))
        let table = try String(contentsOf: dir.appendingPathComponent("gil.csv"), encoding: .utf8)
        #expect(table.contains("gilcheck,error,ensure-leak,GIL state 'gil' acquired by PyGILState_Ensure() is not released before this return,examples/render_hooks.c,45"),
                Comment(rawValue: table))
        let gate = try tool(["--check", "error", "summary", sarif])
        #expect(gate.0 != 0)
    }

    @Test("--help of every subcommand shows examples")
    func helpExamples() throws {
        for command in ["lint", "rules", "explain", "dump-config"] {
            let r = try runGILCheck([command, "--help"])
            #expect(r.status == 0)
            #expect(r.out.contains("Examples:"), "\(command) --help has no examples")
        }
    }
}
