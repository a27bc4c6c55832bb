import Diagnostics
import Foundation

/// The rules of `gilcheck trace`, with the severity each finding gets.
public enum TraceRule: String, CaseIterable, Sendable, Codable {
    case hang
    case releaseWithoutEnsure = "release-without-ensure"
    case apiWithoutGIL = "api-without-gil"
    case threadExitHoldingGIL = "thread-exit-holding-gil"
    case ensureLeakAtExit = "ensure-leak-at-exit"
    case lockOrderInversion = "lock-order-inversion"
    case gilLongHold = "gil-long-hold"

    public var severity: Severity { self == .gilLongHold ? .warning : .error }

    public var info: RuleInfo {
        switch self {
        case .hang:
            return RuleInfo(id: rawValue, severity: severity,
                            summary: "a thread waited longer than the hang timeout for the GIL or a mutex",
                            rationale: "The watchdog found a thread blocked past --hang-timeout. The report gives the wait-for graph: who waits for what, who holds the GIL and each mutex, and every thread's stack. A lock held by a thread that has ended (a PyGILState_Ensure never released on an error path) or a cycle of waits (a lock-order inversion) are the usual causes.",
                            wrong: "", right: "")
        case .releaseWithoutEnsure:
            return RuleInfo(id: rawValue, severity: severity,
                            summary: "the GIL was released by a thread that did not acquire it",
                            rationale: "PyGILState_Release with no live PyGILState_Ensure state, PyEval_RestoreThread with no saved state, or PyEval_SaveThread while the thread does not hold the GIL. CPython ends the process with a fatal error, or corrupts its thread state; gilcheck records it before that happens.",
                            wrong: "PyGILState_Release(st);\nPyGILState_Release(st);   /* released twice */",
                            right: "PyGILState_STATE st = PyGILState_Ensure();\n...\nPyGILState_Release(st);")
        case .apiWithoutGIL:
            return RuleInfo(id: rawValue, severity: severity,
                            summary: "a Python C API function was called by a thread that does not hold the GIL",
                            rationale: "Without the GIL, reference counts and object state race with the thread that holds it. The damage usually shows later and elsewhere, as a crash or a wrong value. Functions the API model marks gil: free are not watched.",
                            wrong: "Py_BEGIN_ALLOW_THREADS\nPy_DECREF(obj);\nPy_END_ALLOW_THREADS",
                            right: "Py_DECREF(obj);\nPy_BEGIN_ALLOW_THREADS\n...\nPy_END_ALLOW_THREADS")
        case .threadExitHoldingGIL:
            return RuleInfo(id: rawValue, severity: severity,
                            summary: "a thread ended while holding the GIL",
                            rationale: "The GIL stays locked by a thread that no longer exists: every other thread that needs Python waits forever.",
                            wrong: "PyEval_RestoreThread(ts);\nreturn NULL;   /* thread ends holding the GIL */",
                            right: "PyEval_RestoreThread(ts);\n...\nPyEval_SaveThread();\nreturn NULL;")
        case .ensureLeakAtExit:
            return RuleInfo(id: rawValue, severity: severity,
                            summary: "a thread or the process ended with PyGILState_Ensure states never released",
                            rationale: "Each PyGILState_Ensure needs its PyGILState_Release on every path. A thread that returns early keeps the GIL, and the next thread that needs it hangs.",
                            wrong: "PyGILState_STATE st = PyGILState_Ensure();\nif (err) return NULL;\nPyGILState_Release(st);",
                            right: "PyGILState_STATE st = PyGILState_Ensure();\nif (err) { PyGILState_Release(st); return NULL; }\nPyGILState_Release(st);")
        case .lockOrderInversion:
            return RuleInfo(id: rawValue, severity: severity,
                            summary: "locks (the GIL and pthread mutexes) were taken in orders that form a cycle",
                            rationale: "One thread took B while holding A and another (or the same one, elsewhere) took A while holding B. Run at the same moment they deadlock. The cycle is reported even when this run did not deadlock. Release the GIL (Py_BEGIN_ALLOW_THREADS) before taking a mutex that other threads hold while they wait for the GIL.",
                            wrong: "/* thread 1 */ PyGILState_Ensure(); pthread_mutex_lock(&m);\n/* thread 2 */ pthread_mutex_lock(&m); PyGILState_Ensure();",
                            right: "/* thread 1 */ Py_BEGIN_ALLOW_THREADS pthread_mutex_lock(&m); Py_END_ALLOW_THREADS")
        case .gilLongHold:
            return RuleInfo(id: rawValue, severity: severity,
                            summary: "the GIL was held longer than --long-hold after an acquisition",
                            rationale: "While one thread holds the GIL, no other thread runs Python. A hold longer than one frame of an interactive host (16 ms by default) stalls the others. Release the GIL around long C work.",
                            wrong: "", right: "")
        }
    }
}

