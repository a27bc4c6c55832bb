import Foundation

/// The event log format of `libgilcheck-trace.so`, as Swift values. The C header
/// `Sources/GILTraceFormat/include/gilcheck_trace_format.h` is the contract; `TraceFormatLayout` (tested against the
/// header's structs and enums) keeps the two in step.
public enum TraceFormat {
    public static let fileMagic = Array("GILTRC01".utf8)
    public static let recordMagic: UInt16 = 0x4754
    public static let version: UInt32 = 1
    public static let fileHeaderSize = 64
    public static let recordHeadSize = 48
    /// Lock id of the GIL in lock records; any other id is the address of a pthread mutex.
    public static let gilLock: UInt64 = 1
    /// The status the library's watchdog ends a hung process with, after writing a `hang` record.
    public static let watchdogExitStatus: Int32 = 86
    /// With a sampled timeline, every acquisition that waited this long for the GIL is recorded (GILT_LONG_WAIT_NS).
    public static let longWaitNs: Double = 1_000_000
    /// Log file names: `gilcheck.<pid>.<tid>.trace`.
    /// Flags of a process-start record: a child of fork() (GILT_PROCESS_FORKED).
    public static let processForked: UInt16 = 1
    public static func isLogFileName(_ name: String) -> Bool {
        name.hasPrefix("gilcheck.") && name.hasSuffix(".trace")
    }
}

public enum RecordKind: UInt16, Sendable, CaseIterable {
    case processStart = 1
    case module = 2
    case threadStart = 3
    case threadExit = 4
    case gilAcquire = 5
    case gilRelease = 6
    case finding = 7
    case lockEdge = 8
    case hang = 9
    case threadStack = 10
    case apiName = 11
    case dropped = 12
    case mutexWait = 13
    case pythonStack = 14
    case acquisitionCount = 15
    case processEnd = 16
    case childEnd = 17
}

/// How a process ended (`gilt_process_end`, the detail of a process-end record).
public enum ProcessEndCode: UInt32, Sendable, CaseIterable {
    case exit = 1
    case signal = 2
    case exitUnknown = 3
}

/// Why a hold was recorded (`gilt_hold_flags`, the flags of acquisition and release records).
public struct HoldFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Picked by the sampling countdown: stands for `sampleRate` holds like it, unless also waited or long.
    public static let sampled = HoldFlags(rawValue: 1)
    /// The acquisition waited `TraceFormat.longWaitNs` or more: every such hold is recorded.
    public static let waited = HoldFlags(rawValue: 2)
    /// Held longer than the long-hold threshold: every such hold is recorded.
    public static let long = HoldFlags(rawValue: 4)
}

public struct ModuleFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let user = ModuleFlags(rawValue: 1)
    public static let interpreter = ModuleFlags(rawValue: 2)
    public static let tracer = ModuleFlags(rawValue: 4)
    public static let system = ModuleFlags(rawValue: 8)
}

/// The GIL entry point a record is about (`gilt_api`).
public enum TracedAPI: UInt32, Sendable, CaseIterable {
    case none = 0
    case gilStateEnsure = 1
    case gilStateRelease = 2
    case saveThread = 3
    case restoreThread = 4
    case acquireThread = 5
    case releaseThread = 6
    case acquireLock = 7
    case releaseLock = 8
    case initThreads = 9
    case initialize = 10
    case finalize = 11
    case gilStateCheck = 12

    public var functionName: String {
        switch self {
        case .none: return "the GIL"
        case .gilStateEnsure: return "PyGILState_Ensure"
        case .gilStateRelease: return "PyGILState_Release"
        case .saveThread: return "PyEval_SaveThread"
        case .restoreThread: return "PyEval_RestoreThread"
        case .acquireThread: return "PyEval_AcquireThread"
        case .releaseThread: return "PyEval_ReleaseThread"
        case .acquireLock: return "PyEval_AcquireLock"
        case .releaseLock: return "PyEval_ReleaseLock"
        case .initThreads: return "PyEval_InitThreads"
        case .initialize: return "Py_Initialize"
        case .finalize: return "Py_FinalizeEx"
        case .gilStateCheck: return "PyGILState_Check"
        }
    }
}

