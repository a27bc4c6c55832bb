/// The documented exit codes of `gilcheck lint`.
public enum ExitStatus: Int32, Sendable, Comparable {
    /// No findings at or above the failure severity.
    case clean = 0
    /// At least one finding.
    case findings = 1
    /// Bad flags, a bad rules or config file, or a missing or unreadable input.
    case usage = 2
    /// An input could not be analyzed (libclang reported errors parsing it).
    case inputNotAnalyzed = 3
    /// A bug in gilcheck.
    case internalError = 4

    /// Which status wins when several apply: usage problems first, then unanalyzable input, then findings.
    var priority: Int {
        switch self {
        case .clean: return 0
        case .findings: return 1
        case .inputNotAnalyzed: return 2
        case .usage: return 3
        case .internalError: return 4
        }
    }

    public static func < (a: ExitStatus, b: ExitStatus) -> Bool { a.priority < b.priority }
}
