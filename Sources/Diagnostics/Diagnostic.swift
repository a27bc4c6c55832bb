import Foundation

public enum Severity: String, Codable, Sendable, Comparable, CaseIterable {
    case note, warning, error

    var rank: Int {
        switch self {
        case .note: return 0
        case .warning: return 1
        case .error: return 2
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// One step of the path that leads to a finding ("GIL acquired here", "taking the true branch").
public struct PathNote: Codable, Sendable, Hashable {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }
}

/// A finding: what is wrong, where it shows, and the path that leads there.
public struct Diagnostic: Codable, Sendable, Hashable {
    public var ruleId: String
    public var severity: Severity
    public var file: String
    public var line: Int
    public var column: Int
    public var function: String?
    public var message: String
    public var path: [PathNote]

    public init(ruleId: String, severity: Severity, file: String, line: Int, column: Int, function: String?,
                message: String, path: [PathNote] = []) {
        self.ruleId = ruleId
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.function = function
        self.message = message
        self.path = path
    }

    /// The order of every report: file, line, column, rule, message.
    public static func sortedStably(_ list: [Diagnostic]) -> [Diagnostic] {
        list.sorted { a, b in
            (a.file, a.line, a.column, a.ruleId, a.message) < (b.file, b.line, b.column, b.ruleId, b.message)
        }
    }
}

/// What a rule is, for `gilcheck rules`, `explain`, and SARIF's rule table.
public struct RuleInfo: Codable, Sendable, Hashable {
    public var id: String
    public var severity: Severity
    public var summary: String
    public var rationale: String
    public var wrong: String
    public var right: String

    public init(id: String, severity: Severity, summary: String, rationale: String, wrong: String, right: String) {
        self.id = id
        self.severity = severity
        self.summary = summary
        self.rationale = rationale
        self.wrong = wrong
        self.right = right
    }
}

/// The result of one lint run: what reporters render.
public struct AnalysisRun: Sendable {
    public var diagnostics: [Diagnostic]
    /// Problems with inputs (parse errors, unreadable files), rendered separately from findings.
    public var inputErrors: [Diagnostic]
    public var rules: [RuleInfo]
    public var filesAnalyzed: Int
    public var functionsAnalyzed: Int
    public var toolVersion: String

    public init(diagnostics: [Diagnostic], inputErrors: [Diagnostic], rules: [RuleInfo], filesAnalyzed: Int,
                functionsAnalyzed: Int, toolVersion: String) {
        self.diagnostics = diagnostics
        self.inputErrors = inputErrors
        self.rules = rules
        self.filesAnalyzed = filesAnalyzed
        self.functionsAnalyzed = functionsAnalyzed
        self.toolVersion = toolVersion
    }
}
