import ArgumentParser

let lintSubcommands: [any ParsableCommand.Type] = []
