import Foundation

/// SARIF 2.1.0 with the rule table, physical locations relative to a base directory, and code flows.
public struct SARIFReporter: Reporter {
    public static let id = "sarif"
    public var baseDirectory: String?

    public init(baseDirectory: String? = nil) { self.baseDirectory = baseDirectory }

    public func render(_ run: AnalysisRun) -> String {
        let base = baseDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        func artifact(_ file: String) -> [String: Any] {
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            if let base, path.hasPrefix(base + "/") {
                return ["uri": percentEncode(String(path.dropFirst(base.count + 1))), "uriBaseId": "%SRCROOT%"]
            }
            return ["uri": "file://" + percentEncode(path)]
        }
        func location(_ file: String, _ line: Int, _ column: Int, _ message: String? = nil) -> [String: Any] {
            var physical: [String: Any] = ["artifactLocation": artifact(file)]
            if line >= 1 { physical["region"] = ["startLine": line, "startColumn": max(column, 1)] }
            var loc: [String: Any] = ["physicalLocation": physical]
            if let message { loc["message"] = ["text": message] }
            return loc
        }
        let sources = SourceCache()
        func level(_ s: Severity) -> String { s == .error ? "error" : s == .warning ? "warning" : "note" }

        let ruleIds = run.rules.map(\.id)
        let rules: [[String: Any]] = run.rules.map { r in
            var help = r.rationale
            var markdown = r.rationale
            if !r.wrong.isEmpty {
                help += "\n\nWrong:\n\(r.wrong)\n\nRight:\n\(r.right)"
                markdown += "\n\nWrong:\n\n```c\n\(r.wrong)\n```\n\nRight:\n\n```c\n\(r.right)\n```"
            }
            let silence = "\n\nTo silence one finding: `// gilcheck: ignore[\(r.id)] reason` on its line or the line before."
            return [
                "id": r.id,
                "name": r.id.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(),
                "shortDescription": ["text": r.summary],
                "fullDescription": ["text": r.rationale],
                "help": ["text": help + silence, "markdown": markdown + silence],
                "defaultConfiguration": ["level": level(r.severity)],
                "properties": ["tags": ["gil", "concurrency"]],
            ]
        }
        var results: [[String: Any]] = []
        for d in run.diagnostics + run.inputErrors {
            var result: [String: Any] = [
                "ruleId": d.ruleId,
                "level": level(d.severity),
                "message": ["text": d.message],
                "locations": [location(d.file, d.line, d.column)],
            ]
            if let i = ruleIds.firstIndex(of: d.ruleId) { result["ruleIndex"] = i }
            // Stable across line shifts: code-scanning services match results between runs with it.
            let snippet = (sources.line(d.file, d.line) ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            result["partialFingerprints"] = ["gilcheckFinding/v1": fingerprint(
                [d.ruleId, (artifact(d.file)["uri"] as? String) ?? d.file, d.function ?? "", snippet].joined(separator: "\u{1F}"))]
            if let f = d.function {
                result["locations"] = [location(d.file, d.line, d.column).merging(
                    ["logicalLocations": [["name": f, "kind": "function"]]]) { a, _ in a }]
            }
            if !d.path.isEmpty {
                let steps = d.path.map { n in ["location": location(n.file, n.line, n.column, n.message)] }
                    + [["location": location(d.file, d.line, d.column, d.message)]]
                result["codeFlows"] = [["threadFlows": [["locations": steps]]]]
            }
            results.append(result)
        }
        var runObject: [String: Any] = [
            "tool": ["driver": [
                "name": "gilcheck",
                "version": run.toolVersion,
                "semanticVersion": run.toolVersion,
                "rules": rules,
            ]],
            "results": results,
            "columnKind": "utf16CodeUnits",
        ]
        if let base {
            runObject["originalUriBaseIds"] = ["%SRCROOT%": ["uri": "file://" + percentEncode(base) + "/"]]
        }
        let document: [String: Any] = [
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [runObject],
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: document,
                                                     options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
              let text = String(data: data, encoding: .utf8) else { return "{}\n" }
        return text + "\n"
    }

    /// 64-bit FNV-1a, as 16 hex digits: a fingerprint, not a security hash.
    private func fingerprint(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    private func percentEncode(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "%")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }
}
