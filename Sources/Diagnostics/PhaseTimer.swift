import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Wall time of the phases of a run, printed on stderr when GILCHECK_TIMING is set (for profiling; the
/// output of the run does not change).
public final class PhaseTimer: @unchecked Sendable {
    public let enabled: Bool
    private let lock = NSLock()
    private var last: Double
    private var entries: [(String, Double)] = []
    /// The process's resident and peak resident memory when each lap ended (MiB), printed beside it.
    private var memory: [String: (Int, Int)] = [:]

    public init(enabled: Bool) {
        self.enabled = enabled
        last = PhaseTimer.now()
    }

    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Ends the phase that started at the previous lap.
    public func lap(_ name: String) {
        guard enabled else { return }
        let t = PhaseTimer.now()
        add(name, seconds: t - last)
        if let m = PhaseTimer.residentMemory() {
            lock.lock()
            memory[name] = m
            lock.unlock()
        }
        last = t
    }

    /// VmRSS and VmHWM of this process in MiB (Linux), nil where /proc says nothing.
    private static func residentMemory() -> (current: Int, peak: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 / 1024 }
        }
        guard let rss = field("VmRSS"), let hwm = field("VmHWM") else { return nil }
        return (rss, hwm)
    }

    public func add(_ name: String, since start: Double) {
        guard enabled else { return }
        add(name, seconds: PhaseTimer.now() - start)
    }

    public func add(_ name: String, seconds: Double) {
        guard enabled else { return }
        lock.lock()
        if let i = entries.firstIndex(where: { $0.0 == name }) { entries[i].1 += seconds } else { entries.append((name, seconds)) }
        lock.unlock()
    }

    public func print() {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        for (name, seconds) in entries {
            var line = "gilcheck timing: " + name.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: "%9.4f s", seconds)
            if let (rss, peak) = memory[name] { line += "   rss \(rss) MiB, peak \(peak) MiB" }
            line += "\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}
