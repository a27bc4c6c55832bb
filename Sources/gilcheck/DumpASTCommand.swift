import ArgumentParser
import ClangSupport
import Foundation

struct DumpAST: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-ast",
        abstract: "Print libclang's view of the functions in a file (for debugging gilcheck).",
        shouldDisplay: false)

    @Argument(help: "A C or C++ file.") var file: String
    @Option(help: "Only this function.") var function: String?

    func run() throws {
        let index = ClangIndex()
        let tu = try index.parse(path: file, arguments: CompilerFlags.passthrough)
        var out = ""
        for child in tu.root.children where !child.isInSystemHeader {
            if let function, child.spelling != function { continue }
            child.dump(into: &out)
        }
        print(out, terminator: "")
    }
}
