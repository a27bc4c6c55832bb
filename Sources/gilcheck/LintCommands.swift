import Analysis
import ArgumentParser
import Diagnostics
import Foundation
import GILCheckKit

let lintSubcommands: [any ParsableCommand.Type] = [Lint.self, Rules.self, Explain.self, DumpAST.self]

extension OutputFormat: ExpressibleByArgument {}

enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}

/// Ends the process with a documented status, after printing `message` (if any) to stderr.
func exitWith(_ status: ExitStatus, message: String? = nil) -> Never {
    if let message { FileHandle.standardError.write(Data(("gilcheck: " + message + "\n").utf8)) }
    exit(status.rawValue)
}

struct Lint: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow every path of every function and report GIL mistakes.",
        discussion: """
            Parses each file with libclang (Python's headers are found automatically) and reports paths that \
            leak a PyGILState_Ensure state, release what is not held, leave Py_BEGIN_ALLOW_THREADS without \
            re-acquiring the GIL, call the Python API without the GIL, and the other rules of `gilcheck rules`.

            Examples:
              gilcheck lint worker.c
              gilcheck lint src/*.c -- -Iinclude -DWITH_THREADS=1
              gilcheck lint --format json --output findings.json ext.c
              gilcheck lint --rules myproject-gil.yml ext.c

            Exit status: 0 no findings; 1 findings; 2 usage or configuration error (bad flag, bad rules file, \
            missing input); 3 an input could not be analyzed (parse errors; other files are still analyzed); \
            4 internal error.
            """)

    @Argument(help: "C or C++ source files.") var files: [String] = []
    @Option(name: .long, help: "Output format: text, json, sarif or github.") var format: OutputFormat = .text
    @Option(name: [.short, .long], help: "Write the report to this file instead of stdout.") var output: String?
    @Option(name: .customLong("rules"), help: "An extra rules file (repeatable) describing the project's wrappers.")
    var rulesFiles: [String] = []
    @Option(name: .customLong("only"), help: "Report only these rule ids (comma-separated).") var only: String?
    @Option(name: .customLong("disable"), help: "Do not report these rule ids (comma-separated).") var disable: String?
    @Option(name: .customLong("python-include"), help: "Directory with Python.h (default: found automatically).")
    var pythonInclude: [String] = []
    @Option(help: "Colored text output: auto, always or never.") var color: ColorChoice = .auto
    @Option(name: .customLong("base-dir"), help: "Base directory for relative paths in SARIF output.") var baseDir: String?
    @Option(name: .customLong("dump-cfg"), help: "Print the control-flow graph of this function (Graphviz) and exit.")
    var dumpCFG: String?

    func run() throws {
        guard !files.isEmpty else { exitWith(.usage, message: LintError.noInputs.description) }
        let split: (String?) -> Set<String>? = { $0.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) } }
        let options = LintOptions(inputs: files, clangArguments: CompilerFlags.passthrough, rulesFiles: rulesFiles,
                                  pythonIncludes: pythonInclude.isEmpty ? nil : pythonInclude,
                                  enabledRules: split(only), disabledRules: split(disable) ?? [])
        let session: LintSession
        do {
            session = try LintSession(options: options)
        } catch {
            exitWith(.usage, message: "\(error)")
        }
        if let dumpCFG {
            do {
                guard let dot = try session.dumpCFG(file: files[0], function: dumpCFG) else {
                    exitWith(.usage, message: "no definition of '\(dumpCFG)' in \(files[0])")
                }
                print(dot, terminator: "")
                return
            } catch {
                exitWith(.inputNotAnalyzed, message: "\(error)")
            }
        }
        let outcome = session.run()
        let useColor: Bool
        switch color {
        case .always: useColor = true
        case .never: useColor = false
        case .auto: useColor = output == nil && isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        }
        let text = format.reporter(color: useColor && format == .text,
                                   baseDirectory: baseDir ?? FileManager.default.currentDirectoryPath).render(outcome.run)
        if let output {
            do {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                exitWith(.usage, message: "cannot write \(output): \(error.localizedDescription)")
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        if format != .text {
            for e in outcome.run.inputErrors {
                let where_ = e.line > 0 ? "\(e.file):\(e.line):\(e.column): " : ""
                FileHandle.standardError.write(Data("gilcheck: \(where_)\(e.message)\n".utf8))
            }
        }
        if outcome.status != .clean { throw ExitCode(outcome.status.rawValue) }
    }
}

struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every rule with its id, severity and summary.")

    func run() {
        for r in RuleCatalog.all {
            print("\(r.id.padding(toLength: 24, withPad: " ", startingAt: 0)) \(r.severity.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(r.summary)")
        }
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain a rule: what it catches, why it hangs or crashes, a wrong and a right example.",
        discussion: "Example: gilcheck explain ensure-leak")

    @Argument(help: "A rule id from `gilcheck rules`.") var rule: String

    func run() throws {
        guard let id = RuleID(rawValue: rule) else {
            exitWith(.usage, message: "unknown rule '\(rule)'; `gilcheck rules` lists them")
        }
        let r = id.info
        var out = "\(r.id) (\(r.severity.rawValue)): \(r.summary)\n\n\(r.rationale)\n"
        if !r.wrong.isEmpty {
            out += "\nWrong:\n\n\(indent(r.wrong))\n\nRight:\n\n\(indent(r.right))\n"
        }
        out += "\nTo silence one finding, put `// gilcheck: ignore[\(r.id)] reason` on its line or the line before;\n"
        out += "to turn the rule off, pass `--disable \(r.id)`.\n"
        print(out, terminator: "")
    }

    private func indent(_ s: String) -> String { s.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n") }
}