/// A thread, as reports name it.
public struct ThreadRef: Codable, Sendable, Hashable {
    public var tid: UInt32
    /// "main thread (tid 4242)" or "thread 2 (tid 4243, worker_main, started by main thread at host.c:88)".
    public var name: String

    public init(tid: UInt32, name: String) {
        self.tid = tid
        self.name = name
    }
}

/// A second stack of a finding: the other edge of a lock cycle, another thread of a hang, where a GIL was taken.
public struct RelatedStack: Codable, Sendable, Hashable {
    public var message: String
    public var thread: ThreadRef?
    public var stack: [StackFrame]

    public init(message: String, thread: ThreadRef?, stack: [StackFrame]) {
        self.message = message
        self.thread = thread
        self.stack = stack
    }
}

public struct TraceFinding: Codable, Sendable, Hashable {
    public var ruleId: String
    public var severity: Severity
    public var message: String
    public var pid: UInt32
    public var thread: ThreadRef
    public var stack: [StackFrame]
    /// Explanations, one line each (the wait-for chain of a hang, the edges of a lock cycle).
    public var notes: [String]
    public var related: [RelatedStack]
    /// How many times the run hit it (same rule, process, and call site).
    public var count: Int
    /// When it happened, in milliseconds since the start of the trace.
    public var timeMs: Double?

    public init(ruleId: String, severity: Severity, message: String, pid: UInt32, thread: ThreadRef,
                stack: [StackFrame], notes: [String] = [], related: [RelatedStack] = [], count: Int = 1,
                timeMs: Double? = nil) {
        self.ruleId = ruleId
        self.severity = severity
        self.message = message
        self.pid = pid
        self.thread = thread
        self.stack = stack
        self.notes = notes
        self.related = related
        self.count = count
        self.timeMs = timeMs
    }

    /// The frame a finding is reported at: the innermost user frame with a source line, else any frame with one,
    /// else the innermost frame.
    public var location: StackFrame? {
        stack.first { $0.hasSourceLocation && $0.moduleKind == "user" }
            ?? stack.first { $0.hasSourceLocation && $0.moduleKind != "tracer" }
            ?? stack.first
    }
}

/// GIL statistics of one thread.
public struct ThreadStatistics: Codable, Sendable, Hashable {
    public var pid: UInt32
    public var tid: UInt32
    public var name: String
    /// Outermost acquisitions (a nested PyGILState_Ensure does not count).
    public var acquisitions: Int
    public var nestedAcquisitions: Int
    public var heldMs: Double
    public var waitedMs: Double
    public var longestHoldMs: Double
    public var events: Int
}

/// Percentiles of a set of durations, in milliseconds.
public struct DurationSummary: Codable, Sendable, Hashable {
    public var count: Int
    public var p50: Double
    public var p99: Double
    public var max: Double
    public var total: Double

    /// Weighted nearest-rank percentiles: a value of weight w counts as w values (a sampled hold stands for the holds
    /// it was picked from). `count` and `total` are then estimates.
    public init(weighted values: [Weighted]) {
        let sorted = values.filter { $0.weight > 0 }.sorted { $0.value < $1.value }
        let weight = sorted.reduce(0) { $0 + $1.weight }
        count = Int(weight.rounded())
        func rank(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let target = p / 100 * weight
            var cumulative = 0.0
            for v in sorted {
                cumulative += v.weight
                if cumulative >= target - 1e-9 { return roundedToNanoseconds(v.value) }
            }
            return roundedToNanoseconds(sorted[sorted.count - 1].value)
        }
        p50 = rank(50)
        p99 = rank(99)
        max = roundedToNanoseconds(sorted.last?.value ?? 0)
        total = roundedToNanoseconds(sorted.reduce(0) { $0 + $1.value * $1.weight })
    }

