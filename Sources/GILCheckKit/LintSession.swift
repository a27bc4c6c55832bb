import APIModel
import Analysis
import ClangSupport
import Diagnostics
import Foundation
import WorkerThreads

public struct LintOptions: Sendable {
    /// Files and directories; with `compileCommands`, they restrict the run to those entries.
    public var inputs: [String]
    /// Flags after `--`: for every file (appended to a database entry's own flags).
    public var clangArguments: [String]
    public var rulesFiles: [String]
    public var pythonIncludes: [String]?
    /// Report only these rules (nil: all).
    public var enabledRules: Set<String>?
    public var disabledRules: Set<String>
    /// `-p`: a compile_commands.json or the directory that holds it.
    public var compileCommands: String?
    /// `--exclude` globs.
    public var excludes: [String] = []
    /// `exclude:` globs of the config file, also tried relative to `configDirectory`.
    public var configExcludes: [String] = []
    public var configDirectory: String?
    /// Worker threads for parsing (nil: one per core).
    public var jobs: Int?
    /// Skip translation units whose text names nothing the rules know (see TokenPrecheck.swift).
    public var precheck = true
    public var severities: [String: Severity] = [:]
    /// The oldest Python the project supports, for deprecated-gil-api.
    public var pythonVersion: String?
    /// Free-threading mode (`--free-threading`, `free-threading: true`): the checks for porting to 3.13t+.
    public var freeThreading = false
    /// Functions of the project that start on threads without the GIL (`thread-entries:` in .gilcheck.yml).
    public var threadEntries: [String] = []
    public var reportUnusedSuppressions = false
    /// A baseline file: report only findings it does not list.
    public var baseline: String?
    /// Paths in baselines are relative to it (default: the current directory).
    public var baseDirectory: String?
    /// Files an earlier attempt of this run crashed on (path → signal number): they are reported as not analyzed,
    /// and neither parsed nor analyzed again.
    public var crashedInputs: [String: Int32] = [:]
    /// The stack of each parse worker, in bytes (nil: 1 GiB, reserved, not committed). Smaller only in tests.
    public var parseStackSize: Int?

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
    case compilationDatabase(String)
    case config(String)
    case baseline(String)
    case badOption(String)

    public var description: String {
        switch self {
        case .rules(let e): return e.description
        case .unknownRule(let id, let hint): return "unknown rule '\(id)'\(hint); `gilcheck rules` lists them"
        case .noInputs: return "no input files; usage: gilcheck lint FILE|DIR... [-- CLANG_FLAGS] or gilcheck lint -p BUILD_DIR"
        case .compilationDatabase(let m), .config(let m), .baseline(let m), .badOption(let m): return m
        }
    }
}

/// Where a run stands, for a progress line: files parsed (or skipped) of all, findings so far.
public struct LintProgress: Sendable, Equatable {
    public var filesDone: Int
    public var filesTotal: Int
    public var findings: Int
}

/// Counts that `--verbose` prints.
public struct LintStatistics: Sendable, Equatable {
    /// Files given, found in directories or listed in the database.
    public var files = 0
    public var translationUnitsParsed = 0
    /// Headers parsed on their own because no parsed translation unit includes them.
    public var headersParsedAlone = 0
    /// Headers reached through the translation units that include them.
    public var headersReached = 0
    /// Files the token pre-check skipped.
    public var skippedByPrecheck = 0
    public var suppressed = 0
    public var baselined = 0
    /// Files named on the command line that the compilation database does not list (parsed with the `--` flags).
    public var notInDatabase: [String] = []
    /// Files found in directories that were skipped because they are not regular files, with what they are.
    public var skippedNotRegular: [String] = []
    public var workers = 1
}

/// One `gilcheck lint` run: expands the inputs into translation units, skips those the rules cannot care about,
/// parses the others in parallel (libclang, one index per worker), analyzes every function of the run together,
/// then applies severities, suppressions and the baseline.
public final class LintSession {
    public static let version = "0.1.0"
    let options: LintOptions
    let model: APIModel
    let database: CompilationDatabase?
    let baseline: Baseline?

