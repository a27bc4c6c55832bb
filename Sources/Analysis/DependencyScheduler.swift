import Foundation
import WorkerThreads

/// Runs `body(k)` for k in 0..<count on `workers` threads, each `k` only after every index of
/// `dependencies[k]` (all lower than k) has finished; among the ready ones the lowest index goes first. Results
/// come back in index order, so the outcome is the sequential one whatever the scheduling. `finished` hears
/// each result as it completes (on the finishing thread, one at a time).
func runInDependencyOrder<R>(count: Int, dependencies: [[Int]], workers: Int, stackSize: Int = 1 << 30,
                             finished: ((Int, R) -> Void)? = nil, _ body: @escaping (Int) -> R) -> [R] {
    if workers <= 1 || count < 2 {
        return (0..<count).map { k in
            let r = body(k)
            finished?(k, r)
            return r
        }
    }
    let state = SchedulerState<R>(count: count, dependencies: dependencies, finished: finished)
    // The body only reads what it captured (the functions, the call graph) and writes through locks.
    let work = UncheckedBox(body)
    let done = DispatchGroup()
    for _ in 0..<min(workers, count) {
        done.enter()
        WorkerThread.start(stackSize: stackSize) {
            while let k = state.take() {
                state.complete(k, work.value(k))
            }
            done.leave()
        }
    }
    done.wait()
    return state.results()
}

private final class SchedulerState<R>: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [Int]
    private var dependents: [[Int]]
    private var ready = MinHeap()
    private var remaining: Int
    private var slots: [R?]
    private let finished: ((Int, R) -> Void)?

    init(count: Int, dependencies: [[Int]], finished: ((Int, R) -> Void)?) {
        pending = dependencies.map(\.count)
        dependents = Array(repeating: [], count: count)
        for (k, deps) in dependencies.enumerated() {
            for d in deps { dependents[d].append(k) }
        }
        for k in 0..<count where pending[k] == 0 { ready.push(k) }
        remaining = count
        slots = Array(repeating: nil, count: count)
        self.finished = finished
    }

    /// The next ready index, waiting while none is ready; nil when everything has been taken.
    func take() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let k = ready.pop() {
                remaining -= 1
                return k
            }
            if remaining == 0 { return nil }
            condition.wait()
        }
    }

    func complete(_ k: Int, _ value: R) {
        condition.lock()
        defer { condition.unlock() }
        slots[k] = value
        finished?(k, value)
        for d in dependents[k] {
            pending[d] -= 1
            if pending[d] == 0 { ready.push(d) }
        }
        condition.broadcast()
    }

    func results() -> [R] {
        condition.lock()
        defer { condition.unlock() }
        return slots.map { $0! }
    }
}

private struct MinHeap {
    private var items: [Int] = []

    mutating func push(_ x: Int) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[parent] > items[i] else { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

/// Values written by one thread and read by others behind a lock.
final class SharedSlots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [T?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    subscript(i: Int) -> T? {
        get { lock.lock(); defer { lock.unlock() }; return slots[i] }
        set { lock.lock(); slots[i] = newValue; lock.unlock() }
    }
}

private final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
