import Diagnostics
import Foundation
import GILCheckKit
import Analysis
import Testing

@Suite("Corpus")
struct CorpusTests {
    static let cases = CorpusCase.all()

    @Test("the corpus is large enough and covers every rule", .tags(.corpus))
    func coverage() throws {
        #expect(Self.cases.count >= 60)
        var triggered = Set<String>()
        for c in Self.cases {
            for e in try c.parse().expectations { if let r = e.ruleId { triggered.insert(r) } }
        }
        // Every rule the engine reports (not the run's own notes), so that a new rule without a triggering case fails.
        let engineNotes: Set<String> = ["analysis-budget", "unused-suppression"]
        for rule in RuleID.allCases.map(\.rawValue) where !engineNotes.contains(rule) {
            #expect(triggered.contains(rule), "no corpus case triggers \(rule)")
        }
        let quiet = try Self.cases.filter { try $0.parse().expectations.isEmpty }
        #expect(quiet.count >= 20, "too few cases that must stay quiet")
    }

    @Test("each corpus case gives exactly the findings written in it", .tags(.corpus), arguments: cases)
    func corpusCase(_ c: CorpusCase) throws {
        let (directives, expectations, notes) = try c.parse()
        var options = LintOptions(inputs: [c.path], clangArguments: directives.clangArguments,
                                  rulesFiles: directives.rulesFiles, pythonIncludes: pythonIncludes)
        options.freeThreading = directives.freeThreading
        options.pythonVersion = directives.pythonVersion
        let session = try LintSession(options: options)
        let outcome = session.run()
        #expect(outcome.run.inputErrors.isEmpty, Comment(rawValue: "\(c.relativePath) did not parse: \(outcome.run.inputErrors.map(\.message))"))
        let problems = mismatches(findings: outcome.run.diagnostics, expectations: expectations, notes: notes)
        #expect(problems.isEmpty, Comment(rawValue: "\(c.relativePath):\n  " + problems.joined(separator: "\n  ")))
    }

    /// Directories named `one_run_*` hold cases that are also linted together, in one run: summaries of helpers
    /// shared between the files (a header's `static inline` functions) must give the same findings as file by file.
    static let oneRunDirectories: [String] = cases.map { ($0.relativePath as NSString).deletingLastPathComponent }
        .filter { ($0 as NSString).lastPathComponent.hasPrefix("one_run_") }
        .reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }

    @Test("one_run_* directories give the findings written in their files when linted in one run", .tags(.corpus),
          arguments: oneRunDirectories)
    func oneRun(_ directory: String) throws {
        let members = Self.cases.filter { ($0.relativePath as NSString).deletingLastPathComponent == directory }
        #expect(members.count >= 2)
        var arguments: [String] = []
        for m in members {
            arguments += try m.parse().directives.clangArguments.filter { !arguments.contains($0) }
        }
        let session = try LintSession(options: LintOptions(
            inputs: members.map(\.path), clangArguments: arguments, pythonIncludes: pythonIncludes))
        let outcome = session.run()
        #expect(outcome.run.inputErrors.isEmpty)
        // Expectations carry no file: compare file by file.
        var problems: [String] = []
        for m in members {
            let parsed = try m.parse()
            let findings = outcome.run.diagnostics.filter { $0.file.hasSuffix("/" + (m.relativePath as NSString).lastPathComponent) }
            problems += mismatches(findings: findings, expectations: parsed.expectations, notes: parsed.notes)
                .map { "\(m.relativePath): \($0)" }
        }
        let stray = outcome.run.diagnostics.filter { d in !members.contains { d.file.hasSuffix("/" + ($0.relativePath as NSString).lastPathComponent) } }
        problems += stray.map { "unexpected finding in \($0.file):\($0.line): \($0.message)" }
        #expect(problems.isEmpty, Comment(rawValue: "\(directory):\n  " + problems.joined(separator: "\n  ")))
    }
}

extension Tag {
    @Tag static var corpus: Self
}
