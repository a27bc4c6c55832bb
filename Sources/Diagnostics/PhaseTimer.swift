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
        last = t
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
            let line = "gilcheck timing: " + name.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: "%9.4f s\n", seconds)
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}
