import Foundation
import GILCheckKit
import Testing

/// Cython output must produce no false alarms: each `.pyx` in corpus/cython is compiled to C with the real
/// Cython (installed by scripts/setup) and linted; `# gilcheck-expect: RULE in NAME` lines list the planted bugs.
@Suite("Cython output")
struct CythonTests {
    static let cases: [String] = {
        let dir = packageRoot.appendingPathComponent("corpus/cython").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".pyx") }.sorted().map { dir + "/" + $0 }
    }()

    @Test("there are Cython cases, quiet and planted")
    func present() { #expect(Self.cases.count >= 2) }

    @Test("generated C gives exactly the planted findings", arguments: cases)
    func generated(_ pyx: String) throws {
        let out = FileManager.default.temporaryDirectory
            .appendingPathComponent("gilcheck-cython-\(UUID().uuidString).c").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "cython", "-3", pyx, "-o", out]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, Comment(rawValue: "cython failed (scripts/setup installs it): \(message)"))

        let expected = try String(contentsOfFile: pyx, encoding: .utf8).split(separator: "\n").compactMap { line -> (String, String)? in
            guard let r = line.range(of: "# gilcheck-expect:") else { return nil }
            let parts = line[r.upperBound...].split(separator: " ").map(String.init)
            guard parts.count == 3, parts[1] == "in" else { return nil }
            return (parts[0], parts[2])
        }
        let session = try LintSession(options: LintOptions(inputs: [out], pythonIncludes: pythonIncludes))
        let outcome = session.run()
        #expect(outcome.run.inputErrors.isEmpty, Comment(rawValue: "\(outcome.run.inputErrors.map(\.message))"))
        var findings = outcome.run.diagnostics.filter { $0.severity != .note }
        for (rule, name) in expected {
            let index = findings.firstIndex { $0.ruleId == rule && (($0.function ?? "").contains(name) || $0.message.contains(name)) }
            #expect(index != nil, Comment(rawValue: "\(pyx): no \(rule) finding in or about \(name)"))
            if let index { findings.remove(at: index) }
        }
        #expect(findings.isEmpty, Comment(rawValue: "\(pyx): unexpected findings in the generated C:\n"
            + findings.map { "  \($0.line):\($0.column) \($0.function ?? "") \($0.message) [\($0.ruleId)]" }.joined(separator: "\n")))
    }
}
