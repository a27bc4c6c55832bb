import Diagnostics
import Foundation

public struct TraceAnalysisOptions: Sendable {
    /// GIL holds longer than this are `gil-long-hold` findings.
    public var longHoldMs: Double
    /// Report only these rule ids (nil: all).
    public var enabledRules: Set<String>?
    public var disabledRules: Set<String>
    /// Source paths inside this directory are shown relative to it in messages.
    public var baseDirectory: String?

    public init(longHoldMs: Double = 16, enabledRules: Set<String>? = nil, disabledRules: Set<String> = [],
                baseDirectory: String? = nil) {
        self.longHoldMs = longHoldMs
        self.enabledRules = enabledRules
        self.disabledRules = disabledRules
        self.baseDirectory = baseDirectory
    }

    func reports(_ rule: TraceRule) -> Bool {
        (enabledRules?.contains(rule.rawValue) ?? true) && !disabledRules.contains(rule.rawValue)
    }
}

/// One record with its process and its time.
struct Event {
    var pid: UInt32
    var header: TraceFileHeader
    var record: TraceRecord
    /// Unix nanoseconds.
    var time: Double

    func ns(ticks: UInt64) -> Double { header.nanoseconds(ticks: ticks) }
}

final class ThreadInfo {
    let pid: UInt32
    let tid: UInt32
    var start: Event?
    var exit: Event?
    var first = Double.infinity
    var last = -Double.infinity
    var events = 0
    var ordinal = 0
    var ref: ThreadRef

    init(pid: UInt32, tid: UInt32) {
        self.pid = pid
        self.tid = tid
        ref = ThreadRef(tid: tid, name: "thread (tid \(tid))")
    }

    var isMain: Bool { tid == pid }
    var shortName: String { isMain ? "main thread" : ordinal > 0 ? "thread \(ordinal)" : "thread tid \(tid)" }
}

final class TracedProcess {
    let pid: UInt32
    var ppid: UInt32 = 0
    var command: [String] = []
    var modules: [LoadedModule] = []
    var apiNames: [UInt64: String] = [:]
    var threads: [UInt32: ThreadInfo] = [:]
    var events: [Event] = []
    /// A child of fork(): it goes on with its parent's loaded objects.
    var forked = false
    /// How it said it ended (process-end record), if it did.
    var end: ProcessEnd?
    /// Children it reaped: pid → wait status.
    var reaped: [UInt32: Int32] = [:]

    init(pid: UInt32) { self.pid = pid }

    func thread(_ tid: UInt32) -> ThreadInfo {
        if let t = threads[tid] { return t }
        let t = ThreadInfo(pid: pid, tid: tid)
        threads[tid] = t
        return t
    }

    var lastTime: Double { events.last?.time ?? 0 }
}

/// Turns the logs of one run into findings, statistics and a timeline. Pure: no process is run except the
/// symbolizer given to it.
public struct TraceAnalyzer {
    public var options: TraceAnalysisOptions
    private let resolver: AddressResolver

    public init(options: TraceAnalysisOptions = TraceAnalysisOptions(), symbolizer: any Symbolizer = NoSymbolizer()) {
        self.options = options
        self.resolver = AddressResolver(symbolizer: symbolizer)
    }

