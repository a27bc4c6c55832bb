import ArgumentParser

@main
struct GILCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gilcheck",
        abstract: "Find GIL mistakes in C and C++ code that calls CPython from more than one thread.",
        version: "0.1.0",
        subcommands: lintSubcommands + tracerSubcommands,
        defaultSubcommand: nil)
}
