import ArgumentParser

/// The runtime half of the CLI (`trace`, `host`). Owned by the tracer work.
let tracerSubcommands: [any ParsableCommand.Type] = [
    Trace.self,
    Host.self,
]
