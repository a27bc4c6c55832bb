import Foundation

/// The JSON report (schema version 1, documented in docs/json-schema.md).
public struct JSONReporter: Reporter {
    public static let id = "json"
    public init() {}

    struct Document: Encodable {
        var schemaVersion = 1
        var tool: Tool
        var findings: [Diagnostic]
        var errors: [Diagnostic]
        var summary: Summary
    }
    struct Tool: Encodable { var name: String; var version: String }
    struct Summary: Encodable {
        var files: Int
        var functions: Int
        var findings: Int
        var errors: Int
        var warnings: Int
        var notes: Int
    }

    public func render(_ run: AnalysisRun) -> String {
        let doc = Document(
            tool: Tool(name: "gilcheck", version: run.toolVersion), findings: run.diagnostics, errors: run.inputErrors,
            summary: Summary(files: run.filesAnalyzed, functions: run.functionsAnalyzed, findings: run.diagnostics.count,
                             errors: run.diagnostics.filter { $0.severity == .error }.count,
                             warnings: run.diagnostics.filter { $0.severity == .warning }.count,
                             notes: run.diagnostics.filter { $0.severity == .note }.count))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(doc), let text = String(data: data, encoding: .utf8) else { return "{}\n" }
        return text + "\n"
    }
}

/// GitHub Actions workflow commands, one per finding. Paths under the base directory (the checkout, when run
/// from its root) are made relative to it, as annotations expect.
public struct GitHubReporter: Reporter {
    public static let id = "github"
    public var baseDirectory: String?

    public init(baseDirectory: String? = nil) { self.baseDirectory = baseDirectory }

    private func shown(_ file: String) -> String {
        guard let base = baseDirectory.map({ URL(fileURLWithPath: $0).standardizedFileURL.path }), file.hasPrefix("/") else {
            return file
        }
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        return path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : file
    }

    public func render(_ run: AnalysisRun) -> String {
        var out = ""
        for d in run.inputErrors + run.diagnostics {
            let level = d.severity == .error ? "error" : d.severity == .warning ? "warning" : "notice"
            var props = ["file=\(escapeProperty(shown(d.file)))"]
            if d.line > 0 { props += ["line=\(d.line)", "col=\(d.column)"] }
            props.append("title=\(escapeProperty("gilcheck \(d.ruleId)"))")
            out += "::\(level) \(props.joined(separator: ","))::\(escapeData(d.message + " [\(d.ruleId)]"))\n"
        }
        return out
    }

    private func escapeData(_ s: String) -> String {
        s.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    private func escapeProperty(_ s: String) -> String {
        escapeData(s).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}
