import ClangSupport
import Foundation
import WorkerThreads

/// Runs `body` for indices 0..<count on `workers` threads, each with a large stack (libclang's parser and the
/// CFG builder recurse over deep generated ASTs; the parse runs on this thread, see LibClangProcess) and its own
/// libclang index (an index is never shared between threads). Results
/// come back in index order, so the outcome does not depend on scheduling. With `onCallingThread` and one
/// worker, the calling thread does the work itself (it must have the stack asked for).
func parallelMap<R: Sendable>(count: Int, workers: Int, stackSize: Int = 1 << 30, onCallingThread: Bool = false,
                              _ body: @escaping @Sendable (Int, ClangIndex) -> R) -> [R] {
    guard count > 0 else { return [] }
    if onCallingThread && workers <= 1 {
        let index = ClangIndex()
        return (0..<count).map { body($0, index) }
    }
    let state = WorkState<R>(count: count)
    let threads = max(1, min(workers, count))
    let done = DispatchGroup()
    for _ in 0..<threads {
        done.enter()
        WorkerThread.start(stackSize: stackSize) {
            let index = ClangIndex()
            while let i = state.take() {
                state.store(i, body(i, index))
            }
            done.leave()
        }
    }
    done.wait()
    return state.results()
}

private final class WorkState<R>: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    private var slots: [R?]

    init(count: Int) {
        self.count = count
        slots = Array(repeating: nil, count: count)
    }

    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }

    func store(_ i: Int, _ value: R) {
        lock.lock()
        slots[i] = value
        lock.unlock()
    }

    func results() -> [R] {
        lock.lock()
        defer { lock.unlock() }
        return slots.map { $0! }
    }
}

/// A value shared between worker threads behind a lock.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T

    init(_ value: T) { self.value = value }

    func withValue<R>(_ body: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

