import Foundation

/// clang-style text: `file:line:col: error: message [rule-id]`, the source line with a caret, then the path.
public struct TextReporter: Reporter {
    public static let id = "text"
    public var color: Bool

    public init(color: Bool = false) { self.color = color }

    public func render(_ run: AnalysisRun) -> String {
        let sources = SourceCache()
        var out = ""
        for d in run.inputErrors {
            out += location(d.file, d.line, d.column) + paint("error: ", .red) + d.message + " [\(d.ruleId)]\n"
        }
        for d in run.diagnostics {
            let label: String
            switch d.severity {
            case .error: label = paint("error: ", .red)
            case .warning: label = paint("warning: ", .magenta)
            case .note: label = paint("note: ", .cyan)
            }
            out += location(d.file, d.line, d.column) + label + bold(d.message) + " [\(d.ruleId)]\n"
            if let line = sources.line(d.file, d.line) {
                out += line + "\n" + caret(line, d.column) + "\n"
            }
            for n in d.path {
                out += location(n.file, n.line, n.column) + paint("note: ", .cyan) + n.message + "\n"
            }
        }
        let errors = run.diagnostics.filter { $0.severity == .error }.count
        let warnings = run.diagnostics.filter { $0.severity == .warning }.count
        if !run.diagnostics.isEmpty || !run.inputErrors.isEmpty {
            var parts: [String] = []
            if errors > 0 { parts.append("\(errors) error\(errors == 1 ? "" : "s")") }
            if warnings > 0 { parts.append("\(warnings) warning\(warnings == 1 ? "" : "s")") }
            if !run.inputErrors.isEmpty {
                parts.append("\(run.inputErrors.count) input problem\(run.inputErrors.count == 1 ? "" : "s")")
            }
            if !parts.isEmpty { out += parts.joined(separator: " and ") + " generated.\n" }
        }
        return out
    }

    private func location(_ file: String, _ line: Int, _ column: Int) -> String {
        let text = line > 0 ? "\(file):\(line):\(column): " : "\(file): "
        return bold(text)
    }

    /// Spaces up to the column, keeping tabs so that the caret lines up in a terminal.
    private func caret(_ line: String, _ column: Int) -> String {
        let bytes = Array(line.utf8.prefix(max(0, column - 1)))
        let pad = bytes.map { $0 == UInt8(ascii: "\t") ? "\t" : " " }.joined()
        return pad + paint("^", .green)
    }

    enum Color: String { case red = "31", magenta = "35", cyan = "36", green = "32" }

    private func paint(_ s: String, _ c: Color) -> String { color ? "\u{1B}[1;\(c.rawValue)m\(s)\u{1B}[0m" : s }
    private func bold(_ s: String) -> String { color ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
}
