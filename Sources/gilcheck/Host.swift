import ArgumentParser
import Foundation
import TraceReport

/// `gilcheck host LIBRARY --entry NAME…`: the threaded test host under the tracer. The host initializes Python,
/// releases the GIL as real hosts do, calls the library's entry points from many threads with seeded jitter, then
/// takes the GIL back and finalizes; `gilcheck trace` reports what went wrong.
struct Host: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call a shared library's entry points from many threads under the GIL tracer.",
        discussion: """
            Reproduces "render threads call Python node scripts" without the real application. The host \
            (gilcheck-host, installed next to gilcheck) initializes an embedded Python, runs --setup SCRIPT in \
            __main__ if given, releases the GIL, loads LIBRARY and calls each --entry function from --threads \
            threads, --iterations times each, with up to --jitter-us microseconds of seeded random pause between \
            calls; then it joins the threads, takes the GIL back and calls Py_FinalizeEx.

            Entry points have the C signature
                int NAME(int thread_index, int iteration)
            return 0 on success, and are called WITHOUT the GIL (like a host's worker thread): code that uses \
            Python takes it itself with PyGILState_Ensure()/PyGILState_Release().

            Examples:
              gilcheck host ./libnodes.so --entry node_eval --threads 8 --iterations 200
              gilcheck host --setup nodes.py --format html --report run.html ./libnodes.so --entry node_eval
              gilcheck host --seed 7 --hang-timeout 2s ./libaudio.so --entry on_buffer --entry on_param

            Exit status: as for gilcheck trace (0 clean, 1 findings, 2 usage, 3 the host failed: an entry point \
            returned non-zero, or the library could not be loaded, 4 internal error, 5 hang).
            """)

    @OptionGroup var options: TraceOptions
    @Option(name: .long, help: ArgumentHelp("A function to call: int NAME(int thread_index, int iteration). Repeatable.", valueName: "NAME"))
    var entry: [String] = []
    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 4
    @Option(name: .long, help: "Calls of each entry point per thread.")
    var iterations: Int = 100
    @Option(name: .long, help: "Seed of the random jitter between calls (the same seed gives the same pauses).")
    var seed: Int = 1
    @Option(name: .customLong("jitter-us"), help: "Up to this many microseconds of random pause between calls (0: none).")
    var jitterUs: Int = 200
    @Option(name: .long, help: ArgumentHelp("A Python script to run in __main__ before the threads start.", valueName: "FILE.py"))
    var setup: String?
    @Argument(help: ArgumentHelp("The shared library whose entry points to call.", valueName: "LIBRARY"))
    var library: String

    func validate() throws {
        if entry.isEmpty { throw ValidationError("name at least one --entry function to call") }
        if threads < 1 || threads > 4096 { throw ValidationError("--threads must be between 1 and 4096") }
        if iterations < 0 { throw ValidationError("--iterations must not be negative") }
        if seed < 0 { throw ValidationError("--seed must not be negative") }
        if jitterUs < 0 { throw ValidationError("--jitter-us must not be negative") }
        if !FileManager.default.isReadableFile(atPath: library) {
            throw ValidationError("\(library): no such library (give the path of a .so, e.g. ./libnodes.so)")
        }
        if let setup, !FileManager.default.isReadableFile(atPath: setup) {
            throw ValidationError("--setup \(setup): no such file")
        }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let candidates = [environment["GILCHECK_HOST"]].compactMap { $0 }.filter { !$0.isEmpty }
            + installedCompanionPaths("gilcheck-host", executablePath: gilcheckExecutablePath())
        guard let host = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            FileHandle.standardError.write(Data("gilcheck host: the test host is not built (looked for \(candidates.joined(separator: ", "))); run `swift build --product gilcheck-host`\n".utf8))
            throw ExitCode(2)
        }
        // The host dlopens the library: a path without a slash would be searched for, not taken from here.
        let libraryPath = library.contains("/") ? library : "./" + library
        var arguments = [host, libraryPath]
        for e in entry { arguments += ["--entry", e] }
        arguments += ["--threads", String(threads), "--iterations", String(iterations), "--seed", String(seed),
                      "--jitter-us", String(jitterUs)]
        if let setup { arguments += ["--setup", setup] }
        try options.runAndReport(command: arguments)
    }
}
