import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Threads of our own for the work that recurses over deep syntax trees (parsing, CFG lowering, path
/// exploration). Each has the stack size asked for and an alternate signal stack, so that a crash handler also
/// runs when the crash is a stack overflow on that thread (the alternate stack is per thread).
public enum WorkerThread {
    /// Starts `body` on a new thread with `stackSize` bytes of stack; returns at once.
    public static func start(stackSize: Int, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            let stack = SignalStack.install()
            body()
            SignalStack.remove(stack)
        }
        thread.stackSize = stackSize
        thread.start()
    }
}

/// The alternate stack signal handlers run on (sigaltstack), one per thread.
public enum SignalStack {
    static var size: Int { max(64 * 1024, Int(MINSIGSTKSZ) * 4) }

    /// Gives the calling thread an alternate signal stack; the result is for `remove`.
    @discardableResult
    public static func install() -> UnsafeMutableRawPointer {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        var stack = stack_t()
        stack.ss_sp = memory
        stack.ss_size = size
        stack.ss_flags = 0
        sigaltstack(&stack, nil)
        return memory
    }

    /// Takes the calling thread's alternate stack away and frees it.
    public static func remove(_ memory: UnsafeMutableRawPointer) {
        var off = stack_t()
        off.ss_flags = Int32(SS_DISABLE)
        sigaltstack(&off, nil)
        memory.deallocate()
    }
}

/// Which input file each thread is working on, so that a crash handler can name the file that crashed the run
/// (and the run can start again without it). One thread-specific slot; reading it is async-signal-safe.
public enum CrashAttribution {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Creates the slot; call before a signal handler may read it.
    public static func prepare() { _ = key }

    /// Runs `body` with `path` recorded as the calling thread's current input (nested calls restore the outer one).
    public static func working<R>(on path: String, _ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(key)
        let copy = strdup(path)
        pthread_setspecific(key, copy)
        defer {
            pthread_setspecific(key, previous)
            free(copy)
        }
        return try body()
    }

    /// The calling thread's current input, or nil. For signal handlers: it only reads the thread's slot.
    public static func currentPath() -> UnsafePointer<CChar>? {
        pthread_getspecific(key).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) }
    }
}
