import Diagnostics
import Foundation
import GILCheckKit
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
        for rule in ["ensure-leak", "release-without-ensure", "release-order", "allow-threads-leak",
                     "restore-without-save", "nested-release", "api-without-gil", "deprecated-gil-api",
                     "thread-entry-without-gil", "blocking-with-gil", "init-holds-gil", "finalize-without-gil"] {
            #expect(triggered.contains(rule), "no corpus case triggers \(rule)")
        }
        let quiet = try Self.cases.filter { try $0.parse().expectations.isEmpty }
        #expect(quiet.count >= 20, "too few cases that must stay quiet")
    }

    @Test("each corpus case gives exactly the findings written in it", .tags(.corpus), arguments: cases)
    func corpusCase(_ c: CorpusCase) throws {
        let (directives, expectations, notes) = try c.parse()
        let session = try LintSession(options: LintOptions(
            inputs: [c.path], clangArguments: directives.clangArguments, rulesFiles: directives.rulesFiles,
            pythonIncludes: pythonIncludes))
        let outcome = session.run()
        #expect(outcome.run.inputErrors.isEmpty, Comment(rawValue: "\(c.relativePath) did not parse: \(outcome.run.inputErrors.map(\.message))"))
        let problems = mismatches(findings: outcome.run.diagnostics, expectations: expectations, notes: notes)
        #expect(problems.isEmpty, Comment(rawValue: "\(c.relativePath):\n  " + problems.joined(separator: "\n  ")))
    }
}

extension Tag {
    @Tag static var corpus: Self
}
