import APIModel
import Diagnostics
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GILTraceFormat
import Testing
@testable import TraceReport

// MARK: - Synthetic logs in the library's exact layout

/// Writes a log file byte by byte as the C library does (the layout of gilcheck_trace_format.h).
struct TestLogWriter {
    private(set) var data = Data()

    init(pid: UInt32, tid: UInt32, ppid: UInt32 = 1, options: UInt32 = 0, sampleRate: UInt32 = 1) {
        data.append(contentsOf: Array("GILTRC01".utf8))
        put32(1); put32(pid); put32(tid); put32(ppid)
        put64(TestClock.ticksPerSecond); put64(TestClock.startTicks); put64(TestClock.startUnixNs)
        put32(options); put32(sampleRate)
        data.append(contentsOf: [UInt8](repeating: 0, count: 8))
    }

    mutating func record(_ kind: RecordKind, tid: UInt32, time: UInt64, flags: UInt16 = 0, detail: UInt32 = 0,
                         a: UInt64 = 0, b: UInt64 = 0, pc: UInt64 = 0, payload: [UInt64] = []) {
        put16(0x4754); put16(kind.rawValue); put16(UInt16(payload.count)); put16(flags)
        put32(tid); put32(detail)
        put64(TestClock.startTicks + time); put64(a); put64(b); put64(pc)
        for w in payload { put64(w) }
    }

    /// The zero tail of the shared mapping.
    mutating func zeroTail(_ bytes: Int) { data.append(contentsOf: [UInt8](repeating: 0, count: bytes)) }

    /// A NUL-terminated string padded to whole 64-bit words.
    static func words(_ strings: [String]) -> [UInt64] {
        var bytes = Array(strings.joined(separator: "\0").utf8) + [0]
        while bytes.count % 8 != 0 { bytes.append(0) }
        return stride(from: 0, to: bytes.count, by: 8).map { i in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[i + $1]) << (8 * UInt64($1)) }
        }
    }

    func log() throws -> TraceLog { try EventLogReader.parse(data) }

    private mutating func put16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    private mutating func put32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    private mutating func put64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
}

/// Ticks are nanoseconds in these tests.
enum TestClock {
    static let ticksPerSecond: UInt64 = 1_000_000_000
    static let startTicks: UInt64 = 5_000
    static let startUnixNs: UInt64 = 1_700_000_000_000_000_000
    static func ms(_ v: Double) -> UInt64 { UInt64(v * 1_000_000) }
}

/// A program at 0x5555_5555_0000 with a few known return addresses, libpython, libc and the tracer.
enum FakeProgram {
    static let pid: UInt32 = 4242
    static let userBase: UInt64 = 0x5555_5555_0000
    static let tracerBase: UInt64 = 0x7f00_0000_0000
    static let libcBase: UInt64 = 0x7f10_0000_0000
    static let mutex: UInt64 = userBase + 0x4040
    static let mutex2: UInt64 = userBase + 0x4080
    static let mutex3: UInt64 = userBase + 0x40c0

    /// Return addresses in the user program and what they symbolize to (file, line, function).
    static let sites: [UInt64: (String, Int, String)] = [
        0x1101: ("worker.c", 42, "release_twice"),
        0x1201: ("worker.c", 60, "worker_main"),
        0x1301: ("worker.c", 30, "render_node"),
        0x1401: ("worker.c", 35, "render_node"),
        0x1501: ("host.c", 88, "main"),
        0x1601: ("worker.c", 70, "lock_then_python"),
        0x1701: ("worker.c", 80, "python_then_lock"),
        0x1801: ("worker.c", 50, "call_without_gil"),
    ]
    static func pc(_ offset: UInt64) -> UInt64 { userBase + offset }

    static func startLog(tid: UInt32 = pid, options: UInt32 = 0, sampleRate: UInt32 = 1) -> TestLogWriter {
        var w = TestLogWriter(pid: pid, tid: tid, options: options, sampleRate: sampleRate)
        if tid == pid {
            w.record(.processStart, tid: pid, time: 0, a: UInt64(pid), b: 1, payload: TestLogWriter.words(["./worker", "--threads", "2"]))
            w.record(.module, tid: pid, time: 0, flags: ModuleFlags.user.rawValue, a: userBase, b: userBase + 0x10000,
                     payload: TestLogWriter.words(["/src/app/worker"]))
            w.record(.module, tid: pid, time: 0, flags: ModuleFlags.tracer.rawValue, a: tracerBase, b: tracerBase + 0x8000,
                     payload: TestLogWriter.words(["/opt/gilcheck/libgilcheck-trace.so"]))
            w.record(.module, tid: pid, time: 0, flags: ModuleFlags.system.rawValue, a: libcBase, b: libcBase + 0x200000,
                     payload: TestLogWriter.words(["/lib/x86_64-linux-gnu/libc.so.6"]))
        }
        return w
    }
}

