import Analysis
import Diagnostics
import Foundation

/// An inline suppression: `// gilcheck: ignore[rule-id] reason` or `/* gilcheck: ignore[a, b] reason */`.
/// It silences findings of those rules on the lines the comment spans and on the line after it; `ignore[*]`
/// silences every rule there.
struct Suppression: Sendable, Hashable {
    var file: String
    var line: Int
    var column: Int
    var endLine: Int
    var ruleIds: [String]

    func covers(_ d: Diagnostic) -> Bool {
        d.line >= line && d.line <= endLine + 1 && (ruleIds.contains("*") || ruleIds.contains(d.ruleId))
    }

    /// Whether `gilcheck:` occurs anywhere in `text` (most files have no suppression to scan for).
    static func mentionsMarker(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        let marker = Array("gilcheck:".utf8)
        guard let base = text.baseAddress, text.count >= marker.count else { return false }
        var at = 0
        while at <= text.count - marker.count {
            guard let hit = memchr(base + at, Int32(marker[0]), text.count - marker.count + 1 - at) else { return false }
            let i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(base + i, marker, marker.count) == 0 { return true }
            at = i + 1
        }
        return false
    }

    /// Every suppression comment of `text` (comments only: never inside a string literal).
    static func scan(_ text: UnsafeBufferPointer<UInt8>, file: String) -> [Suppression] {
        var found: [Suppression] = []
        var i = 0, line = 1, lineStart = 0
        let n = text.count
        func record(_ start: Int, _ end: Int, startLine: Int, column: Int, endLine: Int) {
            let body = String(decoding: text[start..<end], as: UTF8.self)
            guard let marker = body.range(of: "gilcheck:") else { return }
            let rest = body[marker.upperBound...].drop { $0 == " " || $0 == "\t" }
            guard rest.hasPrefix("ignore["), let close = rest.firstIndex(of: "]") else { return }
            let ids = rest[rest.index(rest.startIndex, offsetBy: "ignore[".count)..<close]
                .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !ids.isEmpty else { return }
            found.append(Suppression(file: file, line: startLine, column: column, endLine: endLine, ruleIds: ids))
        }
        while i < n {
            let c = text[i]
            if c == 10 {
                line += 1
                lineStart = i + 1
                i += 1
            } else if c == 47, i + 1 < n, text[i + 1] == 47 {
                let start = i, column = i - lineStart + 1
                while i < n, text[i] != 10 { i += 1 }
                record(start, i, startLine: line, column: column, endLine: line)
            } else if c == 47, i + 1 < n, text[i + 1] == 42 {
                let start = i, startLine = line, column = i - lineStart + 1
                i += 2
                while i + 1 < n, !(text[i] == 42 && text[i + 1] == 47) {
                    if text[i] == 10 { line += 1; lineStart = i + 1 }
                    i += 1
                }
                i = min(n, i + 2)
                record(start, i, startLine: startLine, column: column, endLine: line)
            } else if c == 34 || c == 39 {
                i += 1
                while i < n, text[i] != c, text[i] != 10 {
                    if text[i] == 92 { i += 1 }
                    i += 1
                }
                i += 1
            } else {
                i += 1
            }
        }
        return found
    }
}

/// Applies the suppressions of the files that have findings; with `reportUnused`, also reads `extraFiles`
/// and reports the comments that silenced nothing as `unused-suppression` findings.
struct SuppressionFilter {
    var reportUnused: Bool
    var severity: Severity

    struct Result {
        var kept: [Diagnostic]
        var suppressed: Int
        var unused: [Diagnostic]
    }

    func apply(_ diagnostics: [Diagnostic], extraFiles: [String]) -> Result {
        var files = Set(diagnostics.map(\.file))
        if reportUnused { files.formUnion(extraFiles) }
        var byFile: [String: [Suppression]] = [:]
        for file in files.sorted() {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            // Read in place (a generated file is 12 MB), and only where the marker occurs at all.
            let list = data.withUnsafeBytes { raw -> [Suppression] in
                let bytes = raw.bindMemory(to: UInt8.self)
                guard Suppression.mentionsMarker(bytes) else { return [] }
                return Suppression.scan(bytes, file: file)
            }
            if !list.isEmpty { byFile[file] = list }
        }
        var used = Set<Suppression>()
        var usedIds: [Suppression: Set<String>] = [:]
        var kept: [Diagnostic] = []
        var suppressed = 0
        for d in diagnostics {
            if let s = byFile[d.file]?.first(where: { $0.covers(d) }) {
                used.insert(s)
                usedIds[s, default: []].insert(s.ruleIds.contains(d.ruleId) ? d.ruleId : "*")
                suppressed += 1
            } else {
                kept.append(d)
            }
        }
        var unused: [Diagnostic] = []
        if reportUnused {
            let known = Set(RuleID.allCases.map(\.rawValue))
            for (file, list) in byFile.sorted(by: { $0.key < $1.key }) {
                for s in list {
                    for id in s.ruleIds where !(usedIds[s]?.contains(id) ?? false) {
                        let why = id == "*" || known.contains(id)
                            ? "suppression of '\(id)' silences no finding on this line or the next; delete it"
                            : "suppression names unknown rule '\(id)'; `gilcheck rules` lists them"
                        unused.append(Diagnostic(ruleId: RuleID.unusedSuppression.rawValue, severity: severity,
                                                 file: file, line: s.line, column: s.column, function: nil, message: why))
                    }
                }
            }
        }
        return Result(kept: kept, suppressed: suppressed, unused: unused)
    }
}
