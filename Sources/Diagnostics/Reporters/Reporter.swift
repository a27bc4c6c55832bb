import Foundation

/// Renders an `AnalysisRun` in one output format.
public protocol Reporter: Sendable {
    static var id: String { get }
    func render(_ run: AnalysisRun) -> String
}

public enum OutputFormat: String, CaseIterable, Sendable {
    case text, json, sarif, github

    public func reporter(color: Bool = false, baseDirectory: String? = nil) -> any Reporter {
        switch self {
        case .text: return TextReporter(color: color)
        case .json: return JSONReporter()
        case .sarif: return SARIFReporter(baseDirectory: baseDirectory)
        case .github: return GitHubReporter(baseDirectory: baseDirectory)
        }
    }
}

/// Reads source lines for excerpts, caching each file.
final class SourceCache: @unchecked Sendable {
    private var files: [String: [Substring]] = [:]

    func line(_ file: String, _ line: Int) -> String? {
        if files[file] == nil {
            let text = (try? String(contentsOfFile: file, encoding: .utf8))
                ?? (try? String(contentsOfFile: file, encoding: .isoLatin1)) ?? ""
            files[file] = text.split(separator: "\n", omittingEmptySubsequences: false)
        }
        guard let lines = files[file], line >= 1, line <= lines.count else { return nil }
        return String(lines[line - 1]).replacingOccurrences(of: "\r", with: "")
    }
}
