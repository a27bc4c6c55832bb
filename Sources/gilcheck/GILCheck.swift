import ArgumentParser
import ClangSupport
import Foundation

@main
struct GILCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gilcheck",
        abstract: "Find GIL mistakes in C and C++ code that calls CPython from more than one thread.",
        discussion: """
            gilcheck lint FILE|DIR... [-- FLAGS]   analyze every path
            gilcheck lint -p BUILD_DIR             use compile_commands.json
            gilcheck rules | explain RULE          what each rule catches
            gilcheck dump-config                   the effective settings

            Examples:
              gilcheck lint src/ -- -Iinclude
              gilcheck lint -p build --format sarif --output gilcheck.sarif
              gilcheck explain ensure-leak
            """,
        version: "0.1.0",
        subcommands: lintSubcommands + tracerSubcommands)

    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        // Before any thread starts: libclang parses on our threads, with its crash recovery off. Only for the
        // commands that parse, so that programs run under `trace` do not inherit the variables.
        if let first = arguments.first, ["lint", "dump-ast"].contains(first) {
            LibClangProcess.parseOnCallingThreads()
            // libclang is loaded at run time (GILCHECK_LIBCLANG, else the build's); say why when it is missing.
            if !arguments.contains(where: { $0 == "--help" || $0 == "-h" }) {
                do {
                    try LibClangProcess.load(path: ProcessInfo.processInfo.environment["GILCHECK_LIBCLANG"])
                } catch {
                    FileHandle.standardError.write(Data("gilcheck: \(error)\n".utf8))
                    Foundation.exit(2)
                }
            }
        }
        // `lint` takes files and then compiler flags after `--`; ArgumentParser cannot hold two open lists,
        // so the flags are split off here.
        if let first = arguments.first, ["lint", "dump-ast"].contains(first), let dash = arguments.firstIndex(of: "--") {
            CompilerFlags.passthrough = Array(arguments[(dash + 1)...])
            arguments = Array(arguments[..<dash])
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            // Usage mistakes exit with 2, the documented status, rather than ArgumentParser's 64.
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Compiler flags given after `--` to `lint`.
enum CompilerFlags {
    nonisolated(unsafe) static var passthrough: [String] = []
}