    public init(options: LintOptions, locator: RulesLocator = RulesLocator()) throws {
        self.options = options
        do {
            var model = try APIModel.load(extraFiles: options.rulesFiles, locator: locator)
            if let text = options.pythonVersion {
                guard let version = PythonVersion(text) else {
                    throw LintError.badOption("python version '\(text)' is not like 3.11")
                }
                model.targetPython(version)
            } else {
                model.targetPython(nil)
            }
            model.addThreadEntries(options.threadEntries)
            self.model = model
        } catch let e as RulesError {
            throw LintError.rules(e)
        }
        let known = Set(RuleID.allCases.map(\.rawValue))
        for id in (options.enabledRules ?? []).union(options.disabledRules).union(options.severities.keys)
        where !known.contains(id) {
            let close = known.min { editDistance($0, id) < editDistance($1, id) }
            throw LintError.unknownRule(id, close.map { " (did you mean '\($0)'?)" } ?? "")
        }
        if let jobs = options.jobs, jobs < 1 { throw LintError.badOption("--jobs must be at least 1") }
        database = try options.compileCommands.map(CompilationDatabase.load)
        baseline = try options.baseline.map(Baseline.load)
        if options.inputs.isEmpty && database == nil { throw LintError.noInputs }
    }

    public struct Outcome {
        /// What the reporters render: findings after severities, suppressions and the baseline.
        public var run: AnalysisRun
        public var status: ExitStatus
        /// Every finding before the baseline was applied (what `--write-baseline` records).
        public var findingsBeforeBaseline: [Diagnostic]
        public var statistics: LintStatistics
    }

    public func run(progress: (@Sendable (LintProgress) -> Void)? = nil) -> Outcome {
        withLargeStack { self.runOnCurrentThread(progress: progress) }
    }

    var baseDirectory: String { options.baseDirectory ?? FileManager.default.currentDirectoryPath }