/// The runtime faults the library detects itself (`gilt_finding`).
public enum RuntimeFindingCode: UInt32, Sendable, CaseIterable {
    case releaseWithoutEnsure = 1
    case apiWithoutGIL = 2
    case threadExitHoldingGIL = 3
    case ensureLeakAtExit = 4
}

/// The 64-byte head of a log file.
public struct TraceFileHeader: Sendable, Equatable {
    public var version: UInt32
    public var pid: UInt32
    public var tid: UInt32
    public var ppid: UInt32
    public var ticksPerSecond: UInt64
    public var startTicks: UInt64
    public var startUnixNs: UInt64
    /// GILT_OPTION_* bits (offset 48).
    public var options: UInt32
    /// With a sampled timeline: one uncontended, short hold in this many is recorded (offset 52).
    public var sampleRate: UInt32

    /// The library ran with GILCHECK_TRACE_TIMELINE=0: no acquisition or release records.
    public var timelineOff: Bool { options & 1 != 0 }
    /// The timeline is sampled (the default): see `HoldFlags`.
    public var timelineSampled: Bool { options & 2 != 0 }

    public init(version: UInt32 = TraceFormat.version, pid: UInt32, tid: UInt32, ppid: UInt32,
                ticksPerSecond: UInt64, startTicks: UInt64, startUnixNs: UInt64, options: UInt32 = 0,
                sampleRate: UInt32 = 1) {
        self.options = options
        self.sampleRate = sampleRate
        self.version = version
        self.pid = pid
        self.tid = tid
        self.ppid = ppid
        self.ticksPerSecond = ticksPerSecond
        self.startTicks = startTicks
        self.startUnixNs = startUnixNs
    }

    /// Nanoseconds per tick (1 when the rate is missing: the library then records nanoseconds).
    public var nanosecondsPerTick: Double {
        ticksPerSecond == 0 ? 1 : 1e9 / Double(ticksPerSecond)
    }

    /// Wall-clock time of a record's `time` field, in nanoseconds since the Unix epoch.
    public func unixNanoseconds(ticks: UInt64) -> Double {
        let delta = ticks >= startTicks ? Double(ticks - startTicks) : -Double(startTicks - ticks)
        return Double(startUnixNs) + delta * nanosecondsPerTick
    }

    /// A duration given in ticks, in nanoseconds.
    public func nanoseconds(ticks: UInt64) -> Double { Double(ticks) * nanosecondsPerTick }
}

/// One record: the 48-byte head and its payload words.
public struct TraceRecord: Sendable, Equatable {
    public var kind: UInt16
    public var flags: UInt16
    public var tid: UInt32
    public var detail: UInt32
    public var time: UInt64
    public var a: UInt64
    public var b: UInt64
    public var pc: UInt64
    public var payload: [UInt64]

    public init(kind: UInt16, flags: UInt16 = 0, tid: UInt32, detail: UInt32 = 0, time: UInt64, a: UInt64 = 0,
                b: UInt64 = 0, pc: UInt64 = 0, payload: [UInt64] = []) {
        self.kind = kind
        self.flags = flags
        self.tid = tid
        self.detail = detail
        self.time = time
        self.a = a
        self.b = b
        self.pc = pc
        self.payload = payload
    }

    public var recordKind: RecordKind? { RecordKind(rawValue: kind) }

    /// The payload read as a NUL-padded string (paths, names); for a command line, the NUL-separated parts.
    public var payloadStrings: [String] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count * 8)
        for w in payload { withUnsafeBytes(of: w.littleEndian) { bytes.append(contentsOf: $0) } }
        while bytes.last == 0 { bytes.removeLast() }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    public var payloadString: String { payloadStrings.first ?? "" }
}

