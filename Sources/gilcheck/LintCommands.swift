import Analysis
import ArgumentParser
import Diagnostics
import Foundation
import APIModel
import GILCheckKit

let lintSubcommands: [any ParsableCommand.Type] = [Lint.self, Rules.self, Explain.self, DumpConfig.self, DumpAST.self]

extension OutputFormat: ExpressibleByArgument {}

enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}

/// Ends the process with a documented status, after printing `message` (if any) to stderr.
func exitWith(_ status: ExitStatus, message: String? = nil) -> Never {
    if let message { FileHandle.standardError.write(Data(("gilcheck: " + message + "\n").utf8)) }
    exit(status.rawValue)
}

/// Options that decide what is reported, shared by `lint` and `dump-config`. Each is optional, so that a flag
/// not given leaves the config file's value alone.
struct SelectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read this config file instead of the .gilcheck.yml found by walking up from the first input.", valueName: "file"))
    var config: String?
    @Option(name: .customLong("rules"), help: ArgumentHelp("An extra rules file (repeatable) describing the project's wrappers.", valueName: "file"))
    var rulesFiles: [String] = []
    @Option(name: .customLong("only"), help: ArgumentHelp("Report only these rule ids (comma-separated; replaces the config's rules.enable).", valueName: "ids"))
    var only: String?
    @Option(name: .customLong("disable"), help: ArgumentHelp("Do not report these rule ids (comma-separated; added to the config's rules.disable).", valueName: "ids"))
    var disable: String?
    @Option(name: .customLong("exclude"), help: ArgumentHelp("Skip files matching this glob (repeatable), tried on the path relative to the input directory and on the base name.", valueName: "glob"))
    var excludes: [String] = []
    @Option(name: .customLong("python-version"), help: ArgumentHelp("The oldest Python the project supports, e.g. 3.11: APIs deprecated after it are not reported.", valueName: "x.y"))
    var pythonVersion: String?
    @Flag(name: .customLong("free-threading"), help: "Also run the checks for porting to free-threaded CPython (3.13t+): missing-mod-gil, borrowed-ref-free-threading.")
    var freeThreading = false

    /// The config file (given or found) applied to `options`, then the flags over it.
    func resolve(into options: inout LintOptions, start: String) throws -> String? {
        let path = config ?? GILCheckConfig.discover(from: start)
        if let config, !FileManager.default.fileExists(atPath: config) {
            throw LintError.config("\(config): config file does not exist")
        }
        if let path { try GILCheckConfig.load(path).apply(to: &options) }
        let split: (String) -> Set<String> = { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }) }
        options.rulesFiles += rulesFiles
        if let only {
            // Named on the command line: reported even when the config disables them.
            options.enabledRules = split(only)
            options.disabledRules.subtract(split(only))
        }
        if let disable { options.disabledRules.formUnion(split(disable)) }
        options.excludes += excludes
        if let pythonVersion {
            guard PythonVersion(pythonVersion) != nil else { throw LintError.badOption("--python-version '\(pythonVersion)' is not like 3.11") }
            options.pythonVersion = pythonVersion
        }
        if freeThreading { options.freeThreading = true }
        return path
    }
}

