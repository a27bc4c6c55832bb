import Diagnostics
import Foundation
import GILCheckKit

/// The package root, found from this file's path.
let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Python's include directories, detected once for the whole test run.
let pythonIncludes: [String] = PythonIncludes.detect()

/// One expectation written in a corpus file: `// expect-error@+1:5{{substring}} [rule-id]`.
struct Expectation: CustomStringConvertible, Equatable {
    var severity: Severity
    var line: Int
    var column: Int?
    var substring: String
    var ruleId: String?
    var sourceLine: Int

    var description: String {
        "line \(line)\(column.map { ":\($0)" } ?? ""): expect-\(severity.rawValue){{\(substring)}}\(ruleId.map { " [\($0)]" } ?? "") (written on line \(sourceLine))"
    }

    func matches(_ d: Diagnostic) -> Bool {
        d.severity == severity && d.line == line && (column == nil || d.column == column) && d.message.contains(substring)
            && (ruleId == nil || d.ruleId == ruleId)
    }

    func matches(_ n: PathNote) -> Bool {
        n.line == line && (column == nil || n.column == column) && n.message.contains(substring)
    }
}

/// A corpus case: a C file with its clang arguments, extra rules files and expectations.
struct CorpusCase: CustomStringConvertible, Sendable {
    var path: String
    var relativePath: String
    var clangArguments: [String] = []
    var rulesFiles: [String] = []
    /// `// gilcheck-free-threading`: lint in free-threading mode (missing-mod-gil).
    var freeThreading = false
    /// `// gilcheck-python-version: 3.15`: the oldest Python the case supports (soft deprecations).
    var pythonVersion: String?

    var description: String { relativePath }

    static func all(under directory: String = "corpus", excluding: [String] = ["corpus/runtime", "corpus/include"])
        -> [CorpusCase] {
        let root = packageRoot.appendingPathComponent(directory)
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
        var cases: [CorpusCase] = []
        for case let rel as String in walker {
            let ext = (rel as NSString).pathExtension
            guard ["c", "cc", "cpp", "cxx"].contains(ext) else { continue }
            let relative = directory + "/" + rel
            if excluding.contains(where: { relative.hasPrefix($0 + "/") }) { continue }
            cases.append(CorpusCase(path: root.appendingPathComponent(rel).path, relativePath: relative))
        }
        return cases.sorted { $0.relativePath < $1.relativePath }
    }

    /// Reads the directives and expectations of the file.
    func parse() throws -> (directives: CorpusCase, expectations: [Expectation], notes: [Expectation]) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var directives = self
        var expectations: [Expectation] = []
        var notes: [Expectation] = []
        let pattern = try NSRegularExpression(
            pattern: #"expect-(error|warning|note)(@[+-]?\d+)?(:\d+)?\{\{(.*?)\}\}(\s*\[([a-z0-9-]+)\])?"#)
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let s = String(line)
            if let r = s.range(of: "// gilcheck-args:") {
                // Relative include directories are relative to the case's own directory.
                let dir = (path as NSString).deletingLastPathComponent
                directives.clangArguments += s[r.upperBound...].split(separator: " ").map { arg in
                    arg.hasPrefix("-I") && !arg.hasPrefix("-I/") ? "-I" + dir + "/" + arg.dropFirst(2) : String(arg)
                }
            }
            if s.contains("// gilcheck-free-threading") { directives.freeThreading = true }
            if let r = s.range(of: "// gilcheck-python-version:") {
                directives.pythonVersion = s[r.upperBound...].trimmingCharacters(in: .whitespaces)
            }
            if let r = s.range(of: "// gilcheck-rules:") {
                let dir = (path as NSString).deletingLastPathComponent
                directives.rulesFiles += s[r.upperBound...].split(separator: " ").map { dir + "/" + $0 }
            }
            let ns = s as NSString
            for m in pattern.matches(in: s, range: NSRange(location: 0, length: ns.length)) {
                func group(_ i: Int) -> String? {
                    let r = m.range(at: i)
                    return r.location == NSNotFound ? nil : ns.substring(with: r)
                }
                var target = lineNumber
                if let offset = group(2) {
                    let body = offset.dropFirst()
                    if body.hasPrefix("+") || body.hasPrefix("-") { target += Int(body) ?? 0 } else { target = Int(body) ?? target }
                }
                let e = Expectation(severity: Severity(rawValue: group(1)!)!, line: target,
                                    column: group(3).flatMap { Int($0.dropFirst()) }, substring: group(4) ?? "",
                                    ruleId: group(6), sourceLine: lineNumber)
                if e.severity == .note && e.ruleId == nil { notes.append(e) } else { expectations.append(e) }
            }
        }
        return (directives, expectations, notes)
    }
}

/// Compares findings with expectations; returns a readable list of mismatches (empty when all agree).
func mismatches(findings: [Diagnostic], expectations: [Expectation], notes: [Expectation]) -> [String] {
    var problems: [String] = []
    var unmatched = findings
    for e in expectations {
        if let i = unmatched.firstIndex(where: e.matches) {
            unmatched.remove(at: i)
        } else {
            problems.append("missing finding: \(e)")
        }
    }
    for d in unmatched {
        problems.append("unexpected finding: line \(d.line):\(d.column): \(d.severity.rawValue): \(d.message) [\(d.ruleId)]")
    }
    let allNotes = findings.flatMap(\.path)
    for n in notes where !allNotes.contains(where: n.matches) {
        problems.append("missing path note: \(n)")
    }
    return problems
}
