import APIModel
import ArgumentParser
import Diagnostics
import Foundation
import TraceReport

extension TraceOutputFormat: ExpressibleByArgument {}

/// `gilcheck trace [options] -- COMMAND ARGS…`: runs a program under the trace library and reports the GIL
/// faults the run hit. The work is in TraceReport; this command reads flags and the environment and exits.
struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a program under the GIL tracer and report the GIL faults it hit.",
        discussion: """
            Runs COMMAND with libgilcheck-trace.so preloaded (child processes too), then reads the event logs \
            and reports: release-without-ensure, api-without-gil, thread-exit-holding-gil, ensure-leak-at-exit, \
            lock-order-inversion (a cycle of the GIL and pthread mutexes, even when this run did not deadlock), \
            hang (the watchdog ends a run blocked longer than --hang-timeout and shows who waits for what) and \
            gil-long-hold; with native stacks symbolized by addr2line, and GIL hold and wait statistics per \
            thread and per acquisition site. The program's stdin, stdout and stderr pass through; SIGINT and \
            SIGTERM are forwarded to it.

            Examples:
              gilcheck trace -- ./embedding_host --threads 4
              gilcheck trace --format html --report trace.html -- python3 -c 'import myext; myext.run()'
              gilcheck trace --hang-timeout 2s --keep-logs logs/ -- ./host
              gilcheck trace --from-logs logs/ --format chrome --report trace.json

            Exit status: 0 no findings and the program exited 0; 1 findings (the report also says how the \
            program ended, e.g. killed by SIGABRT); 2 usage or configuration error (bad flag, bad rules file, \
            trace library not built, command not found); 3 no findings but the program failed (non-zero exit \
            status or killed by a signal; the status is printed); 4 internal error, or the run left no trace \
            logs; 5 hang: the watchdog ended the run.
            """)

    @OptionGroup var options: TraceOptions
    @Option(name: .customLong("from-logs"), help: ArgumentHelp("Analyze the logs of an earlier run in DIR instead of running a command.", valueName: "DIR"))
    var fromLogs: String?
    @Argument(parsing: .postTerminator, help: ArgumentHelp("The program to run and its arguments, after --.", valueName: "COMMAND"))
    var command: [String] = []

    func run() throws {
        if command.isEmpty && fromLogs == nil {
            traceFail(.usage, "no command to trace; usage: gilcheck trace [options] -- COMMAND [ARGS...]")
        }
        if !command.isEmpty && fromLogs != nil { traceFail(.usage, "--from-logs analyzes earlier logs: give it without a command") }
        try options.runAndReport(command: command, fromLogs: fromLogs)
    }
}

/// Ends the process with a documented `gilcheck trace` status after printing `message` to stderr.
func traceFail(_ status: TraceExitStatus, _ message: String) -> Never {
    FileHandle.standardError.write(Data(("gilcheck: " + message + "\n").utf8))
    Foundation.exit(status.rawValue)
}

/// The options of a traced run, shared by `trace` and `host`: `@OptionGroup var options: TraceOptions`, then
/// `try options.runAndReport(command: [host] + arguments)`.
struct TraceOptions: ParsableArguments {
    @Option(name: .long, help: "Report format: text, json, sarif, chrome (trace-event JSON for Perfetto) or html.")
    var format: TraceOutputFormat = .text
    @Option(name: .long, help: "Write the report to this file instead of stdout.")
    var report: String?
    @Option(name: .long, help: ArgumentHelp("Also write the SVG timeline to this file.", valueName: "FILE.svg"))
    var timeline: String?
    @Option(name: .customLong("long-hold"), help: "GIL holds longer than this are gil-long-hold findings.")
    var longHold: String = "16ms"
    @Option(name: .customLong("hang-timeout"), help: "A wait for the GIL or a mutex longer than this ends the run as a hang.")
    var hangTimeout: String = "5s"
    @Option(name: .customLong("keep-logs"), help: ArgumentHelp("Write the event logs to DIR and keep them.", valueName: "DIR"))
    var keepLogs: String?
    @Option(name: .customLong("rules"), help: "An extra rules file (repeatable): more functions to watch or to treat as GIL-free.")
    var rulesFiles: [String] = []
    @Option(name: .customLong("only"), help: "Report only these rule ids (comma-separated).")
    var only: String?
    @Option(name: .customLong("disable"), help: "Do not report these rule ids (comma-separated).")
    var disable: String?
    @Flag(name: .customLong("no-symbolize"), help: "Show module+offset instead of running addr2line on stack addresses.")
    var noSymbolize = false
    @Flag(name: .customLong("no-timeline"), help: "Checks only: record no GIL holds (no timeline, statistics or gil-long-hold).")
    var noTimeline = false
    @Flag(name: .customLong("exact-timeline"), help: "Time and record every GIL acquisition (the full timeline and exact statistics; about 100 ns per acquisition). By default every wait of 1 ms or more and every long hold is recorded, and a random 1 in --sample of the others.")
    var exactTimeline = false
    @Option(name: .customLong("sample"), help: ArgumentHelp("With the default sampled timeline, record one in N of the uncontended, short GIL holds.", valueName: "N"))
    var sample: Int = 64

