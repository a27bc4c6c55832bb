import Foundation
import Synchronization
import WorkerThreads

/// Turns a fatal signal during `gilcheck lint` (a crash inside libclang or gilcheck itself) into a documented
/// outcome instead of a signal death (139) that CI scripts read as something else.
///
/// When the crashing thread was working on one input file (CrashAttribution), the handler runs gilcheck again
/// in place (execve of the same binary with the same arguments), with that file added to
/// `GILCHECK_CRASHED_INPUTS`: the new attempt reports it as not analyzed (exit 3) and analyzes every other file.
/// Exec throws away the whole address space, so no lock a crashed thread held (malloc's, libclang's) survives
/// into the attempt, which is what makes this safe where jumping back into the process is not. Otherwise, or
/// after `maximumCrashes` files, it prints one line, removes the report the run would have written (no stale
/// report of an earlier run is left) and exits with the internal-error status, 4.
///
/// Everything the handler touches is allocated at install time; it calls only async-signal-safe functions
/// (write, unlink, sigprocmask, execve, _exit) and reads the crashing thread's thread-specific slot.
enum CrashHandler {
    /// The environment variable naming the files earlier attempts crashed on, one `SIGNAL<TAB>PATH` a line.
    static let crashedInputsVariable = "GILCHECK_CRASHED_INPUTS"
    /// Files a run may crash on before it gives up with status 4.
    static let maximumCrashes = 8

    /// The files earlier attempts of this run crashed on, from the environment (path → signal number).
    static func crashedInputs(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: Int32] {
        var result: [String: Int32] = [:]
        for line in (environment[crashedInputsVariable] ?? "").split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, let signal = Int32(parts[0]) else { continue }
            result[String(parts[1])] = signal
        }
        return result
    }

    /// Installs the handler on the signals a crash raises. `removeOnCrash`: files to delete when the run gives
    /// up (the report it would have written, and that report's temporary file).
    static func install(status: Int32, removeOnCrash: [String] = []) {
        CrashAttribution.prepare()
        let state = State(status: status, removeOnCrash: removeOnCrash)
        self.state = state
        // An alternate stack, so that the handler also runs when the crash is a stack overflow on this thread;
        // the threads gilcheck starts get their own (WorkerThread).
        SignalStack.install()
        // exec keeps the signal mask: an attempt started from inside the handler would have these blocked.
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in handledSignals { sigaddset(&mask, signal) }
        sigprocmask(SIG_UNBLOCK, &mask, nil)
        for signal in handledSignals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in CrashHandler.handle(signal) }
            action.sa_flags = Int32(SA_ONSTACK)
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }

    private static let handledSignals = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP]
    nonisolated(unsafe) private static var state: State?
    /// Set by the first crashing thread; any other that crashes meanwhile waits for the exec or the exit.
    private static let entered = Atomic<Bool>(false)

    private static func handle(_ signal: Int32) {
        guard let state else { _exit(4) }
        guard entered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            while true { pause() }
        }
        let path = CrashAttribution.currentPath()
        if let path, state.prepareRestart(signal: signal, path: path) {
            state.emit("gilcheck: crashed (")
            state.emit(signalName(signal))
            state.emit(") while analyzing ")
            state.emit(path)
            state.emit("; analyzing the other files again without it\n")
            sigprocmask(SIG_UNBLOCK, &state.mask, nil)
            execve("/proc/self/exe", state.argv, state.envp)
            // exec failed: give up below.
        }
        state.emit("gilcheck: internal error: crashed (")
        state.emit(signalName(signal))
        if let path {
            state.emit(" while analyzing ")
            state.emit(path)
        }
        state.emit("; a bug in gilcheck or libclang; please report it with the input that triggers it)\n")
        for file in state.removeOnCrash { unlink(file) }
        _exit(state.status)
    }

    private static func signalName(_ signal: Int32) -> StaticString {
        switch signal {
        case SIGSEGV: return "SIGSEGV"
        case SIGBUS: return "SIGBUS"
        case SIGILL: return "SIGILL"
        case SIGFPE: return "SIGFPE"
        case SIGABRT: return "SIGABRT"
        case SIGTRAP: return "SIGTRAP"
        default: return "a fatal signal"
        }
    }

    /// What the handler needs, allocated before any signal can arrive.
    private final class State {
        let status: Int32
        let removeOnCrash: [UnsafeMutablePointer<CChar>]
        /// The same arguments, for the next attempt.
        let argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
        /// This process's environment with `GILCHECK_CRASHED_INPUTS` last, pointing at `value`.
        let envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
        /// `GILCHECK_CRASHED_INPUTS=` and the earlier lines; the handler appends one line.
        let value: UnsafeMutablePointer<CChar>
        let valueCapacity: Int
        let valuePrefix: Int
        /// The files earlier attempts crashed on.
        let crashedBefore: [UnsafeMutablePointer<CChar>]
        var mask = sigset_t()

        init(status: Int32, removeOnCrash: [String]) {
            self.status = status
            self.removeOnCrash = removeOnCrash.map { strdup($0) }
            let arguments = CommandLine.arguments
            argv = .allocate(capacity: arguments.count + 1)
            for (i, a) in arguments.enumerated() { argv[i] = strdup(a) }
            argv[arguments.count] = nil

            let environment = ProcessInfo.processInfo.environment
            let earlier = environment[CrashHandler.crashedInputsVariable] ?? ""
            crashedBefore = CrashHandler.crashedInputs(environment: environment).keys.map { strdup($0) }
            let prefix = Array((CrashHandler.crashedInputsVariable + "=" + earlier).utf8CString.dropLast())
            valuePrefix = prefix.count
            valueCapacity = prefix.count + 32 + Int(PATH_MAX) * 2
            value = .allocate(capacity: valueCapacity)
            for (i, c) in prefix.enumerated() { value[i] = c }
            value[prefix.count] = 0
            let others = environment.filter { $0.key != CrashHandler.crashedInputsVariable }.sorted { $0.key < $1.key }
            envp = .allocate(capacity: others.count + 2)
            for (i, entry) in others.enumerated() { envp[i] = strdup("\(entry.key)=\(entry.value)") }
            envp[others.count] = value
            envp[others.count + 1] = nil

            sigemptyset(&mask)
            for signal in CrashHandler.handledSignals { sigaddset(&mask, signal) }
        }

        /// Appends `SIGNAL<TAB>PATH` to the variable; false when the run should give up instead (too many
        /// crashes, the same file again, a path too long for the buffer).
        func prepareRestart(signal: Int32, path: UnsafePointer<CChar>) -> Bool {
            #if os(Linux)
            guard crashedBefore.count < CrashHandler.maximumCrashes else { return false }
            for earlier in crashedBefore where strcmp(earlier, path) == 0 { return false }
            var n = valuePrefix
            let length = strlen(path)
            guard n + length + 6 < valueCapacity, signal > 0, signal < 100 else { return false }
            if signal >= 10 { value[n] = CChar(48 + signal / 10); n += 1 }
            value[n] = CChar(48 + signal % 10)
            n += 1
            value[n] = 9  // tab
            n += 1
            memcpy(value + n, path, length)
            n += length
            value[n] = 10  // newline
            value[n + 1] = 0
            return true
            #else
            return false
            #endif
        }

        func emit(_ text: StaticString) {
            _ = write(STDERR_FILENO, text.utf8Start, text.utf8CodeUnitCount)
        }

        func emit(_ text: UnsafePointer<CChar>) {
            _ = write(STDERR_FILENO, text, strlen(text))
        }
    }
}