    /// Nearest-rank percentiles.
    public init(_ values: [Double]) {
        let sorted = values.sorted().map(roundedToNanoseconds)
        count = sorted.count
        func rank(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let index = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, index))]
        }
        p50 = rank(50)
        p99 = rank(99)
        max = sorted.last ?? 0
        total = roundedToNanoseconds(sorted.reduce(0, +))
    }
}

/// A duration and how many it stands for.
public struct Weighted: Sendable, Hashable {
    public var value: Double
    public var weight: Double
    public init(value: Double, weight: Double) { self.value = value; self.weight = weight }
}

/// Milliseconds rounded to whole nanoseconds, so that reports do not print 16 meaningless digits.
func roundedToNanoseconds(_ ms: Double) -> Double { (ms * 1e6).rounded() / 1e6 }

/// GIL statistics of one acquisition site (the same code in several processes is one site).
public struct SiteStatistics: Codable, Sendable, Hashable {
    /// `file:line` or `module+0xoffset`.
    public var site: String
    public var function: String?
    /// The API that took the GIL there.
    public var api: String
    public var acquisitions: Int
    public var hold: DurationSummary
    public var wait: DurationSummary
}

public struct EventCounts: Codable, Sendable, Hashable {
    public var recorded: Int
    public var dropped: Int
    public var logFiles: Int
    public var tornRecords: Int
}

public struct ProcessSummary: Codable, Sendable, Hashable {
    public var pid: UInt32
    public var ppid: UInt32
    public var command: [String]
    public var threads: Int
    /// A child of fork() that went on from its parent's forking thread (nil: started as a program of its own).
    public var forked: Bool?
    /// How it ended, from its own log or its parent's wait (nil: not known).
    public var end: ProcessEnd?
}

/// How one traced process ended.
public struct ProcessEnd: Codable, Sendable, Hashable {
    /// "exited", "signal", or "unknown" (it ran its exit handlers; the status was not seen).
    public var how: String
    public var status: Int32?
    public var signal: Int32?
    public var signalName: String?
    /// For a death by signal: whether a thread of the process held the GIL then.
    public var heldGIL: Bool?
    public var description: String

    public init(_ termination: Termination, heldGIL: Bool? = nil) {
        switch termination {
        case .exited(let code): how = "exited"; status = code
        case .signaled(let s): how = "signal"; signal = s; signalName = TraceReport.signalName(s); self.heldGIL = heldGIL
        case .watchdog: how = "exited"; status = TraceFormat.watchdogExitStatus
        }
        description = termination.description + (heldGIL == true ? " while holding the GIL" : "")
    }

    /// Exit handlers ran, the status is not known.
    public static let unknown = ProcessEnd(how: "unknown", description: "exited (status not seen)")

    private init(how: String, description: String) {
        self.how = how
        self.description = description
    }

    public var known: Bool { how != "unknown" }

    /// Killed by a signal that means a crash (not one a parent sends to stop a worker).
    public var crashed: Bool {
        guard let signal else { return false }
        return [SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS].contains(signal)
    }
}

/// What a timeline lane shows.
public enum SpanKind: String, Codable, Sendable {
    case held, wait, mutexWait
}

public struct TimelineSpan: Codable, Sendable, Hashable {
    public var kind: SpanKind
    /// Milliseconds since the start of the trace.
    public var startMs: Double
    public var endMs: Double
    /// A hold longer than --long-hold.
    public var long: Bool
    /// Still held when the thread's log ends (a thread that died or hung holding the GIL).
    public var open: Bool
    public var label: String
}

public struct TimelineMark: Codable, Sendable, Hashable {
    public var timeMs: Double
    public var ruleId: String
    public var message: String
}

public struct TimelineLane: Codable, Sendable, Hashable {
    public var pid: UInt32
    public var tid: UInt32
    public var name: String
    public var spans: [TimelineSpan]
    public var marks: [TimelineMark]
}

public struct Timeline: Codable, Sendable, Hashable {
    public var durationMs: Double
    public var longHoldMs: Double
    public var lanes: [TimelineLane]
}

/// How the traced program ended.
public enum Termination: Sendable, Hashable {
    case exited(Int32)
    case signaled(Int32)
    /// The library's watchdog ended it after a hang (exit status 86 and a hang record).
    case watchdog

