import Foundation
import WorkerThreads

private final class LargeStackBox<T>: @unchecked Sendable {
    var body: (() -> T)?
    var result: T?
    let done = DispatchSemaphore(value: 0)
}

/// Runs `body` on a thread with a large stack and waits for it. The CFG builder and the analysis recurse over
/// the syntax tree, and generated code nests thousands deep (long `else if` chains, huge sums).
func withLargeStack<T>(bytes: Int = 1 << 30, _ body: @escaping () -> T) -> T {
    let box = LargeStackBox<T>()
    box.body = body
    WorkerThread.start(stackSize: bytes) {
        box.result = box.body?()
        box.done.signal()
    }
    box.done.wait()
    guard let result = box.result else { preconditionFailure("the analysis thread ended without a result") }
    return result
}