/// One log file, read.
public struct TraceLog: Sendable {
    public var path: String
    public var header: TraceFileHeader
    public var records: [TraceRecord]
    /// True when the file ended inside a record (the process died while writing it); that record is ignored.
    public var tornRecord: Bool
}

public enum TraceLogError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case tooShort(String)
    case badMagic(String)
    case unsupportedVersion(String, UInt32)

    public var description: String {
        switch self {
        case .unreadable(let path, let why): return "\(path): cannot read the trace log: \(why)"
        case .tooShort(let path): return "\(path): shorter than a trace log header (the process ended while starting)"
        case .badMagic(let path): return "\(path): not a gilcheck trace log (bad magic)"
        case .unsupportedVersion(let path, let v):
            return "\(path): trace log version \(v), this gilcheck reads version \(TraceFormat.version); use the gilcheck that matches the trace library"
        }
    }
}

/// Reads log files. Stops at the first record whose magic is wrong (the zero tail) or that does not fit (torn).
public enum EventLogReader {
    public static func read(path: String) throws -> TraceLog {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw TraceLogError.unreadable(path, error.localizedDescription)
        }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String = "<memory>") throws -> TraceLog {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> TraceLog in
            guard raw.count >= TraceFormat.fileHeaderSize else { throw TraceLogError.tooShort(path) }
            guard Array(raw[0..<8]) == TraceFormat.fileMagic else { throw TraceLogError.badMagic(path) }
            func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
            func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
            func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
            let header = TraceFileHeader(version: u32(8), pid: u32(12), tid: u32(16), ppid: u32(20),
                                         ticksPerSecond: u64(24), startTicks: u64(32), startUnixNs: u64(40),
                                         options: u32(48), sampleRate: u32(52))
            guard header.version == TraceFormat.version else { throw TraceLogError.unsupportedVersion(path, header.version) }
            var records: [TraceRecord] = []
            var offset = TraceFormat.fileHeaderSize
            var torn = false
            while offset + 2 <= raw.count {
                guard u16(offset) == TraceFormat.recordMagic else { break }
                guard offset + TraceFormat.recordHeadSize <= raw.count else { torn = true; break }
                let words = Int(u16(offset + 4))
                let end = offset + TraceFormat.recordHeadSize + words * 8
                guard end <= raw.count else { torn = true; break }
                var payload: [UInt64] = []
                payload.reserveCapacity(words)
                for i in 0..<words { payload.append(u64(offset + TraceFormat.recordHeadSize + i * 8)) }
                let record = TraceRecord(kind: u16(offset + 2), flags: u16(offset + 6), tid: u32(offset + 8),
                                         detail: u32(offset + 12), time: u64(offset + 16), a: u64(offset + 24),
                                         b: u64(offset + 32), pc: u64(offset + 40), payload: payload)
                // A head whose kind is zero was reserved but never filled in: treat it like the zero tail.
                if record.kind == 0 { torn = true; break }
                records.append(record)
                offset = end
            }
            return TraceLog(path: path, header: header, records: records, tornRecord: torn)
        }
    }

    /// Every `gilcheck.*.trace` file of a directory, sorted by name; unreadable ones become warnings.
    public static func readDirectory(_ directory: String) -> (logs: [TraceLog], warnings: [String]) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter(TraceFormat.isLogFileName).sorted()
        var logs: [TraceLog] = []
        var warnings: [String] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            do {
                logs.append(try read(path: path))
            } catch let error as TraceLogError {
                // An empty file is a thread or process that died before writing its header: nothing to say.
                if case .tooShort = error, (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == 0 {
                    continue
                }
                warnings.append(error.description)
            } catch {
                warnings.append("\(path): \(error)")
            }
        }
        return (logs, warnings)
    }
}