    public var failed: Bool {
        switch self {
        case .exited(let code): return code != 0
        case .signaled, .watchdog: return true
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "killed by \(signalName(signal))"
        case .watchdog: return "ended by the gilcheck watchdog after a hang (status \(TraceFormat.watchdogExitStatus))"
        }
    }
}

public func signalName(_ signal: Int32) -> String {
    let names = [1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
                 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM",
                 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP",
                 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM",
                 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS"]
    return names[Int(signal)] ?? "signal \(signal)"
}

/// The documented exit codes of `gilcheck trace`.
public enum TraceExitStatus: Int32, Sendable {
    /// No findings and the program exited with status 0.
    case clean = 0
    /// At least one finding (also when the program then crashed: the report says how it ended).
    case findings = 1
    /// Bad flags, bad rules file, trace library not found, command not runnable.
    case usage = 2
    /// No findings, but the program failed: non-zero exit status or killed by a signal.
    case programFailed = 3
    /// A bug in gilcheck, or the run left no trace logs at all.
    case internalError = 4
    /// The watchdog ended a hung run (a `hang` finding says who waited for what).
    case hang = 5

    /// `childCrashed`: another traced process (a forked child, a subprocess) was killed by a crash signal.
    public static func decide(findings: [TraceFinding], termination: Termination?, logFiles: Int = 1,
                              childCrashed: Bool = false) -> TraceExitStatus {
        // Nothing was traced: no finding could have been seen, so "clean" would be a lie.
        if logFiles == 0 { return .internalError }
        if termination == .watchdog { return .hang }
        if findings.contains(where: { $0.severity >= .warning }) { return .findings }
        if termination?.failed == true || childCrashed { return .programFailed }
        return .clean
    }
}

/// Everything a report shows.
public struct TraceAnalysis: Sendable {
    public var findings: [TraceFinding]
    public var threads: [ThreadStatistics]
    public var sites: [SiteStatistics]
    public var events: EventCounts
    public var processes: [ProcessSummary]
    public var timeline: Timeline
    /// The run contains a hang record (the watchdog fired).
    public var watchdogFired: Bool
    /// The timeline was sampled: one uncontended, short hold in this many was recorded (nil: every hold was).
    /// Per-site counts, hold and wait totals and percentiles are then estimates; per-thread acquisition counts
    /// are exact.
    public var sampleRate: Int?
    /// Problems reading the logs (unreadable files), for stderr and the report.
    public var warnings: [String]

    /// The process the others descend from: the first whose parent was not traced.
    public var rootProcessIndex: Int? {
        let pids = Set(processes.map(\.pid))
        return processes.firstIndex { !pids.contains($0.ppid) } ?? (processes.isEmpty ? nil : 0)
    }
}

/// One run, ready to render: the analysis and how the program ended.
public struct TraceRunReport: Sendable {
    public var command: [String]
    public var termination: Termination?
    public var exitStatus: TraceExitStatus
    public var analysis: TraceAnalysis
    public var toolVersion: String
    /// Paths are shown relative to this directory in text output and SARIF.
    public var baseDirectory: String?

    public init(command: [String], termination: Termination?, analysis: TraceAnalysis, toolVersion: String,
                baseDirectory: String? = nil) {
        self.command = command
        self.termination = termination
        self.analysis = analysis
        self.toolVersion = toolVersion
        self.baseDirectory = baseDirectory
        // The program gilcheck started ended as gilcheck saw it (its log may only know that main returned).
        let root = analysis.rootProcessIndex
        if let root, let termination, analysis.processes[root].end?.known != true {
            self.analysis.processes[root].end = ProcessEnd(termination)
        }
        let childCrashed = analysis.processes.indices.contains { $0 != root && analysis.processes[$0].end?.crashed == true }
        self.exitStatus = TraceExitStatus.decide(findings: analysis.findings, termination: termination,
                                                 logFiles: analysis.events.logFiles, childCrashed: childCrashed)
    }

    /// True when the run left no trace logs: the reports say so instead of "no GIL faults found".
    public var nothingTraced: Bool { analysis.events.logFiles == 0 }

    /// Why a run left no logs, for stderr and every report format.
    public static func noLogsWarning(fromLogs directory: String?) -> String {
        if let directory { return "\(directory) holds no gilcheck.*.trace logs, so nothing could be checked" }
        return "the run left no trace logs, so nothing could be checked: the program may be static, setuid, "
            + "or may not have loaded the trace library (LD_PRELOAD)"
    }
}