    /// Runs `command` under the trace library (or reads the logs in `fromLogs`), prints the report, and exits with
    /// the documented status (throws `ExitCode` when it is not 0).
    func runAndReport(command: [String], fromLogs: String? = nil) throws {
        let environment = Foundation.ProcessInfo.processInfo.environment
        // GILCHECK_TIMING: the fixed cost of a traced run by phase on stderr (bench/trace-overhead reads it), and
        // the trace library's own start-up and exit times from each traced process.
        let timing = PhaseTimer(enabled: environment["GILCHECK_TIMING"].map { !$0.isEmpty } ?? false)
        func ruleSet(_ text: String?, _ option: String) -> Set<String>? {
            guard let text else { return nil }
            let ids = Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            let known = Set(TraceRule.allCases.map(\.rawValue))
            if let bad = ids.subtracting(known).sorted().first {
                traceFail(.usage, "\(option): unknown rule '\(bad)'; trace rules: \(TraceRule.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return ids
        }
        let enabled = ruleSet(only, "--only")
        let disabled = ruleSet(disable, "--disable") ?? []
        if noTimeline && exactTimeline { traceFail(.usage, "--no-timeline and --exact-timeline: choose one") }
        if sample < 1 || sample > 1_000_000 { traceFail(.usage, "--sample \(sample): expected a whole number from 1 to 1000000") }
        let longHoldMs: Double
        let hangMs: Double
        do {
            longHoldMs = try parseDuration(longHold, option: "--long-hold")
            hangMs = try parseDuration(hangTimeout, option: "--hang-timeout")
        } catch {
            traceFail(.usage, "\(error)")
        }
        let cwd = FileManager.default.currentDirectoryPath

        // Run the program (or take the logs of an earlier run).
        var termination: Termination?
        let logDirectory: String
        var removeLogs = false
        if let fromLogs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: fromLogs, isDirectory: &isDirectory), isDirectory.boolValue else {
                traceFail(.usage, "--from-logs \(fromLogs): no such directory")
            }
            logDirectory = fromLogs
        } else {
            let library: String
            let model: APIModel
            do {
                library = try locateTraceLibrary(executablePath: executablePath(), environment: environment)
                model = try APIModel.load(libraries: false, extraFiles: rulesFiles, locator: RulesLocator(environment: environment, executablePath: executablePath()))
                logDirectory = try prepareLogDirectory(keepLogs, temporaryDirectory: defaultLogParent(environment))
            } catch {
                traceFail(.usage, "\(error)")
            }
            removeLogs = keepLogs == nil
            let watchFile = logDirectory + "/gilcheck.watch"
            do {
                try OutputFile.write(watchList(model: model), to: watchFile)
            } catch {
                traceFail(.internalError, "\(error)")
            }
            timing.lap("trace: setup (rules, watch list)")
            var childEnvironment = environment
            let preload = environment["LD_PRELOAD"].flatMap { $0.isEmpty ? nil : $0 }
            childEnvironment["LD_PRELOAD"] = library + (preload.map { ":" + $0 } ?? "")
            childEnvironment["GILCHECK_TRACE_DIR"] = logDirectory
            childEnvironment["GILCHECK_TRACE_HANG_TIMEOUT_MS"] = String(max(1, Int(hangMs.rounded())))
            childEnvironment["GILCHECK_TRACE_WATCH_FILE"] = watchFile
            childEnvironment["GILCHECK_TRACE_LONG_HOLD_MS"] = String(max(1, Int(longHoldMs.rounded(.down))))
            childEnvironment["GILCHECK_TRACE_SAMPLE"] = String(sample)
            if noTimeline { childEnvironment["GILCHECK_TRACE_TIMELINE"] = "0" }
            if exactTimeline { childEnvironment["GILCHECK_TRACE_TIMELINE"] = "exact" }
            if timing.enabled { childEnvironment["GILCHECK_TRACE_TIMING"] = "1" }
            do {
                termination = try runChild(command, environment: childEnvironment)
            } catch {
                if removeLogs { try? FileManager.default.removeItem(atPath: logDirectory) }
                traceFail(.usage, "\(error)")
            }
            timing.lap("trace: the program run")
        }

        // Read and analyze.
        let (logs, warnings) = EventLogReader.readDirectory(logDirectory)
        timing.lap("trace: reading logs")
        for w in warnings { FileHandle.standardError.write(Data("gilcheck: warning: \(w)\n".utf8)) }
        var symbolizer: any Symbolizer = NoSymbolizer()
        if !noSymbolize {
            if let tool = Addr2lineSymbolizer() {
                symbolizer = TimedSymbolizer(inner: tool, timing: timing)
            } else {
                FileHandle.standardError.write(Data("gilcheck: warning: addr2line not found (apt-get install binutils); stacks show module+offset\n".utf8))
            }
        }
        let analyzer = TraceAnalyzer(options: TraceAnalysisOptions(longHoldMs: longHoldMs, enabledRules: enabled,
                                                                   disabledRules: disabled, baseDirectory: cwd),
                                     symbolizer: symbolizer)
        // No logs at all: every report format says so and carries status 4, as the exit status does.
        let noLogs = logs.isEmpty ? TraceRunReport.noLogsWarning(fromLogs: fromLogs != nil ? logDirectory : nil) : nil
        let analysis = analyzer.analyze(logs: logs, warnings: warnings + (noLogs.map { [$0] } ?? []))
        timing.lap("trace: analysis")
        if termination == .exited(TraceFormat.watchdogExitStatus), analysis.watchdogFired { termination = .watchdog }
        let runReport = TraceRunReport(command: command.isEmpty ? (analysis.processes.first?.command ?? []) : command,
                                       termination: termination, analysis: analysis,
                                       toolVersion: GILCheck.configuration.version, baseDirectory: cwd)
        let text = format.render(runReport)
        do {
            if let report {
                try OutputFile.write(text, to: report)
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
            if let timeline {
                try OutputFile.write(TimelineSVG().render(runReport), to: timeline)
            }
        } catch {
            traceFail(.usage, "\(error)")
        }
        if removeLogs { try? FileManager.default.removeItem(atPath: logDirectory) }
        timing.lap("trace: writing the report")
        timing.print()

        if let noLogs { traceFail(.internalError, noLogs) }
        if let termination, termination.failed, format != .text || report != nil {
            FileHandle.standardError.write(Data("gilcheck: traced program: \(termination.description)\n".utf8))
        }
        if runReport.exitStatus != .clean { throw ExitCode(runReport.exitStatus.rawValue) }
    }

    /// Where fresh log directories go: /dev/shm (a tmpfs: the logs cost memory bandwidth, not disk writes), else
    /// $TMPDIR, else /tmp.
    private func defaultLogParent(_ environment: [String: String]) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory), isDirectory.boolValue,
           access("/dev/shm", W_OK) == 0 {
            return "/dev/shm"
        }
        return environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    }

    func executablePath() -> String { gilcheckExecutablePath() }
}

/// Adds the time spent symbolizing (addr2line, nm) to a phase timer of its own.
private struct TimedSymbolizer: Symbolizer {
    let inner: any Symbolizer
    let timing: PhaseTimer
    func symbolize(modulePath: String, offsets: [UInt64]) -> [UInt64: [SourceFrame]] {
        let start = PhaseTimer.now()
        defer { timing.add("trace:   symbolization, in analysis", since: start) }
        return inner.symbolize(modulePath: modulePath, offsets: offsets)
    }
    func dataSymbol(modulePath: String, offset: UInt64) -> String? {
        let start = PhaseTimer.now()
        defer { timing.add("trace:   symbolization, in analysis", since: start) }
        return inner.dataSymbol(modulePath: modulePath, offset: offset)
    }
}

/// The running gilcheck binary (the trace library and the host are installed next to it).
func gilcheckExecutablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}