    public func analyze(logs: [TraceLog], warnings: [String] = []) -> TraceAnalysis {
        var processes: [UInt32: TracedProcess] = [:]
        var counts = EventCounts(recorded: 0, dropped: 0, logFiles: logs.count, tornRecords: 0)
        var origin = Double.infinity
        var end = -Double.infinity
        for log in logs {
            let pid = log.header.pid
            let p = processes[pid] ?? TracedProcess(pid: pid)
            processes[pid] = p
            if p.ppid == 0 { p.ppid = log.header.ppid }
            if log.header.startUnixNs > 0 { origin = min(origin, Double(log.header.startUnixNs)) }
            if log.tornRecord { counts.tornRecords += 1 }
            counts.recorded += log.records.count
            for r in log.records {
                let e = Event(pid: pid, header: log.header, record: r, time: log.header.unixNanoseconds(ticks: r.time))
                origin = min(origin, e.time)
                end = max(end, e.time)
                p.events.append(e)
                // Records name the thread they are about (the watchdog writes other threads' stacks into its own log).
                let t = p.thread(r.tid != 0 ? r.tid : log.header.tid)
                t.first = min(t.first, e.time)
                t.last = max(t.last, e.time)
                t.events += 1
                switch r.recordKind {
                case .processStart:
                    p.command = r.payloadStrings.filter { !$0.isEmpty }
                    if r.b != 0 { p.ppid = UInt32(truncatingIfNeeded: r.b) }
                    if r.flags & TraceFormat.processForked != 0 { p.forked = true }
                case .processEnd:
                    let value = Int32(truncatingIfNeeded: r.a)
                    switch ProcessEndCode(rawValue: r.detail) {
                    case .exit?: p.end = ProcessEnd(.exited(value))
                    case .signal?: p.end = ProcessEnd(.signaled(value), heldGIL: r.b != 0)
                    case .exitUnknown?: p.end = .unknown
                    case nil: break
                    }
                case .childEnd:
                    p.reaped[UInt32(truncatingIfNeeded: r.a)] = Int32(truncatingIfNeeded: r.b)
                case .module:
                    // pc, when set, is the start of the lowest segment: a tighter range than the load base.
                    let m = LoadedModule(base: r.a, end: r.b, flags: ModuleFlags(rawValue: r.flags), path: r.payloadString,
                                         start: r.pc > r.a && r.pc < r.b ? r.pc : r.a)
                    if !p.modules.contains(m) { p.modules.append(m) }
                case .apiName: p.apiNames[r.a] = r.payloadString
                case .threadStart: t.start = e
                case .threadExit: t.exit = e
                case .dropped: counts.dropped += Int(r.a)
                default: break
                }
            }
        }
        if !origin.isFinite { origin = 0 }
        if !end.isFinite { end = origin }
        let ordered = processes.values.sorted { $0.pid < $1.pid }
        for p in ordered {
            // A forked child runs its parent's code at the same addresses.
            if p.forked, let parent = processes[p.ppid] {
                p.modules = parent.modules + p.modules.filter { !parent.modules.contains($0) }
            }
            // A child that could not say how it ended (SIGKILL, main returned): as its parent's wait saw it.
            if p.end?.known != true, let status = ordered.lazy.compactMap({ $0.reaped[p.pid] }).first {
                p.end = status & 0x7f == 0 ? ProcessEnd(.exited((status >> 8) & 0xff)) : ProcessEnd(.signaled(status & 0x7f))
            }
        }
        for p in ordered {
            p.events.sort { $0.time < $1.time }
            resolver.setModules(p.modules, pid: p.pid)
        }
        prefetch(ordered)
        for p in ordered { nameThreads(p) }

        var context = Context(origin: origin, options: options, resolver: resolver)
        context.sampleRate = logs.filter { $0.header.timelineSampled }.map { Int(max(1, $0.header.sampleRate)) }.max()
        for p in ordered {
            runtimeFindings(p, &context)
            lockOrder(p, &context)
            hangs(p, &context)
            holds(p, &context)
        }
        context.longHoldFindings(processes)

        let findings = context.findings
            .filter { TraceRule(rawValue: $0.ruleId).map(options.reports) ?? true }
            .sorted(by: Self.order)
        var lanes: [TimelineLane] = []
        for p in ordered {
            for t in p.threads.values.sorted(by: { ($0.isMain ? 0 : 1, $0.first) < ($1.isMain ? 0 : 1, $1.first) }) {
                let key = ThreadKey(pid: p.pid, tid: t.tid)
                let marks = findings.filter { $0.pid == p.pid && $0.thread.tid == t.tid && $0.timeMs != nil }
                    .map { TimelineMark(timeMs: $0.timeMs!, ruleId: $0.ruleId, message: $0.message) }
                lanes.append(TimelineLane(pid: p.pid, tid: t.tid, name: t.ref.name,
                                          spans: context.spans[key] ?? [], marks: marks))
            }
        }
        let threads = ordered.flatMap { p in
            p.threads.values.sorted(by: { ($0.isMain ? 0 : 1, $0.first) < ($1.isMain ? 0 : 1, $1.first) }).map { t in
                let s = context.threadStats[ThreadKey(pid: p.pid, tid: t.tid)] ?? ThreadCounters()
                let key = ThreadKey(pid: p.pid, tid: t.tid)
                return ThreadStatistics(pid: p.pid, tid: t.tid, name: t.ref.name,
                                        acquisitions: context.exactAcquisitions[key] ?? Int(s.acquisitions.rounded()),
                                        nestedAcquisitions: s.nested, heldMs: roundedToNanoseconds(s.heldNs / 1e6),
                                        waitedMs: roundedToNanoseconds(s.waitedNs / 1e6),
                                        longestHoldMs: roundedToNanoseconds(s.longestNs / 1e6), events: t.events)
            }
        }
        return TraceAnalysis(
            findings: findings, threads: threads, sites: context.siteStatistics(), events: counts,
            processes: ordered.map {
                ProcessSummary(pid: $0.pid, ppid: $0.ppid, command: $0.command, threads: $0.threads.count,
                               forked: $0.forked ? true : nil, end: $0.end)
            },
            timeline: Timeline(durationMs: max(0, end - origin) / 1e6, longHoldMs: options.longHoldMs, lanes: lanes),
            watchdogFired: ordered.contains { $0.events.contains { $0.record.recordKind == .hang } },
            sampleRate: context.sampleRate,
            warnings: warnings + (logs.contains { $0.header.timelineOff }
                ? ["GIL acquisitions were not recorded (--no-timeline): no hold or wait statistics, no timeline, no gil-long-hold"]
                : []))
    }