    /// The files of the run with their flags, and the problems with the inputs.
    func sourceJobs(_ stats: inout LintStatistics) -> InputCollector.Result {
        var matchers = [ExcludeMatcher(patterns: options.excludes)]
        if !options.configExcludes.isEmpty {
            matchers.append(ExcludeMatcher(patterns: options.configExcludes, configDirectory: options.configDirectory))
        }
        let collector = InputCollector(excludes: matchers, arguments: options.clangArguments)
        guard let database else {
            let result = collector.collect(options.inputs)
            stats.skippedNotRegular = result.skipped.map { "\($0.path): skipped: \($0.kind), not a regular file" }
            return result
        }
        // Database entries are absolute: --exclude patterns are tried relative to the current directory.
        let root = FileManager.default.currentDirectoryPath
        var entries = database.entries.filter { !collector.isExcluded($0.file, root: root) }
        var result = InputCollector.Result()
        if !options.inputs.isEmpty {
            // Named files and directories restrict the run to their entries; a file the database does not
            // list is parsed with the flags after `--`.
            var chosen = Set<String>()
            var extra: [String] = []
            for input in options.inputs {
                let abs = absolutize(input)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                    result.errors.append(inputError(input, "\(input) does not exist"))
                    continue
                }
                let matching = entries.filter { isDirectory.boolValue ? $0.file.hasPrefix(abs + "/") : $0.file == abs }
                if matching.isEmpty && !isDirectory.boolValue {
                    extra.append(input)
                    stats.notInDatabase.append(input)
                }
                chosen.formUnion(matching.map(\.file))
            }
            entries = entries.filter { chosen.contains($0.file) }
            let named = collector.collect(extra)
            result.jobs += named.jobs
            result.errors += named.errors
        }
        // An entry naming a FIFO or a device would block the parse: refused like a file named on the command line.
        entries = entries.filter { entry in
            guard let kind = nonRegularKind(entry.file) else { return true }
            result.errors.append(inputError(entry.file, notRegularMessage(entry.file, kind)))
            return false
        }
        result.jobs = entries.map {
            SourceJob(path: $0.file, arguments: $0.arguments + options.clangArguments, isHeader: SourceKind.isHeader($0.file))
        } + result.jobs
        return result
    }

    private func runOnCurrentThread(progress: (@Sendable (LintProgress) -> Void)?) -> Outcome {
        let includes = options.pythonIncludes ?? PythonIncludes.detect()
        var stats = LintStatistics()
        var status = ExitStatus.clean
        let collected = sourceJobs(&stats)
        var inputErrors = collected.errors
        if !inputErrors.isEmpty { status = max(status, .usage) }
        stats.files = collected.jobs.count
        // Files that crashed an earlier attempt of this run: reported, never touched again.
        let crashed = Dictionary(options.crashedInputs.map { (absolutize($0.key), $0.value) }) { first, _ in first }
        let jobs = collected.jobs.filter { crashed[$0.absolutePath] == nil }
        for (path, signal) in crashed.sorted(by: { $0.key < $1.key }) {
            let shown = collected.jobs.first { $0.absolutePath == path }?.path ?? path
            inputErrors.append(Diagnostic(ruleId: "gilcheck-parse-error", severity: .error, file: shown, line: 0, column: 0,
                                          function: nil, message: crashMessage(signal)))
            status = max(status, .inputNotAnalyzed)
        }
        let workers = options.jobs ?? ProcessInfo.processInfo.activeProcessorCount
        stats.workers = workers

        // The pre-check: a cheap scan of each file's text and its project headers.
        let vocabulary = PrecheckVocabulary(model: model)
        let cache = TokenCache()
        let timing = PhaseTimer(enabled: ProcessInfo.processInfo.environment["GILCHECK_TIMING"].map { !$0.isEmpty } ?? false)
        let profiles: [TranslationUnitProfile?] = options.precheck
            ? parallelMap(count: jobs.count, workers: workers, stackSize: 1 << 22) { i, _ in
                CrashAttribution.working(on: jobs[i].absolutePath) {
                    TranslationUnitProfile.build(path: jobs[i].path, arguments: jobs[i].arguments, pythonIncludes: includes,
                                                 vocabulary: vocabulary, cache: cache)
                }
            }
            : Array(repeating: nil, count: jobs.count)
        timing.lap("pre-check")

        // Parse in rounds: the units the rules care about, then those that call functions defined in parsed
        // units (their summaries may matter), then headers no parsed unit includes.
        let parser = UnitParser(model: model, pythonIncludes: includes)
        var results: [UnitResult?] = Array(repeating: nil, count: jobs.count)
        var definedNames = Set<String>()
        var parsedIdentifiers = Set<String>()
        var included = Set<String>()
        let done = Locked(0)
        func qualifies(_ i: Int) -> Bool {
            guard let p = profiles[i] else { return true }
            return p.primary || !p.callIdentifiers.isDisjoint(with: definedNames)
                || (p.blocking && !p.definitions.isDisjoint(with: parsedIdentifiers))
        }
        while true {
            var batch = jobs.indices.filter { results[$0] == nil && !jobs[$0].isHeader && qualifies($0) }
            if batch.isEmpty {
                batch = jobs.indices.filter {
                    results[$0] == nil && jobs[$0].isHeader && !included.contains(jobs[$0].absolutePath) && qualifies($0)
                }
            }
            if batch.isEmpty { break }
            let total = jobs.count
            // The largest files first, so that the workers finish together (lxml's etree.c is 12 MB) and, with
            // one worker, the largest syntax tree is alive while the fewest CFGs are kept (the peak memory); the
            // results are taken back in input order. One worker parses on this thread: the analysis after it
            // then reuses the memory the parser freed (glibc gives each thread its own arena).
            let chosen = largestFirst(batch.map { jobs[$0].path }).map { batch[$0] }
            let parsedLargestFirst = parallelMap(count: chosen.count, workers: workers,
                                                 stackSize: options.parseStackSize ?? 1 << 30,
                                                 onCallingThread: options.parseStackSize == nil) { k, index in
                let job = jobs[chosen[k]]
                // A crash from here on names this file (see CrashHandler in the CLI).
                let r = CrashAttribution.working(on: job.absolutePath) { parser.parse(job, index: index, timing: timing) }
                let n = done.withValue { $0 += 1; return $0 }
                progress?(LintProgress(filesDone: n, filesTotal: total, findings: 0))
                return r
            }
            var byJob: [Int: UnitResult] = [:]
            for (k, r) in zip(chosen, parsedLargestFirst) { byJob[k] = r }
            for k in batch {
                let r = byJob[k]!
                results[k] = r
                for c in r.cfgs { definedNames.formUnion(c.name.components(separatedBy: "::")) }
                if let p = profiles[k] { parsedIdentifiers.formUnion(p.identifiers) }
                included.formUnion(r.included)
            }
        }
        for (i, job) in jobs.enumerated() {
            if let r = results[i] {
                if job.isHeader { stats.headersParsedAlone += 1 } else { stats.translationUnitsParsed += 1 }
                inputErrors += r.errors
                status = max(status, r.status)
            } else if job.isHeader && included.contains(job.absolutePath) {
                stats.headersReached += 1
            } else {
                stats.skippedByPrecheck += 1
            }
        }
        progress?(LintProgress(filesDone: jobs.count, filesTotal: jobs.count, findings: 0))
        timing.lap("parse and lower (wall)")

        // All files' functions together, in input order, so that summaries reach across files and a function
        // defined in a header that several units include is analyzed once.
        // A header that crashed the analysis of its functions is left out of every unit that includes it.
        let cfgs = results.compactMap { $0?.cfgs }.flatMap { $0 }.filter { crashed.isEmpty || crashed[absolutize($0.location.file)] == nil }
        let pythonEntries = results.compactMap { $0?.pythonEntries }.flatMap { $0 }
        let pointerStores = results.compactMap { $0?.pointerStores }.flatMap { $0 }
        let staticObjects = results.compactMap { $0?.staticObjects }.flatMap { $0 }
        var diagnostics = ProjectAnalyzer(model: model).analyze(cfgs, pythonEntries: pythonEntries, pointerStores: pointerStores,
                                                                staticObjects: staticObjects, workers: workers) { _, _, findings in
            progress?(LintProgress(filesDone: jobs.count, filesTotal: jobs.count, findings: findings))
        }
        diagnostics += results.compactMap { $0?.moduleFindings }.flatMap { $0 }
        timing.lap("analysis")
        for i in diagnostics.indices {
            if let level = options.severities[diagnostics[i].ruleId] { diagnostics[i].severity = level }
        }
        if Wording.usesAttachedThreadState(pythonVersion: options.pythonVersion, freeThreading: options.freeThreading) {
            diagnostics = diagnostics.map(Wording.attached)
        }
        let analyzedFiles = Set(jobs.indices.filter { results[$0] != nil }.map { jobs[$0].path } + cfgs.map(\.location.file))
        let filter = SuppressionFilter(reportUnused: options.reportUnusedSuppressions,
                                       severity: options.severities[RuleID.unusedSuppression.rawValue] ?? .warning)
        let suppression = filter.apply(diagnostics, extraFiles: Array(analyzedFiles) + jobs.map(\.path))
        stats.suppressed = suppression.suppressed
        let unusedAllowed = !options.disabledRules.contains(RuleID.unusedSuppression.rawValue)
        diagnostics = suppression.kept.filter(isEnabled) + (unusedAllowed ? suppression.unused : [])
        let sorted = Diagnostic.sortedStably(Array(Set(diagnostics)))
        var reported = sorted
        if let baseline {
            reported = baseline.newFindings(sorted, baseDirectory: baseDirectory)
            stats.baselined = sorted.count - reported.count
        }
        if reported.contains(where: { $0.severity >= .warning }) { status = max(status, .findings) }
        let rules = RuleCatalog.all.map { r -> RuleInfo in
            var r = r
            if let level = options.severities[r.id] { r.severity = level }
            return r
        }
        let run = AnalysisRun(diagnostics: reported, inputErrors: inputErrors, rules: rules,
                              filesAnalyzed: stats.translationUnitsParsed + stats.headersParsedAlone,
                              functionsAnalyzed: cfgs.count, toolVersion: Self.version)
        timing.lap("report")
        timing.print()
        return Outcome(run: run, status: status, findingsBeforeBaseline: sorted, statistics: stats)
    }

    private func isEnabled(_ d: Diagnostic) -> Bool {
        if options.disabledRules.contains(d.ruleId) { return false }
        // Free-threading porting checks speak only when asked for.
        if !options.freeThreading, RuleID(rawValue: d.ruleId)?.freeThreadingOnly == true { return false }
        if let only = options.enabledRules { return only.contains(d.ruleId) }
        return true
    }

    /// The CFG of `function` in `file`, as Graphviz.
    public func dumpCFG(file: String, function: String) throws -> String? {
        let includes = options.pythonIncludes ?? PythonIncludes.detect()
        let arguments = database?.entries.first { $0.file == absolutize(file) }?.arguments ?? options.clangArguments
        let tu = try ClangIndex().parse(path: file, arguments: includes.flatMap { ["-isystem", $0] } + arguments)
        return TranslationUnitAnalyzer(model: model).cfg(of: function, in: tu)?.graphviz
    }
}

