import ClangSupport
import Diagnostics

// The lock order between the GIL and the project's own mutexes, across the run. Two threads deadlock when one
// holds the GIL and waits for a mutex while the other holds that mutex and waits for the GIL. The path engine
// notes every lock of a mutex it can name (a global, a struct's field: `MutexRef`) with the GIL as the path
// has it there, and every wait for the GIL (PyGILState_Ensure, PyEval_RestoreThread, a guard, a helper that
// takes it) made while holding one. Here the run's notes meet:
// - a wait for the GIL under a mutex that another place locks with the GIL held is the inversion, reported at
//   the wait (blocking-with-gil), with the other place as a note;
// - a mutex that every place locks with the GIL held (two places or more, and no wait under it) is never
//   contended: the GIL already orders its holders, so the locks made with it are not reported as blocking.

/// A mutex a path holds.
struct HeldMutex: Hashable {
    var key: String
    var text: String
    var site: SourceLocation
    /// The C++ lock guard holding it (`lk` of `std::lock_guard lk(m)`): it unlocks where the guard's scope ends.
    var holder: StorageKey?
}

/// What the runs saw of the project's mutexes.
struct LockOrder {
    struct Lock: Hashable {
        var mutex: String
        var text: String
        var location: SourceLocation
        var gil: GILStatus
        var function: String = ""
    }
    struct Wait {
        var mutex: String
        var text: String
        var lockedAt: SourceLocation
        var location: SourceLocation
        /// How the call that waits for the GIL is shown.
        var shown: String
        var function: String
        var notes: [PathNote]
    }
    var locks: Set<Lock> = []
    var waits: [Wait] = []

    var isEmpty: Bool { locks.isEmpty && waits.isEmpty }

    mutating func merge(_ other: LockOrder, function: String) {
        for var lock in other.locks {
            lock.function = function
            locks.insert(lock)
        }
        waits += other.waits
    }

    /// The diagnostics with the inversions added and the blocking reports at locks of never-contended mutexes
    /// taken out.
    func apply(to diagnostics: [Diagnostic]) -> [Diagnostic] {
        guard !locks.isEmpty else { return diagnostics }
        // Each place's GIL, over the runs that reached it: released if any run saw it released, held if one saw
        // it held (a Python method's own run, where its first run did not know), else unknown.
        var gilAt: [SourceLocation: GILStatus] = [:]
        var byMutex: [String: [Lock]] = [:]
        for lock in locks.sorted(by: { $0.location < $1.location }) {
            let before = gilAt[lock.location]
            if before == nil { byMutex[lock.mutex, default: []].append(lock) }
            switch (before, lock.gil) {
            case (.released?, _), (_, .released): gilAt[lock.location] = .released
            case (.held?, _), (_, .held): gilAt[lock.location] = .held
            default: gilAt[lock.location] = .unknown
            }
        }
        let waitedUnder = Set(waits.map(\.mutex))
        // By file, line and column: what a diagnostic says of its place.
        var uncontended: Set<String> = []
        for (mutex, places) in byMutex where places.count >= 2 && !waitedUnder.contains(mutex)
            && places.allSatisfy({ gilAt[$0.location] == .held }) {
            for p in places { uncontended.insert("\(p.location.file):\(p.location.line):\(p.location.column)") }
        }
        var out = diagnostics.filter { d in
            !(d.ruleId == RuleID.blockingWithGIL.rawValue && uncontended.contains("\(d.file):\(d.line):\(d.column)"))
        }
        for wait in waits {
            guard let other = byMutex[wait.mutex]?.first(where: { gilAt[$0.location] == .held }) else { continue }
            var notes = wait.notes
            notes.append(PathNote(file: other.location.file, line: other.location.line, column: other.location.column,
                                  message: "\(other.function)() locks '\(other.text)' here while holding the GIL"))
            out.append(Diagnostic(ruleId: RuleID.blockingWithGIL.rawValue, severity: RuleID.blockingWithGIL.info.severity,
                                  file: wait.location.file, line: wait.location.line, column: wait.location.column,
                                  function: wait.function,
                                  message: "\(wait.shown) waits for the GIL while this thread holds '\(wait.text)' (locked at line \(wait.lockedAt.line)), which \(other.function)() locks while holding the GIL at \(other.location.place): each thread can wait for what the other holds",
                                  path: notes))
        }
        return out
    }
}