    static func order(_ a: TraceFinding, _ b: TraceFinding) -> Bool {
        let ra = TraceRule.allCases.firstIndex { $0.rawValue == a.ruleId } ?? 99
        let rb = TraceRule.allCases.firstIndex { $0.rawValue == b.ruleId } ?? 99
        let la = a.location?.location() ?? "", lb = b.location?.location() ?? ""
        func rank(_ s: Severity) -> Int { Severity.allCases.firstIndex(of: s) ?? 0 }
        return (rank(b.severity), ra, a.pid, la, a.thread.tid, a.message) < (rank(a.severity), rb, b.pid, lb, b.thread.tid, b.message)
    }

    // MARK: - Symbols and names

    /// Every address a report may show, symbolized in one batch per module.
    private func prefetch(_ processes: [TracedProcess]) {
        var items: [(UInt32, UInt64, Bool)] = []
        var seen = Set<ThreadKeyAddress>()
        func add(_ pid: UInt32, _ address: UInt64, _ isReturn: Bool = true) {
            guard address != 0, seen.insert(ThreadKeyAddress(pid: pid, address: address, isReturn: isReturn)).inserted else { return }
            items.append((pid, address, isReturn))
        }
        for p in processes {
            for e in p.events {
                let r = e.record
                switch r.recordKind {
                case .threadStart: add(p.pid, r.pc); add(p.pid, r.b, false)
                case .gilAcquire: add(p.pid, r.pc)
                case .gilRelease: add(p.pid, r.b); add(p.pid, r.pc)
                case .finding, .lockEdge, .threadStack:
                    add(p.pid, r.pc)
                    if r.recordKind == .finding, r.detail != RuntimeFindingCode.apiWithoutGIL.rawValue { add(p.pid, r.a) }
                    for w in r.payload where w != 0 { add(p.pid, w) }
                default: break
                }
            }
        }
        resolver.prefetch(items)
    }

    private func nameThreads(_ p: TracedProcess) {
        let others = p.threads.values.filter { !$0.isMain }
            .sorted { ($0.start?.time ?? $0.first, $0.tid) < ($1.start?.time ?? $1.first, $1.tid) }
        for (i, t) in others.enumerated() { t.ordinal = i + 1 }
        let base = options.baseDirectory
        for t in p.threads.values {
            var details = ["tid \(t.tid)"]
            if let start = t.start?.record {
                if start.b != 0, let routine = resolver.functionName(pid: p.pid, address: start.b) { details.append(routine) }
                let creator = p.threads[UInt32(truncatingIfNeeded: start.a)]?.shortName ?? "thread tid \(start.a)"
                details.append("started by \(creator)" + (start.pc != 0 ? " at \(resolver.describe(pid: p.pid, address: start.pc, base: base))" : ""))
            }
            t.ref = ThreadRef(tid: t.tid, name: "\(t.shortName) (\(details.joined(separator: ", ")))")
        }
    }

    // MARK: - Findings recorded by the library

