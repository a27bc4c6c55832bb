import Foundation

/// Turns a fatal signal during `gilcheck lint` (a crash inside libclang or gilcheck itself) into the documented
/// internal-error status, 4, with a one-line message, instead of a signal death (139) that CI scripts read as
/// something else. Only async-signal-safe calls run in the handler.
enum CrashHandler {
    /// The message, built before any signal can arrive.
    nonisolated(unsafe) private static var message: [UInt8] = []

    static func install(status: Int32) {
        message = Array("gilcheck: internal error: crashed (a bug in gilcheck or libclang; please report it with the input that triggers it)\n".utf8)
        exitStatus = status
        // An alternate stack, so that the handler also runs when the crash is a stack overflow on this thread.
        let size = 64 * 1024
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        stack.ss_size = size
        stack.ss_flags = 0
        sigaltstack(&stack, nil)
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in
                CrashHandler.message.withUnsafeBytes { bytes in
                    _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count)
                }
                _exit(CrashHandler.exitStatus)
            }
            action.sa_flags = Int32(SA_ONSTACK)
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }

    nonisolated(unsafe) private static var exitStatus: Int32 = 4
}
