import ArgumentParser

let lintSubcommands: [any ParsableCommand.Type] = [DumpAST.self]