    private func runtimeFindings(_ p: TracedProcess, _ c: inout Context) {
        struct Key: Hashable { var detail: UInt32; var pc: UInt64; var a: UInt64 }
        var index: [Key: Int] = [:]
        let base = options.baseDirectory
        for e in p.events where e.record.recordKind == .finding {
            let r = e.record
            guard let code = RuntimeFindingCode(rawValue: r.detail) else { continue }
            let key = Key(detail: r.detail, pc: r.pc, a: code == .apiWithoutGIL ? r.a : 0)
            let thread = p.thread(r.tid)
            if let i = index[key] {
                c.findings[i].count += code == .apiWithoutGIL ? max(1, Int(r.b)) : 1
                let name = thread.shortName
                if c.findings[i].thread.tid != r.tid, !c.findings[i].notes.contains(where: { $0.hasPrefix("also in") && $0.contains(name) }) {
                    c.findings[i].notes.append("also in \(thread.ref.name)")
                }
                continue
            }
            let api = TracedAPI(rawValue: UInt32(r.flags)) ?? .none
            let nativeStack = resolver.stack(pid: p.pid, addresses: r.payload.isEmpty ? [r.pc] : r.payload)
            var finding: TraceFinding
            switch code {
            case .releaseWithoutEnsure:
                let message: String
                switch api {
                case .restoreThread, .acquireThread, .acquireLock:
                    message = "\(api.functionName)() with no thread state saved by PyEval_SaveThread() on this thread"
                case .saveThread, .releaseThread, .releaseLock:
                    message = "\(api.functionName)() called by a thread that does not hold the GIL"
                default:
                    message = "\(api == .none ? "PyGILState_Release" : api.functionName)() with no live PyGILState_Ensure() state on this thread"
                }
                var notes = [r.a == 1 ? "the thread held the GIL at the call, taken by a call that does not pair with this release"
                                      : "the thread did not hold the GIL at the call"]
                notes.append("CPython ends the process with a fatal error or corrupts its thread state after this call")
                finding = TraceFinding(ruleId: TraceRule.releaseWithoutEnsure.rawValue, severity: .error, message: message,
                                       pid: p.pid, thread: thread.ref, stack: nativeStack, notes: notes)
            case .apiWithoutGIL:
                let name = p.apiNames[r.a] ?? "a Python C API function (stub \(r.a))"
                finding = TraceFinding(ruleId: TraceRule.apiWithoutGIL.rawValue, severity: .error,
                                       message: "\(name)() called without holding the GIL", pid: p.pid, thread: thread.ref,
                                       stack: nativeStack,
                                       notes: ["without the GIL this call races with the thread that holds it; the damage (refcounts, object state) shows later, elsewhere"],
                                       count: max(1, Int(r.b)))
            case .threadExitHoldingGIL, .ensureLeakAtExit:
                let acquisition = r.a != 0 ? resolver.frames(pid: p.pid, address: r.a) : []
                let whereText = r.a != 0 ? resolver.describe(pid: p.pid, address: r.a, base: base) : nil
                let message: String
                var notes: [String] = []
                if code == .threadExitHoldingGIL {
                    message = "thread ended while holding the GIL" + (whereText.map { ", acquired at \($0) and never released" } ?? "")
                    notes.append("every other thread that needs the GIL now waits forever")
                } else {
                    let n = max(1, Int(r.flags))
                    let states = n == 1 ? "1 PyGILState_Ensure() state" : "\(n) PyGILState_Ensure() states"
                    message = (r.b == 1 ? "process exited with \(states) never released" : "thread ended with \(states) never released")
                        + (whereText.map { "; the innermost was taken at \($0)" } ?? "")
                    notes.append(r.b == 1 ? "a PyGILState_Release() was skipped on some path before exit"
                                          : "the GIL stays locked by a thread that no longer exists: the next thread that needs it hangs")
                }
                // The library puts the acquisition site alone in the payload; a longer payload is the exit stack.
                let exitStack = r.payload == [r.a] ? [] : resolver.stack(pid: p.pid, addresses: r.payload)
                let related = acquisition.isEmpty || exitStack.isEmpty ? []
                    : [RelatedStack(message: code == .threadExitHoldingGIL ? "the thread ended here" : "the thread ended here with the state still live",
                                    thread: thread.ref, stack: exitStack)]
                finding = TraceFinding(ruleId: (code == .threadExitHoldingGIL ? TraceRule.threadExitHoldingGIL : .ensureLeakAtExit).rawValue,
                                       severity: .error, message: message, pid: p.pid, thread: thread.ref,
                                       stack: acquisition.isEmpty ? exitStack : acquisition, notes: notes, related: related)
            }
            finding.timeMs = c.ms(e.time)
            index[key] = c.findings.count
            c.findings.append(finding)
        }
    }

    // MARK: - Lock order