struct Lint: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow every path of every function and report GIL mistakes.",
        discussion: """
            Parses each file with libclang (Python's headers are found automatically) and reports paths that \
            leak a PyGILState_Ensure state, release what is not held, leave Py_BEGIN_ALLOW_THREADS without \
            re-acquiring the GIL, call the Python API without the GIL, and the other rules of `gilcheck rules`.

            Inputs are files and directories (searched for .c .cc .cpp .cxx sources; a header is analyzed \
            through the files that include it, on its own only when none does), or a compilation database \
            (-p), which gives each file its own flags.

            Examples:
              gilcheck lint worker.c
              gilcheck lint src/ --exclude 'third_party/*' -- -Iinclude -DWITH_THREADS=1
              gilcheck lint -p build                      # build/compile_commands.json (CMake, Meson, Bear)
              gilcheck lint -p build src/ext.c            # only that entry of the database
              gilcheck lint --format sarif --output gil.sarif src/
              gilcheck lint --format github src/          # annotations in a GitHub Actions job
              gilcheck lint --write-baseline gil-baseline.json src/    # accept today's findings
              gilcheck lint --baseline gil-baseline.json src/          # then report only new ones
              gilcheck lint --rules myproject-gil.yml ext.c

            Settings come from .gilcheck.yml (found by walking up from the first input; see \
            `gilcheck dump-config`); flags override it. Silence one finding with \
            `// gilcheck: ignore[rule-id] reason` on its line or the line before.

            Exit status: 0 no findings; 1 findings; 2 usage or configuration error (bad flag, bad rules, config \
            or baseline file, missing input, an input that is a FIFO or device); 3 an input could not be analyzed \
            (parse errors, or analyzing it crashed; the other files are still analyzed and reported); 4 internal \
            error.
            """)

    @Argument(help: "C or C++ files and directories.") var files: [String] = []
    @Option(name: [.customShort("p"), .customLong("compile-commands")],
            help: ArgumentHelp("A compile_commands.json, or the build directory that holds one.", valueName: "dir-or-file"))
    var compileCommands: String?
    @OptionGroup var selection: SelectionOptions
    @Option(name: .long, help: "Output format: text, json, sarif or github.") var format: OutputFormat = .text
    @Option(name: [.short, .long], help: "Write the report to this file instead of stdout.") var output: String?
    @Option(name: [.customShort("j", allowingJoined: true), .long], help: "Parse this many files at once (default: the number of cores).") var jobs: Int?
    @Option(name: .customLong("python-include"), help: "Directory with Python.h (default: found automatically).")
    var pythonInclude: [String] = []
    @Option(help: "Colored text output: auto, always or never.") var color: ColorChoice = .auto
    @Option(name: .customLong("base-dir"), help: "Base directory for relative paths in SARIF output and baselines (default: the current directory).")
    var baseDir: String?
    @Option(name: .customLong("baseline"), help: ArgumentHelp("Report only findings this baseline file does not list.", valueName: "file"))
    var baseline: String?
    @Option(name: .customLong("write-baseline"), help: ArgumentHelp("Record today's findings in this file (they no longer fail the run).", valueName: "file"))
    var writeBaseline: String?
    @Flag(name: .customLong("report-unused-suppressions"), help: "Report `gilcheck: ignore[...]` comments that silence nothing.")
    var reportUnusedSuppressions = false
    @Flag(name: .customLong("no-precheck"), help: "Parse every file, even those whose text names nothing the rules know.")
    var noPrecheck = false
    @Flag(name: [.short, .long], help: "Say on stderr which config is used and how many files were parsed, skipped, suppressed.")
    var verbose = false
    @Option(name: .customLong("dump-cfg"), help: "Print the control-flow graph of this function (Graphviz) and exit.")
    var dumpCFG: String?
    @Option(name: .customLong("worker-stack-mib"), help: ArgumentHelp("The stack of each parse worker in MiB (tests of the crash path).", visibility: .hidden))
    var workerStackMiB: Int?
    @Flag(name: .customLong("debug-crash"), help: ArgumentHelp("Crash on purpose after the analysis (tests of the crash path).", visibility: .hidden))
    var debugCrash = false

    func run() throws {
        var options = LintOptions(inputs: files, clangArguments: CompilerFlags.passthrough)
        let configPath: String?
        do {
            configPath = try selection.resolve(into: &options, start: files.first ?? compileCommands ?? ".")
        } catch {
            exitWith(.usage, message: "\(error)")
        }
        options.compileCommands = compileCommands
        options.pythonIncludes = pythonInclude.isEmpty ? nil : pythonInclude
        options.jobs = jobs
        options.precheck = !noPrecheck
        options.reportUnusedSuppressions = reportUnusedSuppressions
        options.baseline = baseline
        options.baseDirectory = baseDir
        options.crashedInputs = CrashHandler.crashedInputs()
        if let workerStackMiB {
            guard workerStackMiB >= 1 else { exitWith(.usage, message: "--worker-stack-mib must be at least 1") }
            options.parseStackSize = workerStackMiB << 20
        }
        let session: LintSession
        do {
            session = try LintSession(options: options)
        } catch {
            exitWith(.usage, message: "\(error)")
        }
        if let dumpCFG {
            guard let file = files.first else { exitWith(.usage, message: "--dump-cfg needs the file that defines \(dumpCFG)") }
            do {
                guard let dot = try session.dumpCFG(file: file, function: dumpCFG) else {
                    exitWith(.usage, message: "no definition of '\(dumpCFG)' in \(file)")
                }
                print(dot, terminator: "")
                return
            } catch {
                exitWith(.inputNotAnalyzed, message: "\(error)")
            }
        }
        CrashHandler.install(status: ExitStatus.internalError.rawValue,
                             removeOnCrash: output.map(OutputFile.pathsToRemoveOnCrash) ?? [])
        let progress = ProgressLine.forStandardError()
        var onProgress: (@Sendable (LintProgress) -> Void)?
        if let progress { onProgress = { @Sendable p in progress.update(p) } }
        let outcome = session.run(progress: onProgress)
        progress?.finish()
        if debugCrash { raise(SIGSEGV) }
        if verbose { report(outcome.statistics, config: configPath, findings: outcome.run.diagnostics.count) }
        let useColor: Bool
        switch color {
        case .always: useColor = true
        case .never: useColor = false
        case .auto: useColor = output == nil && isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        }
        let text = format.reporter(color: useColor && format == .text,
                                   baseDirectory: baseDir ?? FileManager.default.currentDirectoryPath).render(outcome.run)
        if let output {
            do {
                try OutputFile.write(text, to: output)
            } catch {
                exitWith(.usage, message: "\(error)")
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        if format != .text {
            for e in outcome.run.inputErrors {
                let where_ = e.line > 0 ? "\(e.file):\(e.line):\(e.column): " : e.message.contains(e.file) ? "" : "\(e.file): "
                FileHandle.standardError.write(Data("gilcheck: \(where_)\(e.message)\n".utf8))
            }
        }
        var status = outcome.status
        if let writeBaseline {
            let recorded = Baseline.make(outcome.findingsBeforeBaseline,
                                         baseDirectory: baseDir ?? FileManager.default.currentDirectoryPath)
            do {
                try OutputFile.write(recorded.encoded(), to: writeBaseline)
            } catch {
                exitWith(.usage, message: "\(error)")
            }
            let n = outcome.findingsBeforeBaseline.count
            FileHandle.standardError.write(Data("gilcheck: wrote \(n) finding\(n == 1 ? "" : "s") to \(writeBaseline)\n".utf8))
            if status == .findings { status = .clean }
        }
        if status != .clean { throw ExitCode(status.rawValue) }
    }

    private func report(_ s: LintStatistics, config: String?, findings: Int) {
        var lines = ["config: \(config ?? "none (no \(GILCheckConfig.fileName) above the first input)")"]
        var files = "\(s.files) file\(s.files == 1 ? "" : "s"): \(s.translationUnitsParsed) parsed"
        if s.headersParsedAlone > 0 { files += ", \(s.headersParsedAlone) header\(s.headersParsedAlone == 1 ? "" : "s") parsed alone" }
        if s.headersReached > 0 { files += ", \(s.headersReached) header\(s.headersReached == 1 ? "" : "s") reached through the files including them" }
        files += ", \(s.skippedByPrecheck) skipped by the pre-check (no identifier the rules know); \(s.workers) worker\(s.workers == 1 ? "" : "s")"
        lines.append(files)
        for f in s.notInDatabase { lines.append("\(f) is not in the compilation database: parsed with the flags after --") }
        lines += s.skippedNotRegular
        lines.append("\(findings) finding\(findings == 1 ? "" : "s") reported, \(s.suppressed) suppressed inline, \(s.baselined) accepted by the baseline")
        FileHandle.standardError.write(Data(lines.map { "gilcheck: " + $0 + "\n" }.joined().utf8))
    }
}

struct DumpConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-config",
        abstract: "Print the effective configuration (config file and flags merged) as a config file.",
        discussion: """
            The output is itself a valid .gilcheck.yml listing every rule's state and severity.

            Examples:
              gilcheck dump-config                       # the .gilcheck.yml found from the current directory
              gilcheck dump-config src/ext.c             # the one that applies to this file
              gilcheck dump-config --config ci/gilcheck.yml --disable blocking-with-gil
            """)

    @Argument(help: "Where to start looking for .gilcheck.yml (default: the current directory).") var path: String?
    @OptionGroup var selection: SelectionOptions

    func run() throws {
        var options = LintOptions(inputs: [])
        do {
            let configPath = try selection.resolve(into: &options, start: path ?? ".")
            let known = Set(RuleID.allCases.map(\.rawValue))
            for id in (options.enabledRules ?? []).union(options.disabledRules) where !known.contains(id) {
                throw LintError.unknownRule(id, "")
            }
            print(GILCheckConfig.render(options: options, configPath: configPath), terminator: "")
        } catch {
            exitWith(.usage, message: "\(error)")
        }
    }
}

