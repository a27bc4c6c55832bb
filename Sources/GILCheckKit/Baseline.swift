import APIModel
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

        public init(rule: String, file: String, function: String, snippet: String, count: Int) {
            (self.rule, self.file, self.function, self.snippet, self.count) = (rule, file, function, snippet, count)
        }

        enum CodingKeys: String, CodingKey { case rule, file, function, snippet, count }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            rule = try c.decode(String.self, forKey: .rule)
            file = try c.decode(String.self, forKey: .file)
            function = try c.decode(String.self, forKey: .function)
            snippet = try c.decode(String.self, forKey: .snippet)
            // Decoded as a number first, so that 1.5 is reported at its key rather than as broken JSON.
            let number = try c.decode(Double.self, forKey: .count)
            guard number == number.rounded(), abs(number) < 1e15 else {
                throw DecodingError.dataCorruptedError(forKey: .count, in: c, debugDescription: "not \(number)")
            }
            count = Int(number)
        }
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
        let data: Data
        do {
            data = try SettingsFile.read(path, limit: SettingsFile.baselineSizeLimit)
        } catch {
            throw LintError.baseline("\(path): cannot read the baseline: \(error) (write one with --write-baseline \(path))")
        }
        do {
            _ = try JSONSerialization.jsonObject(with: data)
        } catch {
            let why = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
            throw LintError.baseline("\(path): not a gilcheck baseline: not valid JSON: \(why)")
        }
        let baseline: Baseline
        do {
            baseline = try JSONDecoder().decode(Baseline.self, from: data)
        } catch {
            throw LintError.baseline("\(path): not a gilcheck baseline: \(describe(error))")
        }
        guard baseline.version == 1 else {
            throw LintError.baseline("\(path): unsupported baseline version \(baseline.version) (this gilcheck reads version 1)")
        }
        for (i, entry) in baseline.findings.enumerated() where entry.count < 1 {
            throw LintError.baseline("\(path): `findings[\(i)].count` must be a whole number of at least 1 (how many identical findings it accepts), not \(entry.count)")
        }
        return baseline
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
        func place(_ path: [CodingKey]) -> String {
            var text = ""
            for key in path {
                if let i = key.intValue { text += "[\(i)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
            return text.isEmpty ? "the top level" : "`\(text)`"
        }
        let expected: [String: String] = [
            "version": "the number 1", "tool": "the string \"gilcheck\"", "findings": "a list of entries",
            "rule": "a rule id (string)", "file": "a path (string)", "function": "a function name (string)",
            "snippet": "the finding's source line (string)",
            "count": "a whole number of at least 1 (how many identical findings it accepts)",
        ]
        func what(_ path: [CodingKey]) -> String {
            guard let last = path.last(where: { $0.intValue == nil }) else { return "an object" }
            return expected[last.stringValue] ?? "another type"
        }
        switch error {
        case DecodingError.keyNotFound(let key, let c):
            let inside = c.codingPath.isEmpty ? "" : " in \(place(c.codingPath))"
            return "missing key '\(key.stringValue)'\(inside); expected \(what(c.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "\(place(c.codingPath)) must be \(what(c.codingPath))"
        case DecodingError.dataCorrupted(let c):
            // A number of the wrong kind (1.5 where a whole number belongs).
            return "\(place(c.codingPath)) must be \(what(c.codingPath)); \(c.debugDescription)"
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
