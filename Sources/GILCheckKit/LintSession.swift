import APIModel
import Analysis
import ClangSupport
import Diagnostics
import Foundation

public struct LintOptions: Sendable {
    public var inputs: [String]
    public var clangArguments: [String]
    public var rulesFiles: [String]
    public var pythonIncludes: [String]?
    public var enabledRules: Set<String>?
    public var disabledRules: Set<String>

    public init(inputs: [String], clangArguments: [String] = [], rulesFiles: [String] = [],
                pythonIncludes: [String]? = nil, enabledRules: Set<String>? = nil, disabledRules: Set<String> = []) {
        self.inputs = inputs
        self.clangArguments = clangArguments
        self.rulesFiles = rulesFiles
        self.pythonIncludes = pythonIncludes
        self.enabledRules = enabledRules
        self.disabledRules = disabledRules
    }
}

public enum LintError: Error, CustomStringConvertible {
    case rules(RulesError)
    case unknownRule(String, String)
    case noInputs

    public var description: String {
        switch self {
        case .rules(let e): return e.description
        case .unknownRule(let id, let hint): return "unknown rule '\(id)'\(hint); `gilcheck rules` lists them"
        case .noInputs: return "no input files; usage: gilcheck lint FILE... [-- CLANG_FLAGS]"
        }
    }
}

/// One `gilcheck lint` run: parses each input with libclang and analyzes its functions.
public final class LintSession {
    public static let version = "0.1.0"
    let options: LintOptions
    let model: APIModel

    public init(options: LintOptions, locator: RulesLocator = RulesLocator()) throws {
        self.options = options
        do {
            model = try APIModel.load(extraFiles: options.rulesFiles, locator: locator)
        } catch let e as RulesError {
            throw LintError.rules(e)
        }
        let known = Set(RuleID.allCases.map(\.rawValue))
        for id in (options.enabledRules ?? []).union(options.disabledRules) where !known.contains(id) {
            let close = known.min { editDistance($0, id) < editDistance($1, id) }
            throw LintError.unknownRule(id, close.map { " (did you mean '\($0)'?)" } ?? "")
        }
    }

    public struct Outcome {
        public var run: AnalysisRun
        public var status: ExitStatus
    }

    public func run() -> Outcome {
        withLargeStack { self.runOnCurrentThread() }
    }

    private func runOnCurrentThread() -> Outcome {
        let includes = options.pythonIncludes ?? PythonIncludes.detect()
        let arguments = includes.flatMap { ["-isystem", $0] } + options.clangArguments
        let index = ClangIndex()
        var diagnostics: [Diagnostic] = []
        var inputErrors: [Diagnostic] = []
        var status = ExitStatus.clean
        var functions = 0
        var files = 0
        var cfgs: [FunctionCFG] = []
        let analyzer = TranslationUnitAnalyzer(model: model)
        for input in options.inputs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory), !isDirectory.boolValue,
                  FileManager.default.isReadableFile(atPath: input) else {
                let why = isDirectory.boolValue ? "is a directory; pass the source files in it"
                    : FileManager.default.fileExists(atPath: input) ? "cannot be read (check its permissions)"
                    : "does not exist"
                inputErrors.append(Diagnostic(ruleId: "gilcheck-input-error", severity: .error, file: input, line: 0,
                                              column: 0, function: nil, message: "\(input) \(why)"))
                status = max(status, .usage)
                continue
            }
            let tu: TranslationUnit
            do {
                tu = try index.parse(path: input, arguments: arguments)
            } catch {
                inputErrors.append(Diagnostic(ruleId: "gilcheck-parse-error", severity: .error, file: input, line: 0,
                                              column: 0, function: nil, message: "\(error)"))
                status = max(status, .inputNotAnalyzed)
                continue
            }
            files += 1
            let parserErrors = tu.diagnostics.filter { $0.severity == .error || $0.severity == .fatal }
            for e in parserErrors {
                inputErrors.append(Diagnostic(ruleId: "gilcheck-parse-error", severity: .error, file: e.file,
                                              line: e.line, column: e.column, function: nil, message: e.message))
            }
            if !parserErrors.isEmpty { status = max(status, .inputNotAnalyzed) }
            let mainFile = URL(fileURLWithPath: input).standardizedFileURL.path
            cfgs += analyzer.collect(tu) { path in
                // The input itself and the project's own headers; never Python's or the system's.
                URL(fileURLWithPath: path).standardizedFileURL.path == mainFile || !includes.contains { path.hasPrefix($0) }
            }
        }
        // All files' functions together, so that summaries reach across files.
        functions = cfgs.count
        diagnostics = ProjectAnalyzer(model: model).analyze(cfgs).filter(isEnabled)
        let unique = Array(Set(diagnostics))
        let sorted = Diagnostic.sortedStably(unique)
        if sorted.contains(where: { $0.severity >= .warning }) { status = max(status, .findings) }
        let run = AnalysisRun(diagnostics: sorted, inputErrors: inputErrors, rules: RuleCatalog.all,
                              filesAnalyzed: files, functionsAnalyzed: functions, toolVersion: Self.version)
        return Outcome(run: run, status: status)
    }

    private func isEnabled(_ d: Diagnostic) -> Bool {
        if options.disabledRules.contains(d.ruleId) { return false }
        if let only = options.enabledRules { return only.contains(d.ruleId) }
        return true
    }

    /// The CFG of `function` in `file`, as Graphviz.
    public func dumpCFG(file: String, function: String) throws -> String? {
        let includes = options.pythonIncludes ?? PythonIncludes.detect()
        let tu = try ClangIndex().parse(path: file, arguments: includes.flatMap { ["-isystem", $0] } + options.clangArguments)
        return TranslationUnitAnalyzer(model: model).cfg(of: function, in: tu)?.graphviz
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}