    private func lockOrder(_ p: TracedProcess, _ c: inout Context) {
        struct Edge: Hashable { var from: UInt64; var to: UInt64 }
        var edges: [Edge: Event] = [:]
        var next: [UInt64: Set<UInt64>] = [:]
        var pythonStacks: [Edge: String] = [:]
        for e in p.events where e.record.recordKind == .lockEdge || e.record.recordKind == .pythonStack {
            let edge = Edge(from: e.record.a, to: e.record.b)
            if e.record.recordKind == .pythonStack {
                // "f (file:line)" per frame, innermost first, as the library read it while holding the GIL.
                let frames = e.record.payloadString.split(separator: "\n").map(String.init)
                if !frames.isEmpty, pythonStacks[edge] == nil { pythonStacks[edge] = frames.joined(separator: " <- ") }
                continue
            }
            guard edge.from != edge.to, edges[edge] == nil else { continue }
            edges[edge] = e
            next[edge.from, default: []].insert(edge.to)
        }
        guard !edges.isEmpty else { return }
        // Each elementary cycle once: start at its smallest lock, only visit larger ones.
        var cycles: [[UInt64]] = []
        let nodes = Set(next.keys).union(next.values.flatMap { $0 }).sorted()
        for start in nodes {
            var path = [start]
            func dfs(_ node: UInt64) {
                guard cycles.count < 64, path.count <= 8 else { return }
                for n in (next[node] ?? []).sorted() {
                    if n == start { cycles.append(path) } else if n > start, !path.contains(n) {
                        path.append(n)
                        dfs(n)
                        path.removeLast()
                    }
                }
            }
            dfs(start)
        }
        let base = options.baseDirectory
        for cycle in cycles {
            let cycleEdges = cycle.indices.map { i -> (Edge, Event) in
                let edge = Edge(from: cycle[i], to: cycle[(i + 1) % cycle.count])
                return (edge, edges[edge]!)
            }
            func name(_ lock: UInt64) -> String { resolver.lockName(pid: p.pid, lock: lock) }
            func describe(_ edge: Edge, _ e: Event) -> String {
                let t = p.thread(e.record.tid)
                let heldAt = e.record.payload.first.map { $0 != 0 ? " (taken at \(resolver.describe(pid: p.pid, address: $0, base: base)))" : "" } ?? ""
                return "\(t.shortName) took \(name(edge.to))" + (e.record.pc != 0 ? " at \(resolver.describe(pid: p.pid, address: e.record.pc, base: base))" : "")
                    + " while holding \(name(edge.from))" + heldAt
                    + (pythonStacks[edge].map { "; Python stack: " + $0 } ?? "")
            }
            let message: String
            if cycle.count == 2 {
                let (e0, ev0) = cycleEdges[0], (_, ev1) = cycleEdges[1]
                let t0 = p.thread(ev0.record.tid).shortName, t1 = p.thread(ev1.record.tid).shortName
                message = "lock-order inversion: \(t0) took \(name(e0.to)) while holding \(name(e0.from)), "
                    + "\(t1 == t0 ? "and later" : "and \(t1)") took \(name(e0.from)) while holding \(name(e0.to)); "
                    + "run at the same time they deadlock"
            } else {
                message = "lock-order cycle of \(cycle.count) locks: " + (cycle + [cycle[0]]).map(name).joined(separator: " → ")
                    + "; threads taking them in these orders at the same time deadlock"
            }
            func stack(_ e: Event) -> [StackFrame] {
                let frames = Array(e.record.payload.dropFirst())
                return resolver.stack(pid: p.pid, addresses: frames.isEmpty ? [e.record.pc] : frames)
            }
            let first = cycleEdges[0].1
            let related = cycleEdges.dropFirst().map { edge, e in
                RelatedStack(message: describe(edge, e), thread: p.thread(e.record.tid).ref, stack: stack(e))
            }
            c.findings.append(TraceFinding(
                ruleId: TraceRule.lockOrderInversion.rawValue, severity: .error, message: message, pid: p.pid,
                thread: p.thread(first.record.tid).ref, stack: stack(first),
                notes: [describe(cycleEdges[0].0, first)], related: related,
                timeMs: c.ms(cycleEdges.map(\.1.time).max() ?? first.time)))
        }
    }

    // MARK: - Hangs