struct FakeSymbolizer: Symbolizer {
    func symbolize(modulePath: String, offsets: [UInt64]) -> [UInt64: [SourceFrame]] {
        guard modulePath == "/src/app/worker" else { return [:] }
        var out: [UInt64: [SourceFrame]] = [:]
        for o in offsets {
            // Return addresses are looked up one byte back; function addresses as they are.
            if let s = FakeProgram.sites[o + 1] ?? FakeProgram.sites[o] {
                out[o] = [SourceFrame(function: s.2, file: "/src/app/" + s.0, line: s.1)]
            }
        }
        return out
    }

    func dataSymbol(modulePath: String, offset: UInt64) -> String? {
        switch offset {
        case 0x4040: return "scene_lock"
        case 0x4080: return "log_lock"
        case 0x40c0: return "cache_lock"
        default: return nil
        }
    }
}

func analyze(_ writers: [TestLogWriter], longHoldMs: Double = 16) throws -> TraceAnalysis {
    let analyzer = TraceAnalyzer(options: TraceAnalysisOptions(longHoldMs: longHoldMs, baseDirectory: "/src/app"),
                                 symbolizer: FakeSymbolizer())
    return analyzer.analyze(logs: try writers.map { try $0.log() })
}

// MARK: - Tests

@Suite("TraceReport")
struct TraceReportTests {
    typealias P = FakeProgram