/// `gilcheck: 12/340 files, 3 findings` on stderr, redrawn in place; only on a terminal, only after the run has
/// lasted a second, and erased at the end.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    static func forStandardError() -> ProgressLine? {
        isatty(STDERR_FILENO) != 0 ? ProgressLine() : nil
    }

    func update(_ p: LintProgress) {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(start) > 1, now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        drawn = true
        let text = "\rgilcheck: \(p.filesDone)/\(p.filesTotal) files, \(p.findings) finding\(p.findings == 1 ? "" : "s")\u{1B}[K"
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every rule with its id, severity and summary.",
        discussion: """
            Examples:
              gilcheck rules
              gilcheck rules | grep error        # the rules that are errors by default
              gilcheck explain ensure-leak       # one rule in depth
              gilcheck rules --libs              # the C libraries whose blocking calls and callbacks are known
            """)

    @Flag(name: .customLong("libs"), help: "List the C libraries the shipped rules describe: their blocking calls and the calls that register callbacks run on the library's own threads.")
    var libraries = false

    @Option(name: .customLong("rules"), help: "Another rules file to load (repeatable), for --libs.")
    var rulesFiles: [String] = []

    func run() throws {
        if libraries {
            let model: APIModel
            do { model = try APIModel.load(extraFiles: rulesFiles) } catch { exitWith(.usage, message: "\(error)") }
            for lib in model.libraries {
                print("\(lib.name) (\((lib.path as NSString).lastPathComponent)): \(lib.blocking.count) blocking, \(lib.callbacks.count) callback registrations")
                if !lib.blocking.isEmpty { print("  blocks: " + lib.blocking.joined(separator: ", ")) }
                if !lib.callbacks.isEmpty { print("  calls back on its own threads: " + lib.callbacks.joined(separator: ", ")) }
            }
            return
        }
        for r in RuleCatalog.all {
            print("\(r.id.padding(toLength: 24, withPad: " ", startingAt: 0)) \(r.severity.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(r.summary)")
        }
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain a rule: what it catches, why it hangs or crashes, a wrong and a right example.",
        discussion: """
            Examples:
              gilcheck explain ensure-leak
              gilcheck explain api-without-gil
            """)

    @Argument(help: "A rule id from `gilcheck rules`.") var rule: String

    func run() throws {
        guard let id = RuleID(rawValue: rule) else {
            exitWith(.usage, message: "unknown rule '\(rule)'; `gilcheck rules` lists them")
        }
        let r = id.info
        var out = "\(r.id) (\(r.severity.rawValue)): \(r.summary)\n\n\(r.rationale)\n"
        if !r.wrong.isEmpty {
            out += "\nWrong:\n\n\(indent(r.wrong))\n\nRight:\n\n\(indent(r.right))\n"
        }
        out += "\nTo silence one finding, put `// gilcheck: ignore[\(r.id)] reason` on its line or the line before;\n"
        out += "to turn the rule off, pass `--disable \(r.id)` or list it under `rules: {disable: [...]}` in .gilcheck.yml.\n"
        print(out, terminator: "")
    }

    private func indent(_ s: String) -> String { s.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n") }
}