    private func hangs(_ p: TracedProcess, _ c: inout Context) {
        let hangEvents = p.events.filter { $0.record.recordKind == .hang }
        guard !hangEvents.isEmpty else { return }
        let stackEvents = p.events.filter { $0.record.recordKind == .threadStack }
        for (i, h) in hangEvents.enumerated() {
            // The thread stacks written after this hang record (and before the next one).
            let until = i + 1 < hangEvents.count ? hangEvents[i + 1].time : Double.infinity
            var states: [UInt32: (stack: [UInt64], held: [UInt64], waits: UInt64, readable: Bool)] = [:]
            for s in stackEvents where s.time >= h.time - 1 && s.time < until || hangEvents.count == 1 {
                let words = s.record.payload
                let split = words.firstIndex(of: 0) ?? words.count
                var held = Array(words[min(split + 1, words.count)...]).filter { $0 != 0 }
                if s.record.b == TraceFormat.gilLock, !held.contains(TraceFormat.gilLock) { held.insert(TraceFormat.gilLock, at: 0) }
                states[s.record.tid] = (Array(words[..<split]), held, s.record.a, s.record.flags & 1 == 1)
            }
            var holder: [UInt64: UInt32] = [:]
            for (tid, s) in states.sorted(by: { $0.key < $1.key }) { for lock in s.held where holder[lock] == nil { holder[lock] = tid } }
            func name(_ lock: UInt64) -> String { resolver.lockName(pid: p.pid, lock: lock) }
            func short(_ tid: UInt32) -> String { p.thread(tid).shortName }

            let waiter = h.record.tid
            let seconds = Double(h.record.b) / 1e9
            var chain = "\(short(waiter)) waits for \(name(h.record.a))"
            var verdict = ""
            var visited = [waiter]
            var lock = h.record.a
            while true {
                guard let owner = holder[lock] else {
                    if lock == TraceFormat.gilLock {
                        let dead = p.threads.values.filter { t in
                            guard let x = t.exit?.record else { return false }
                            return x.a == 1 || x.b > 0
                        }.sorted { $0.tid < $1.tid }
                        if let d = dead.first {
                            verdict = "no live thread holds the GIL: \(d.shortName) ended while still holding it"
                            if let x = d.exit?.record, x.b > 0 { verdict += " (\(x.b) PyGILState_Ensure() state\(x.b == 1 ? "" : "s") never released)" }
                        } else {
                            verdict = "no traced thread holds the GIL (it may have ended holding it, or untraced code holds it)"
                        }
                    } else {
                        verdict = "no traced thread holds \(name(lock)) (a thread that ended, or untraced code, may hold it)"
                    }
                    break
                }
                chain += ", held by \(short(owner))"
                if visited.contains(owner) {
                    verdict = owner == waiter && visited.count == 1 ? "the thread waits for a lock it holds itself"
                                                                    : "deadlock: the waits form a cycle"
                    break
                }
                visited.append(owner)
                guard let wanted = states[owner]?.waits, wanted != 0 else {
                    verdict = "\(short(owner)) is not waiting for a lock: it is running or blocked elsewhere (see its stack)"
                    break
                }
                chain += ", which waits for \(name(wanted))"
                lock = wanted
            }
            let message = "hang: \(short(waiter)) waited \(formatSeconds(seconds)) for \(name(h.record.a)); \(verdict)"
            var notes = ["wait-for: " + chain]
            if let gilOwner = holder[TraceFormat.gilLock] { notes.append("the GIL is held by \(p.thread(gilOwner).ref.name)") }
            notes.append("the watchdog ended the process after --hang-timeout")
            var related: [RelatedStack] = []
            for (tid, s) in states.sorted(by: { $0.key < $1.key }) where tid != waiter {
                var what: [String] = []
                if !s.held.isEmpty { what.append("holds " + s.held.map(name).joined(separator: ", ")) }
                what.append(s.waits != 0 ? "waits for \(name(s.waits))" : "not waiting for a lock")
                if !s.readable { what.append("stack could not be read") }
                related.append(RelatedStack(message: "\(p.thread(tid).ref.name): " + what.joined(separator: "; "),
                                            thread: p.thread(tid).ref, stack: resolver.stack(pid: p.pid, addresses: s.stack)))
            }
            c.findings.append(TraceFinding(
                ruleId: TraceRule.hang.rawValue, severity: .error, message: message, pid: p.pid, thread: p.thread(waiter).ref,
                stack: resolver.stack(pid: p.pid, addresses: states[waiter]?.stack ?? []), notes: notes, related: related,
                timeMs: c.ms(h.time)))
        }
    }

    // MARK: - Holds, waits, statistics, timeline