/// What parsing one file gave: its functions as CFGs, clang's errors, and the files it included.
struct UnitResult: Sendable {
    var cfgs: [FunctionCFG]
    /// The functions the file registers as Python entry points (method tables, type slots).
    var pythonEntries: [PythonEntryReference] = []
    /// The functions its file-scope initializers store into function pointers.
    var pointerStores: [PointerStore] = []
    /// Its C++ objects of static or thread storage duration with a destructor of the project's.
    var staticObjects: [StaticObject] = []
    /// Module-level findings (missing-mod-gil).
    var moduleFindings: [Diagnostic] = []
    var errors: [Diagnostic]
    var status: ExitStatus
    /// Absolute paths.
    var included: [String]
}

/// Parses one file and lowers its functions (and those of the project headers it includes) to CFGs.
struct UnitParser: Sendable {
    let model: APIModel
    let pythonIncludes: [String]

    func parse(_ job: SourceJob, index: ClangIndex, timing: PhaseTimer? = nil) -> UnitResult {
        let start = PhaseTimer.now()
        // `-working-directory` would make libclang chdir() the whole process, under every other worker's feet.
        var own = job.arguments
        while let i = own.firstIndex(where: { $0 == "-working-directory" || $0.hasPrefix("-working-directory=") }) {
            own.removeSubrange(i..<min(own.count, own[i].contains("=") ? i + 1 : i + 2))
        }
        let arguments = pythonIncludes.flatMap { ["-isystem", $0] } + own
        let tu: TranslationUnit
        do {
            tu = try index.parse(path: job.path, arguments: arguments)
            timing?.add("  libclang parse (sum over workers)", since: start)
        } catch {
            let e = Diagnostic(ruleId: "gilcheck-parse-error", severity: .error, file: job.path, line: 0, column: 0,
                               function: nil, message: "\(error)")
            return UnitResult(cfgs: [], errors: [e], status: .inputNotAnalyzed, included: [])
        }
        let parserErrors = tu.diagnostics.filter { $0.severity == .error || $0.severity == .fatal }.map { e in
            Diagnostic(ruleId: "gilcheck-parse-error", severity: .error, file: e.file, line: e.line, column: e.column,
                       function: nil, message: e.message)
        }
        let lowerStart = PhaseTimer.now()
        defer { timing?.add("  CFG lowering (sum over workers)", since: lowerStart) }
        let foreign = pythonIncludes + pythonDirectories(in: own)
        let mainFile = job.absolutePath
        // Asked for every top-level cursor: decided once per file name (a generated file asks 100 000 times).
        var decided: [String: Bool] = [:]
        let (cfgs, pythonEntries, pointerStores, moduleFindings, staticObjects) = TranslationUnitAnalyzer(model: model).collectUnit(tu) { path in
            if let known = decided[path] { return known }
            // The input itself and the project's own headers; never Python's or the system's.
            let absolute = absolutize(path)
            let own = absolute == mainFile || !foreign.contains { path.hasPrefix($0) || absolute.hasPrefix($0) }
            decided[path] = own
            return own
        }
        return UnitResult(cfgs: cfgs, pythonEntries: pythonEntries, pointerStores: pointerStores, staticObjects: staticObjects,
                          moduleFindings: moduleFindings, errors: parserErrors, status: parserErrors.isEmpty ? .clean : .inputNotAnalyzed,
                          included: tu.includedFiles.map { absolutize($0) })
    }

