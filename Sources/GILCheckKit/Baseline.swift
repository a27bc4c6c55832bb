import Diagnostics
import Foundation

/// Today's accepted findings, so that a project adopting gilcheck sees only new ones. Entries are matched on
/// rule, file (relative to the base directory), function and the finding's source line with whitespace
/// collapsed — never on line numbers, so edits above a finding do not bring it back.
public struct Baseline: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Hashable {
        public var rule: String
        public var file: String
        public var function: String
        public var snippet: String
        /// How many identical findings (same rule, file, function and snippet) the baseline accepts.
        public var count: Int
    }

    public var version = 1
    public var tool = "gilcheck"
    public var findings: [Entry]

    struct Key: Hashable {
        var rule, file, function, snippet: String
    }

    /// The baseline of `diagnostics`, with files relative to `baseDirectory`.
    public static func make(_ diagnostics: [Diagnostic], baseDirectory: String) -> Baseline {
        let sources = LineReader()
        var counts: [Key: Int] = [:]
        for d in diagnostics { counts[key(d, baseDirectory, sources), default: 0] += 1 }
        let entries = counts.map { Entry(rule: $0.key.rule, file: $0.key.file, function: $0.key.function,
                                         snippet: $0.key.snippet, count: $0.value) }
            .sorted { ($0.file, $0.rule, $0.function, $0.snippet) < ($1.file, $1.rule, $1.function, $1.snippet) }
        return Baseline(findings: entries)
    }

    public static func load(_ path: String) throws -> Baseline {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LintError.baseline("\(path): cannot read the baseline (write one with --write-baseline \(path))")
        }
        do {
            let baseline = try JSONDecoder().decode(Baseline.self, from: data)
            guard baseline.version == 1 else {
                throw LintError.baseline("\(path): unsupported baseline version \(baseline.version) (this gilcheck reads version 1)")
            }
            return baseline
        } catch let e as LintError {
            throw e
        } catch {
            throw LintError.baseline("\(path): not a gilcheck baseline: \(describe(error))")
        }
    }

    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The findings the baseline does not accept (each entry absorbs up to `count` matching findings).
    public func newFindings(_ diagnostics: [Diagnostic], baseDirectory: String) -> [Diagnostic] {
        let sources = LineReader()
        var remaining: [Key: Int] = [:]
        for e in findings {
            remaining[Key(rule: e.rule, file: e.file, function: e.function, snippet: e.snippet), default: 0] += e.count
        }
        return diagnostics.filter { d in
            let k = Self.key(d, baseDirectory, sources)
            guard let left = remaining[k], left > 0 else { return true }
            remaining[k] = left - 1
            return false
        }
    }

    static func key(_ d: Diagnostic, _ base: String, _ sources: LineReader) -> Key {
        Key(rule: d.ruleId, file: relativePath(d.file, to: base), function: d.function ?? "",
            snippet: normalizedSnippet(sources.line(d.file, d.line) ?? ""))
    }

    /// The line with runs of whitespace collapsed to one space and trimmed.
    static func normalizedSnippet(_ line: String) -> String {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).joined(separator: " ")
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let c):
            return ((c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String) ?? c.debugDescription
        default: return "\(error)"
        }
    }
}

/// `file` relative to `base` when it lies under it; else as an absolute path.
func relativePath(_ file: String, to base: String) -> String {
    let path = absolutize(file)
    let root = absolutize(base)
    if root == "/" { return String(path.dropFirst()) }
    return path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
}

/// Reads source lines, caching each file.
final class LineReader {
    private var files: [String: [Substring]] = [:]

    func line(_ file: String, _ line: Int) -> String? {
        if files[file] == nil {
            let data = FileManager.default.contents(atPath: file) ?? Data()
            files[file] = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        }
        guard let lines = files[file], line >= 1, line <= lines.count else { return nil }
        return String(lines[line - 1])
    }
}