    private func holds(_ p: TracedProcess, _ c: inout Context) {
        struct Open { var start: Double; var site: UInt64; var api: UInt32 }
        var open: [UInt32: Open] = [:]
        var depth: [UInt32: Int] = [:]
        let longNs = options.longHoldMs * 1e6
        for e in p.events {
            let r = e.record
            let key = ThreadKey(pid: p.pid, tid: r.tid)
            // With a sampled timeline a recorded hold stands for itself when it waited long or held long (all of
            // those are recorded), else for `sampleRate` holds of which it was a random pick.
            let flags = HoldFlags(rawValue: r.flags)
            let rate = e.header.timelineSampled ? Double(max(1, e.header.sampleRate)) : 1
            switch r.recordKind {
            case .acquisitionCount:
                c.exactAcquisitions[key, default: 0] += Int(r.a)
            case .gilAcquire:
                let site = c.siteKey(pid: p.pid, address: r.pc)
                if r.b == 1 {
                    depth[r.tid, default: 0] += 1
                    c.threadStats[key, default: ThreadCounters()].nested += 1
                    continue
                }
                // Waits: every long one is recorded; the countdown samples the rest. A hold recorded only because it
                // was long is not part of that sample (its wait is not known either).
                let weight = flags.contains(.waited) ? 1 : flags.contains(.sampled) ? rate : flags.isEmpty ? 1 : 0
                let waited = e.ns(ticks: r.a)
                c.threadStats[key, default: ThreadCounters()].acquisitions += weight
                c.threadStats[key, default: ThreadCounters()].waitedNs += waited * weight
                c.updateSite(site, pid: p.pid, address: r.pc, api: r.detail) {
                    $0.acquisitions += weight
                    if weight > 0 { $0.waits.append(Weighted(value: waited, weight: weight)) }
                }
                if r.a > 0 {
                    c.spans[key, default: []].append(TimelineSpan(kind: .wait, startMs: c.ms(e.time - waited), endMs: c.ms(e.time),
                                                                  long: false, open: false, label: "waiting for the GIL"))
                }
                open[r.tid] = Open(start: e.time, site: r.pc, api: r.detail)
            case .gilRelease:
                var held = e.ns(ticks: r.a)
                var acquiredAt = r.b
                if r.a == 0 {
                    if let d = depth[r.tid], d > 0 { depth[r.tid] = d - 1; continue }
                    guard let o = open[r.tid] else { continue }
                    held = e.time - o.start
                    if acquiredAt == 0 { acquiredAt = o.site }
                }
                let weight = flags.contains(.waited) || flags.contains(.long) ? 1 : flags.contains(.sampled) ? rate : 1
                let api = open[r.tid].map(\.api) ?? 0
                open[r.tid] = nil
                depth[r.tid] = 0
                let site = c.siteKey(pid: p.pid, address: acquiredAt)
                c.updateSite(site, pid: p.pid, address: acquiredAt, api: api) { $0.holds.append(Weighted(value: held, weight: weight)) }
                c.threadStats[key, default: ThreadCounters()].heldNs += held * weight
                c.threadStats[key, default: ThreadCounters()].longestNs = max(c.threadStats[key]!.longestNs, held)
                // Holds that start at Py_Initialize or end at Py_Finalize belong to the interpreter's start-up and
                // shutdown, when no other thread can run Python anyway: not the interactive holds the rule is about.
                let lifecycle = api == 10 || r.detail == 11
                let long = held > longNs && !lifecycle
                if long {
                    // Recorded only because the coarse clock showed it long: `held` is a lower bound.
                    c.longHolds[site, default: []].append(LongHold(pid: p.pid, tid: r.tid, acquiredAt: acquiredAt,
                                                                   releasedAt: r.pc, heldNs: held, time: e.time,
                                                                   atLeast: e.header.timelineSampled && flags == .long))
                }
                c.spans[key, default: []].append(TimelineSpan(
                    kind: .held, startMs: c.ms(e.time - held), endMs: c.ms(e.time), long: long, open: false,
                    label: "GIL held \(formatDuration(held / 1e6)) from \(c.siteNames[site] ?? "?")"))
            case .mutexWait:
                let waited = e.ns(ticks: r.b)
                c.spans[key, default: []].append(TimelineSpan(kind: .mutexWait, startMs: c.ms(e.time - waited), endMs: c.ms(e.time),
                                                              long: false, open: false,
                                                              label: "waiting \(formatDuration(waited / 1e6)) for \(resolver.lockName(pid: p.pid, lock: r.a))"))
            default: break
            }
        }
        // Holds never released: the thread ended, crashed or hung holding the GIL.
        let end = p.lastTime
        for (tid, o) in open {
            let key = ThreadKey(pid: p.pid, tid: tid)
            let held = max(0, end - o.start)
            let site = c.siteKey(pid: p.pid, address: o.site)
            c.threadStats[key, default: ThreadCounters()].heldNs += held
            c.threadStats[key, default: ThreadCounters()].longestNs = max(c.threadStats[key]!.longestNs, held)
            c.spans[key, default: []].append(TimelineSpan(
                kind: .held, startMs: c.ms(o.start), endMs: c.ms(end), long: held > longNs, open: true,
                label: "GIL taken at \(c.siteNames[site] ?? "?") and still held at the end of the trace"))
        }
    }
}

struct ThreadKey: Hashable { var pid: UInt32; var tid: UInt32 }
struct ThreadKeyAddress: Hashable { var pid: UInt32; var address: UInt64; var isReturn: Bool }

struct ThreadCounters {
    /// Estimated from the recorded holds (weighted) when the timeline is sampled.
    var acquisitions = 0.0
    var nested = 0
    var heldNs = 0.0
    var waitedNs = 0.0
    var longestNs = 0.0
}

struct SiteCounters {
    var frame: StackFrame
    var location: String
    var api: UInt32
    /// Estimated (weighted) when the timeline is sampled.
    var acquisitions = 0.0
    var holds: [Weighted] = []
    var waits: [Weighted] = []
}

struct LongHold {
    var pid: UInt32
    var tid: UInt32
    var acquiredAt: UInt64
    var releasedAt: UInt64
    var heldNs: Double
    var time: Double
    var atLeast = false
}

/// Mutable state of one analysis.
struct Context {
    var origin: Double
    var options: TraceAnalysisOptions
    var resolver: AddressResolver
    var findings: [TraceFinding] = []
    var spans: [ThreadKey: [TimelineSpan]] = [:]
    var threadStats: [ThreadKey: ThreadCounters] = [:]
    var sites: [String: SiteCounters] = [:]
    var siteNames: [String: String] = [:]
    var longHolds: [String: [LongHold]] = [:]
    /// Outermost acquisitions per thread as counted by the library (exact even with a sampled timeline).
    var exactAcquisitions: [ThreadKey: Int] = [:]
    /// The largest sampling rate of the run's logs (nil: every hold was recorded).
    var sampleRate: Int?