    /// Include directories of the flags that hold Python.h (a build's own `-I/opt/python/include/python3.12`).
    private func pythonDirectories(in arguments: [String]) -> [String] {
        var dirs: [String] = []
        for (i, a) in arguments.enumerated() {
            var value: String?
            if ["-I", "-isystem", "-idirafter"].contains(a), i + 1 < arguments.count { value = arguments[i + 1] }
            else if a.hasPrefix("-isystem"), a.count > 8 { value = String(a.dropFirst(8)) }
            else if a.hasPrefix("-I"), a.count > 2 { value = String(a.dropFirst(2)) }
            guard let v = value else { continue }
            let dir = absolutize(v)
            if FileManager.default.fileExists(atPath: dir + "/Python.h") { dirs.append(dir) }
        }
        return dirs
    }
}

/// What a report says of a file that crashed an earlier attempt of the run.
func crashMessage(_ signal: Int32) -> String {
    let name = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGABRT: "SIGABRT",
                SIGTRAP: "SIGTRAP"][signal] ?? "signal \(signal)"
    return "not analyzed: gilcheck crashed on this file (\(name): a stack overflow, or a bug in libclang or gilcheck; "
        + "please report it with the file); the other files were analyzed without it"
}

/// Indices of `paths` by decreasing file size (ties and unreadable files in input order).
func largestFirst(_ paths: [String]) -> [Int] {
    let sizes = paths.map { path -> Int in
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
    return paths.indices.sorted { sizes[$0] != sizes[$1] ? sizes[$0] > sizes[$1] : $0 < $1 }
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