    @Test("the Swift description of the format matches the C header")
    func layoutMatchesHeader() {
        #expect(MemoryLayout<gilt_file_header>.size == TraceFormat.fileHeaderSize)
        #expect(MemoryLayout<gilt_record>.size == TraceFormat.recordHeadSize)
        #expect(MemoryLayout<gilt_record>.offset(of: \gilt_record.time) == 16)
        #expect(MemoryLayout<gilt_record>.offset(of: \gilt_record.pc) == 40)
        #expect(MemoryLayout<gilt_file_header>.offset(of: \gilt_file_header.ticks_per_second) == 24)
        #expect(MemoryLayout<gilt_file_header>.offset(of: \gilt_file_header.start_unix_ns) == 40)
        #expect(MemoryLayout<gilt_file_header>.offset(of: \gilt_file_header.options) == 48)
        #expect(MemoryLayout<gilt_file_header>.offset(of: \gilt_file_header.sample_rate) == 52)
        #expect(GILT_OPTION_SAMPLED == 2 && GILT_OPTION_NO_TIMELINE == 1)
        #expect(HoldFlags.sampled.rawValue == UInt16(GILT_HOLD_SAMPLED.rawValue))
        #expect(HoldFlags.waited.rawValue == UInt16(GILT_HOLD_WAITED.rawValue))
        #expect(HoldFlags.long.rawValue == UInt16(GILT_HOLD_LONG.rawValue))
        #expect(TraceFormat.longWaitNs == Double(GILT_LONG_WAIT_NS))
        #expect(UInt16(GILT_RECORD_MAGIC) == TraceFormat.recordMagic)
        #expect(UInt32(GILT_VERSION) == TraceFormat.version)
        #expect(UInt64(GILT_LOCK_GIL) == TraceFormat.gilLock)
        let kinds: [(RecordKind, gilt_kind)] = [
            (.processStart, GILT_PROCESS_START), (.module, GILT_MODULE), (.threadStart, GILT_THREAD_START),
            (.threadExit, GILT_THREAD_EXIT), (.gilAcquire, GILT_GIL_ACQUIRE), (.gilRelease, GILT_GIL_RELEASE),
            (.finding, GILT_FINDING), (.lockEdge, GILT_LOCK_EDGE), (.hang, GILT_HANG), (.threadStack, GILT_THREAD_STACK),
            (.apiName, GILT_API_NAME), (.dropped, GILT_DROPPED), (.mutexWait, GILT_MUTEX_WAIT), (.pythonStack, GILT_PYTHON_STACK),
            (.acquisitionCount, GILT_ACQUISITION_COUNT), (.processEnd, GILT_PROCESS_END), (.childEnd, GILT_CHILD_END),
        ]
        #expect(kinds.count == RecordKind.allCases.count)
        for (swift, c) in kinds { #expect(UInt32(swift.rawValue) == c.rawValue) }
        let findings: [(RuntimeFindingCode, gilt_finding)] = [
            (.releaseWithoutEnsure, GILT_F_RELEASE_WITHOUT_ENSURE), (.apiWithoutGIL, GILT_F_API_WITHOUT_GIL),
            (.threadExitHoldingGIL, GILT_F_THREAD_EXIT_HOLDING_GIL), (.ensureLeakAtExit, GILT_F_ENSURE_LEAK_AT_EXIT),
        ]
        for (swift, c) in findings { #expect(swift.rawValue == c.rawValue) }
        let ends: [(ProcessEndCode, gilt_process_end)] = [
            (.exit, GILT_END_EXIT), (.signal, GILT_END_SIGNAL), (.exitUnknown, GILT_END_EXIT_UNKNOWN),
        ]
        #expect(ends.count == ProcessEndCode.allCases.count)
        for (swift, c) in ends { #expect(swift.rawValue == c.rawValue) }
        #expect(UInt32(TraceFormat.processForked) == GILT_PROCESS_FORKED)
        #expect(TracedAPI.gilStateCheck.rawValue == GILT_API_GILSTATE_CHECK.rawValue)
        #expect(TracedAPI.restoreThread.rawValue == GILT_API_RESTORE_THREAD.rawValue)
        #expect(ModuleFlags.system.rawValue == UInt16(GILT_MODULE_SYSTEM.rawValue))
    }

    @Test("records are read up to the zero tail; a torn last record is ignored")
    func tornRecord() throws {
        var w = P.startLog()
        w.record(.gilAcquire, tid: P.pid, time: 10, detail: 1, pc: P.pc(0x1301))
        w.zeroTail(4096)
        let clean = try w.log()
        #expect(clean.records.count == 5)
        #expect(!clean.tornRecord)
        #expect(clean.records[0].payloadStrings == ["./worker", "--threads", "2"])
        #expect(clean.header.pid == P.pid)

        var torn = P.startLog()
        torn.record(.gilAcquire, tid: P.pid, time: 10, detail: 1, pc: P.pc(0x1301))
        var partial = TestLogWriter(pid: 1, tid: 1)
        partial.record(.finding, tid: P.pid, time: 20, detail: 1, payload: [P.pc(0x1101), P.pc(0x1201)])
        // The head of a finding and half of its stack: the process died while writing it.
        let cut = partial.data.dropFirst(TraceFormat.fileHeaderSize).prefix(TraceFormat.recordHeadSize + 8)
        let log = try EventLogReader.parse(torn.data + cut)
        #expect(log.records.count == 5)
        #expect(log.tornRecord)
        let headOnly = try EventLogReader.parse(torn.data + cut.prefix(20))
        #expect(headOnly.records.count == 5 && headOnly.tornRecord)
        #expect(throws: TraceLogError.self) { try EventLogReader.parse(Data(count: 10)) }

        let analysis = try analyze([torn]).events
        #expect(analysis.recorded == 5)
    }

    @Test("a release without ensure is reported at the innermost user frame with its stack")
    func releaseWithoutEnsure() throws {
        var w = P.startLog()
        w.record(.finding, tid: P.pid, time: 1000, flags: UInt16(TracedAPI.gilStateRelease.rawValue),
                 detail: RuntimeFindingCode.releaseWithoutEnsure.rawValue, pc: P.pc(0x1101),
                 payload: [P.tracerBase + 0x100, P.pc(0x1101), P.pc(0x1201), P.libcBase + 0x29d90])
        let a = try analyze([w])
        #expect(a.findings.count == 1)
        let f = try #require(a.findings.first)
        #expect(f.ruleId == "release-without-ensure")
        #expect(f.severity == .error)
        #expect(f.message == "PyGILState_Release() with no live PyGILState_Ensure() state on this thread")
        #expect(f.thread.name == "main thread (tid 4242)")
        // The tracer's own frame is dropped; unknown frames keep module+offset.
        #expect(f.stack.map { $0.function ?? $0.binaryLocation } == ["release_twice", "worker_main", "libc.so.6+0x29d90"])
        #expect(f.location?.location(relativeTo: "/src/app") == "worker.c:42")

        let text = TraceOutputFormat.text.render(TraceRunReport(command: ["./worker"], termination: .signaled(6), analysis: a,
                                                                toolVersion: "test", baseDirectory: "/src/app"))
        #expect(text.contains("worker.c:42: error: PyGILState_Release() with no live PyGILState_Ensure() state on this thread [release-without-ensure]\n  in main thread (tid 4242)\n    #0 release_twice at worker.c:42\n    #1 worker_main at worker.c:60\n    #2 libc.so.6+0x29d90\n"))
        #expect(text.contains("program: ./worker: killed by SIGABRT"))
        #expect(TraceExitStatus.decide(findings: a.findings, termination: .signaled(6)) == .findings)
    }

    @Test("api-without-gil names the watched function and merges repeats from one site")
    func apiWithoutGIL() throws {
        var main = P.startLog()
        main.record(.apiName, tid: P.pid, time: 1, a: 7, payload: TestLogWriter.words(["PyLong_FromLong"]))
        var worker = P.startLog(tid: 4243)
        worker.record(.threadStart, tid: 4243, time: 5, a: UInt64(P.pid), b: P.pc(0x1200), pc: P.pc(0x1501))
        worker.record(.finding, tid: 4243, time: 10, detail: RuntimeFindingCode.apiWithoutGIL.rawValue, a: 7, b: 1,
                      pc: P.pc(0x1801), payload: [P.pc(0x1801), P.pc(0x1201)])
        worker.record(.finding, tid: 4243, time: 20, detail: RuntimeFindingCode.apiWithoutGIL.rawValue, a: 7, b: 1,
                      pc: P.pc(0x1801), payload: [P.pc(0x1801), P.pc(0x1201)])
        let a = try analyze([main, worker])
        #expect(a.findings.count == 1)
        let f = try #require(a.findings.first)
        #expect(f.ruleId == "api-without-gil")
        #expect(f.message == "PyLong_FromLong() called without holding the GIL")
        #expect(f.count == 2)
        #expect(f.thread.name == "thread 1 (tid 4243, worker_main, started by main thread at host.c:88)")
        #expect(f.location?.line == 50)
    }

    @Test("threads that end holding the GIL or with live Ensure states are reported at the acquisition")
    func exitFindings() throws {
        var w = P.startLog()
        w.record(.finding, tid: P.pid, time: 10, detail: RuntimeFindingCode.threadExitHoldingGIL.rawValue,
                 a: P.pc(0x1301), payload: [P.libcBase + 0x100])
        w.record(.finding, tid: P.pid, time: 20, flags: 2, detail: RuntimeFindingCode.ensureLeakAtExit.rawValue,
                 a: P.pc(0x1401), payload: [P.pc(0x1201)])
        w.record(.finding, tid: P.pid, time: 30, flags: 1, detail: RuntimeFindingCode.ensureLeakAtExit.rawValue,
                 a: P.pc(0x1401), b: 1, pc: 0x1, payload: [])
        let a = try analyze([w])
        #expect(a.findings.map(\.ruleId) == ["thread-exit-holding-gil", "ensure-leak-at-exit", "ensure-leak-at-exit"])
        #expect(a.findings[0].message == "thread ended while holding the GIL, acquired at worker.c:30 and never released")
        #expect(a.findings[0].location?.line == 30)
        let messages = Set(a.findings.dropFirst().map(\.message))
        #expect(messages.contains("thread ended with 2 PyGILState_Ensure() states never released; the innermost was taken at worker.c:35"))
        #expect(messages.contains("process exited with 1 PyGILState_Ensure() state never released; the innermost was taken at worker.c:35"))
        let thread = try #require(a.findings.first { $0.message.hasPrefix("thread ended with 2") })
        #expect(thread.related.first?.stack.first?.function == "worker_main")
    }

    @Test("GIL then mutex on one thread and mutex then GIL on another is one lock-order inversion")
    func lockOrderInversion() throws {
        var main = P.startLog()
        var t1 = P.startLog(tid: 4243)
        var t2 = P.startLog(tid: 4244)
        t1.record(.threadStart, tid: 4243, time: 1, a: UInt64(P.pid), b: P.pc(0x1700), pc: P.pc(0x1501))
        t2.record(.threadStart, tid: 4244, time: 2, a: UInt64(P.pid), b: P.pc(0x1600), pc: P.pc(0x1501))
        // thread 1: the GIL (taken at worker.c:30), then scene_lock at worker.c:80.
        t1.record(.lockEdge, tid: 4243, time: 10, a: TraceFormat.gilLock, b: P.mutex, pc: P.pc(0x1701),
                  payload: [P.pc(0x1301), P.pc(0x1701), P.pc(0x1201)])
        // thread 2: scene_lock, then the GIL at worker.c:70.
        t2.record(.lockEdge, tid: 4244, time: 20, a: P.mutex, b: TraceFormat.gilLock, pc: P.pc(0x1601),
                  payload: [P.pc(0x1401), P.pc(0x1601)])
        // An edge that closes no cycle.
        t2.record(.lockEdge, tid: 4244, time: 30, a: P.mutex, b: P.mutex2, pc: P.pc(0x1601), payload: [P.pc(0x1401)])
        main.record(.dropped, tid: P.pid, time: 40, a: 3)
        let a = try analyze([main, t1, t2])
        let inversions = a.findings.filter { $0.ruleId == "lock-order-inversion" }
        #expect(inversions.count == 1)
        let f = try #require(inversions.first)
        #expect(f.message == "lock-order inversion: thread 1 took mutex 'scene_lock' while holding the GIL, and thread 2 took the GIL while holding mutex 'scene_lock'; run at the same time they deadlock")
        #expect(f.stack.first?.function == "python_then_lock")
        #expect(f.related.count == 1)
        #expect(f.related[0].thread?.tid == 4244)
        #expect(f.related[0].stack.first?.function == "lock_then_python")
        #expect(f.notes == ["thread 1 took mutex 'scene_lock' at worker.c:80 while holding the GIL (taken at worker.c:30)"])
        #expect(f.related[0].message == "thread 2 took the GIL at worker.c:70 while holding mutex 'scene_lock' (taken at worker.c:35)")
        #expect(a.events.dropped == 3)
    }

    @Test("a cycle of three mutexes is reported once")
    func threeLockCycle() throws {
        var w = P.startLog()
        w.record(.lockEdge, tid: P.pid, time: 10, a: P.mutex, b: P.mutex2, pc: P.pc(0x1601), payload: [P.pc(0x1401)])
        w.record(.lockEdge, tid: P.pid, time: 11, a: P.mutex2, b: P.mutex3, pc: P.pc(0x1601), payload: [P.pc(0x1401)])
        w.record(.lockEdge, tid: P.pid, time: 12, a: P.mutex3, b: P.mutex, pc: P.pc(0x1601), payload: [P.pc(0x1401)])
        w.record(.lockEdge, tid: P.pid, time: 13, a: P.mutex, b: P.mutex2, pc: P.pc(0x1701), payload: [P.pc(0x1401)])
        let a = try analyze([w])
        #expect(a.findings.count == 1)
        #expect(a.findings.first?.message.hasPrefix("lock-order cycle of 3 locks: mutex 'scene_lock' → mutex 'log_lock' → mutex 'cache_lock' → mutex 'scene_lock'") == true)
        #expect(a.findings.first?.related.count == 2)
    }

    @Test("a hang shows the wait-for graph: who waits for what and who holds it")
    func hang() throws {
        var main = P.startLog()
        var t1 = P.startLog(tid: 4243)
        t1.record(.threadStart, tid: 4243, time: 1, a: UInt64(P.pid), b: P.pc(0x1600), pc: P.pc(0x1501))
        // thread 1 holds scene_lock and waits for the GIL; the main thread holds the GIL and waits for scene_lock.
        main.record(.hang, tid: 4243, time: 6_000_000_000, a: TraceFormat.gilLock, b: 5_000_000_000)
        main.record(.threadStack, tid: P.pid, time: 6_000_000_001, flags: 1, a: P.mutex, b: TraceFormat.gilLock,
                    payload: [P.pc(0x1701), P.pc(0x1501), 0, TraceFormat.gilLock])
        main.record(.threadStack, tid: 4243, time: 6_000_000_002, flags: 1, a: TraceFormat.gilLock, b: 0,
                    payload: [P.pc(0x1601), P.pc(0x1201), 0, P.mutex])
        let a = try analyze([main, t1])
        #expect(a.watchdogFired)
        let f = try #require(a.findings.first { $0.ruleId == "hang" })
        #expect(f.thread.tid == 4243)
        #expect(f.message == "hang: thread 1 waited 5.00 s for the GIL; deadlock: the waits form a cycle")
        #expect(f.notes.first == "wait-for: thread 1 waits for the GIL, held by main thread, which waits for mutex 'scene_lock', held by thread 1")
        #expect(f.notes.contains("the GIL is held by main thread (tid 4242)"))
        #expect(f.stack.first?.function == "lock_then_python")
        #expect(f.related.count == 1)
        #expect(f.related[0].message == "main thread (tid 4242): holds the GIL; waits for mutex 'scene_lock'")
        #expect(f.related[0].stack.first?.function == "python_then_lock")
        #expect(TraceExitStatus.decide(findings: a.findings, termination: .watchdog) == .hang)
    }

    @Test("a hang on the GIL of a thread that ended holding it says so")
    func hangOnDeadHolder() throws {
        var main = P.startLog()
        var t1 = P.startLog(tid: 4243)
        t1.record(.threadStart, tid: 4243, time: 1, a: UInt64(P.pid), b: P.pc(0x1200), pc: P.pc(0x1501))
        t1.record(.threadExit, tid: 4243, time: 100, a: 1, b: 1)
        main.record(.hang, tid: P.pid, time: 6_000_000_000, a: TraceFormat.gilLock, b: 5_000_000_000)
        main.record(.threadStack, tid: P.pid, time: 6_000_000_001, flags: 1, a: TraceFormat.gilLock,
                    payload: [P.pc(0x1501), 0])
        let a = try analyze([main, t1])
        let f = try #require(a.findings.first)
        #expect(f.message == "hang: main thread waited 5.00 s for the GIL; no live thread holds the GIL: thread 1 ended while still holding it (1 PyGILState_Ensure() state never released)")
    }

    @Test("hold and wait statistics per thread and per site; long holds are one finding per site")
    func statistics() throws {
        var w = P.startLog()
        var t: UInt64 = 1_000_000
        // 100 holds of 1…100 ms at worker.c:30, each after a wait of i µs.
        for i in 1...100 {
            w.record(.gilAcquire, tid: P.pid, time: t, detail: TracedAPI.gilStateEnsure.rawValue, a: UInt64(i) * 1000, pc: P.pc(0x1301))
            // A nested Ensure/Release inside does not count as a hold.
            w.record(.gilAcquire, tid: P.pid, time: t + 10, detail: TracedAPI.gilStateEnsure.rawValue, b: 1, pc: P.pc(0x1401))
            w.record(.gilRelease, tid: P.pid, time: t + 20, detail: TracedAPI.gilStateRelease.rawValue, pc: P.pc(0x1401))
            t += TestClock.ms(Double(i))
            w.record(.gilRelease, tid: P.pid, time: t, detail: TracedAPI.gilStateRelease.rawValue, a: TestClock.ms(Double(i)),
                     b: P.pc(0x1301), pc: P.pc(0x1201))
            t += 1000
        }
        let a = try analyze([w])
        let site = try #require(a.sites.first)
        #expect(a.sites.count == 1)
        #expect(site.site == "worker.c:30")
        #expect(site.api == "PyGILState_Ensure")
        #expect(site.acquisitions == 100)
        #expect(site.hold.count == 100)
        #expect(abs(site.hold.p50 - 50) < 1e-6)
        #expect(abs(site.hold.p99 - 99) < 1e-6)
        #expect(abs(site.hold.max - 100) < 1e-6)
        #expect(abs(site.wait.p50 - 0.05) < 1e-9)
        #expect(abs(site.wait.max - 0.1) < 1e-9)
        let thread = try #require(a.threads.first)
        #expect(thread.acquisitions == 100)
        #expect(thread.nestedAcquisitions == 100)
        #expect(abs(thread.heldMs - 5050) < 1e-3)
        let long = a.findings.filter { $0.ruleId == "gil-long-hold" }
        #expect(long.count == 1)
        #expect(long.first?.count == 84)
        #expect(long.first?.severity == .warning)
        #expect(long.first?.message == "the GIL was held for 100.0 ms after PyGILState_Ensure() here (84 of 100 holds longer than 16.0 ms)")
        #expect(long.first?.location?.line == 30)
        #expect(a.timeline.lanes.first?.spans.filter { $0.kind == .held }.count == 100)
        #expect(TraceExitStatus.decide(findings: a.findings, termination: .exited(0)) == .findings)
        #expect(DurationSummary([]).p99 == 0)
    }

    @Test("a sampled timeline: sampled holds stand for the rate, long waits and long holds for themselves; thread counts are exact")
    func sampledStatistics() throws {
        var w = P.startLog(options: 2, sampleRate: 10)
        var t: UInt64 = 1_000_000
        func hold(_ flags: HoldFlags, wait: Double, held: Double) {
            w.record(.gilAcquire, tid: P.pid, time: t, flags: flags.rawValue, detail: TracedAPI.gilStateEnsure.rawValue,
                     a: TestClock.ms(wait), pc: P.pc(0x1301))
            t += TestClock.ms(held)
            w.record(.gilRelease, tid: P.pid, time: t, flags: flags.rawValue, detail: TracedAPI.gilStateRelease.rawValue,
                     a: TestClock.ms(held), b: P.pc(0x1301), pc: P.pc(0x1201))
            t += 1000
        }
        // 5 sampled short holds of 1 ms (standing for 50), one contended acquisition that waited 3 ms, and one hold
        // the coarse clock found long (40 ms; not part of the sample, its wait unknown).
        for _ in 0..<5 { hold(.sampled, wait: 0, held: 1) }
        hold(.waited, wait: 3, held: 2)
        hold(.long, wait: 0, held: 40)
        w.record(.acquisitionCount, tid: P.pid, time: t, a: 57)
        let a = try analyze([w])
        let site = try #require(a.sites.first)
        #expect(a.sampleRate == 10)
        #expect(site.acquisitions == 51)
        #expect(site.hold.count == 52)
        #expect(abs(site.hold.p50 - 1) < 1e-9)
        #expect(abs(site.hold.max - 40) < 1e-9)
        #expect(abs(site.hold.total - (50 + 2 + 40)) < 1e-6)
        #expect(site.wait.count == 51)
        #expect(abs(site.wait.p50) < 1e-9)
        #expect(abs(site.wait.max - 3) < 1e-9)
        let thread = try #require(a.threads.first)
        #expect(thread.acquisitions == 57)
        #expect(abs(thread.heldMs - 92) < 1e-6)
        let long = try #require(a.findings.first { $0.ruleId == "gil-long-hold" })
        #expect(long.message == "the GIL was held for at least 40.0 ms after PyGILState_Ensure() here (1 of about 52 holds longer than 16.0 ms)")
        let text = TraceTextReport().render(TraceRunReport(command: ["./worker"], termination: .exited(0), analysis: a, toolVersion: "test"))
        #expect(text.contains("1 in 10 of the others"))
        let json = TraceJSONReport().render(TraceRunReport(command: ["./worker"], termination: .exited(0), analysis: a, toolVersion: "test"))
        #expect(json.contains("\"sampling\""))
        let svg = TimelineSVG().render(TraceRunReport(command: ["./worker"], termination: .exited(0), analysis: a, toolVersion: "test"))
        #expect(svg.contains("1 in 10 of the other holds"))
        let chrome = ChromeTraceReport().render(TraceRunReport(command: ["./worker"], termination: .exited(0), analysis: a, toolVersion: "test"))
        let other = (try JSONSerialization.jsonObject(with: Data(chrome.utf8)) as? [String: Any])?["otherData"] as? [String: Any]
        #expect((other?["sampling"] as? String)?.contains("1 in 10") == true)
        _ = try XMLDocument(data: Data(svg.utf8))
    }

    @Test("chrome output is trace-event JSON; json, sarif and html render the same findings")
    func formats() throws {
        var w = P.startLog()
        w.record(.gilAcquire, tid: P.pid, time: 1_000, detail: 1, a: 500, pc: P.pc(0x1301))
        w.record(.gilRelease, tid: P.pid, time: TestClock.ms(30), detail: 2, a: TestClock.ms(30) - 1_000, b: P.pc(0x1301), pc: P.pc(0x1201))
        w.record(.finding, tid: P.pid, time: TestClock.ms(31), flags: 2, detail: 1, pc: P.pc(0x1101), payload: [P.pc(0x1101)])
        let report = TraceRunReport(command: ["./worker", "--threads", "2"], termination: .exited(0), analysis: try analyze([w]),
                                    toolVersion: "test", baseDirectory: "/src/app")
        func object(_ format: TraceOutputFormat) throws -> [String: Any] {
            let data = Data(format.render(report).utf8)
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
        let chrome = try object(.chrome)
        let events = try #require(chrome["traceEvents"] as? [[String: Any]])
        #expect(events.contains { $0["ph"] as? String == "X" && ($0["name"] as? String)?.hasPrefix("GIL held >") == true })
        #expect(events.contains { $0["ph"] as? String == "X" && $0["name"] as? String == "waiting for the GIL" })
        #expect(events.contains { $0["ph"] as? String == "i" && $0["name"] as? String == "release-without-ensure" })
        #expect(events.contains { $0["ph"] as? String == "M" && $0["name"] as? String == "thread_name" })

        let json = try object(.json)
        #expect(json["version"] as? Int == 1)
        #expect(json["exitStatus"] as? Int == 1)
        let findings = try #require(json["findings"] as? [[String: Any]])
        #expect(findings.map { $0["ruleId"] as? String } == ["release-without-ensure", "gil-long-hold"])
        let stack = try #require(findings[0]["stack"] as? [[String: Any]])
        #expect(stack.first?["function"] as? String == "release_twice")
        #expect(stack.first?["line"] as? Int == 42)
        #expect((json["events"] as? [String: Any])?["recorded"] as? Int == 7)
        #expect((json["termination"] as? [String: Any])?["how"] as? String == "exited")

        let sarif = try object(.sarif)
        #expect(sarif["version"] as? String == "2.1.0")
        let run = try #require((sarif["runs"] as? [[String: Any]])?.first)
        let rules = try #require(((run["tool"] as? [String: Any])?["driver"] as? [String: Any])?["rules"] as? [[String: Any]])
        #expect(rules.count == TraceRule.allCases.count)
        let result = try #require((run["results"] as? [[String: Any]])?.first)
        let region = (((result["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])?["region"] as? [String: Any])
        #expect(region?["startLine"] as? Int == 42)

        let html = TraceOutputFormat.html.render(report)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<svg"))
        #expect(html.contains("[release-without-ensure]"))
        let svg = TimelineSVG().render(report)
        #expect(svg.contains("#e53935"))
        let parsed = try XMLDocument(xmlString: svg)
        #expect(parsed.rootElement()?.name == "svg")
    }

    @Test("durations, the watch list and the exit status")
    func setup() throws {
        #expect(try parseDuration("5s", option: "x") == 5000)
        #expect(try parseDuration("500ms", option: "x") == 500)
        #expect(try parseDuration("2", option: "x") == 2000)
        #expect(try parseDuration("250us", option: "x") == 0.25)
        #expect(throws: TraceSetupError.self) { try parseDuration("soon", option: "--hang-timeout") }

        var model = APIModel()
        model.merge(try RulesFile.parse(text: """
            version: 1
            requires-gil: ["Py*", "_Py*", "pybind11::*"]
            functions:
              PyGILState_Ensure: { effect: ensure, state: result }
              PyMem_RawMalloc: { gil: free }
              my_helper: { gil: required }
              sleep: { blocks: true }
            """, path: "test.yml"))
        let list = watchList(model: model)
        #expect(list.contains("\nwatch Py*\n"))
        #expect(list.contains("\nwatch _Py*\n"))
        #expect(!list.contains("pybind11"))
        #expect(list.contains("\nfree PyGILState_Ensure\n"))
        #expect(list.contains("\nfree PyMem_RawMalloc\n"))
        #expect(list.contains("\nwatch my_helper\n"))
        #expect(!list.contains("sleep"))  // no pattern watches it: nothing to say

        #expect(TraceExitStatus.decide(findings: [], termination: .exited(0)) == .clean)
        #expect(TraceExitStatus.decide(findings: [], termination: .exited(3)) == .programFailed)
        #expect(TraceExitStatus.decide(findings: [], termination: .signaled(11)) == .programFailed)
        #expect(Termination.signaled(11).description == "killed by SIGSEGV")
    }

    @Test("addr2line output with inlined frames and discriminators is parsed")
    func addr2lineParsing() {
        let out = "0x0000000000001164\ninner\n/tmp/a.c:2 (discriminator 1)\nouter\n/tmp/a.c:3\n0x0000000000000010\n??\n??:0\n"
        let parsed = Addr2lineSymbolizer.parse(out)
        #expect(parsed[0x1164] == [SourceFrame(function: "inner", file: "/tmp/a.c", line: 2),
                                   SourceFrame(function: "outer", file: "/tmp/a.c", line: 3)])
        #expect(parsed[0x10] == [])
    }
}