    init(origin: Double, options: TraceAnalysisOptions, resolver: AddressResolver) {
        self.origin = origin
        self.options = options
        self.resolver = resolver
    }

    func ms(_ unixNs: Double) -> Double { roundedToNanoseconds((unixNs - origin) / 1e6) }

    /// Sites are keyed by module and offset, so that the same code in several processes is one site.
    mutating func siteKey(pid: UInt32, address: UInt64) -> String {
        let key: String
        if let m = resolver.module(pid: pid, address: address) { key = m.path + "+" + hex(address - m.base) } else { key = "\(pid):\(hex(address))" }
        if siteNames[key] == nil {
            siteNames[key] = address == 0 ? "an unknown site" : resolver.describe(pid: pid, address: address, base: options.baseDirectory)
        }
        return key
    }

    mutating func updateSite(_ key: String, pid: UInt32, address: UInt64, api: UInt32, _ body: (inout SiteCounters) -> Void) {
        var s: SiteCounters
        if let existing = sites[key] {
            s = existing
        } else {
            let frames = address == 0 ? [StackFrame(pc: "0x0")] : resolver.frames(pid: pid, address: address)
            let frame = frames.first { $0.hasSourceLocation } ?? frames[0]
            s = SiteCounters(frame: frame, location: siteNames[key] ?? frame.location(relativeTo: options.baseDirectory), api: api)
        }
        if s.api == 0 { s.api = api }
        body(&s)
        sites[key] = s
    }

    func siteStatistics() -> [SiteStatistics] {
        sites.values.map { s in
            SiteStatistics(site: s.location, function: s.frame.function,
                           api: (TracedAPI(rawValue: s.api) ?? .none).functionName, acquisitions: Int(s.acquisitions.rounded()),
                           hold: DurationSummary(weighted: s.holds.map { Weighted(value: $0.value / 1e6, weight: $0.weight) }),
                           wait: DurationSummary(weighted: s.waits.map { Weighted(value: $0.value / 1e6, weight: $0.weight) }))
        }
        .sorted { ($0.hold.total, $0.site) > ($1.hold.total, $1.site) }
    }

    mutating func longHoldFindings(_ processes: [UInt32: TracedProcess]) {
        for (key, list) in longHolds.sorted(by: { $0.key < $1.key }) {
            guard let worst = list.max(by: { $0.heldNs < $1.heldNs }), let p = processes[worst.pid] else { continue }
            let s = sites[key]
            let api = (TracedAPI(rawValue: s?.api ?? 0) ?? .none)
            let total = max(list.count, Int((s?.holds.reduce(0) { $0 + $1.weight } ?? 0).rounded()))
            let longest = formatDuration(worst.heldNs / 1e6)
            let message = "the GIL was held for \(worst.atLeast ? "at least " : "")\(longest) after \(api == .none ? "an acquisition" : api.functionName + "()") here"
                + " (\(list.count) of \(sampleRate == nil ? "" : "about ")\(total) hold\(total == 1 ? "" : "s") longer than \(formatDuration(options.longHoldMs)))"
            var related: [RelatedStack] = []
            if worst.releasedAt != 0 {
                related.append(RelatedStack(message: "the longest hold ended here", thread: p.thread(worst.tid).ref,
                                            stack: resolver.frames(pid: worst.pid, address: worst.releasedAt)))
            }
            findings.append(TraceFinding(
                ruleId: TraceRule.gilLongHold.rawValue, severity: .warning, message: message, pid: worst.pid,
                thread: p.thread(worst.tid).ref,
                stack: worst.acquiredAt == 0 ? [] : resolver.frames(pid: worst.pid, address: worst.acquiredAt),
                notes: ["no other thread can run Python while one holds the GIL; release it around long C work (Py_BEGIN_ALLOW_THREADS)"],
                related: related, count: list.count, timeMs: ms(worst.time)))
        }
    }
}

/// "48.2 ms", "1.20 s", "350 µs".
public func formatDuration(_ ms: Double) -> String {
    if ms >= 1000 { return String(format: "%.2f s", ms / 1000) }
    if ms >= 10 { return String(format: "%.1f ms", ms) }
    if ms >= 1 { return String(format: "%.2f ms", ms) }
    if ms >= 0.001 { return String(format: "%.0f µs", ms * 1000) }
    return ms == 0 ? "0" : String(format: "%.0f ns", ms * 1e6)
}

func formatSeconds(_ s: Double) -> String { formatDuration(s * 1000) }
