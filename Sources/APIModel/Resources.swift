import Yams

/// A kind of paired resource: what a call acquires and another gives back along every path (a critical
/// section, a `PyMutex`, a PEP 788 thread-state token, an interpreter guard). Declared in rules files under
/// `resources:`; the path engine checks every kind the same way: a path that leaves the function holding one
/// (leak), a release of one that is not held (unheld), a release by a call of another kind of the same family
/// (mismatch), a release on the path where the acquisition failed.
public struct ResourceKind: Sendable, Equatable {
    public var name: String
    /// Kinds of one family close each other only by mistake (`Py_BEGIN_CRITICAL_SECTION2` closed by
    /// `Py_END_CRITICAL_SECTION`). Defaults to the kind's name.
    public var family: String
    /// How messages name one ("critical section").
    public var noun: String
    /// Acquiring and releasing calls, each with where the handle lives (`*arg0`: what the first argument points
    /// to, `result`, `arg0`).
    public var acquire: [String: StateSlot]
    public var release: [String: StateSlot]
    /// The rule ids reported.
    public var leakRule: String
    public var unheldRule: String
    public var mismatchRule: String?
    /// The acquisition returns NULL when it fails: nothing is held on that path, and releasing there is a fault
    /// (reported under `failedReleaseRule`, default `leakRule`).
    public var mayFail: Bool
    public var failedReleaseRule: String?
    /// Acquiring attaches a thread state (the thread holds the GIL until the release gives it back).
    public var attaches: Bool
    /// A blocking call while one is held is `blocking-with-gil` (a per-object lock other threads wait for).
    public var blockingInside: Bool
    public var origin: RuleOrigin

    static let keys = ["family", "noun", "acquire", "release", "leak", "unheld", "mismatch", "may-fail", "failed-release",
                       "attaches", "blocking-inside"]

    static func parse(name: String, node: Node, origin: RuleOrigin, fail: (Node, String) -> RulesError) throws -> ResourceKind {
        guard case .mapping(let props) = node else {
            throw fail(node, "resource '\(name)' must be a mapping with `acquire:`, `release:` and `leak:`")
        }
        var kind = ResourceKind(name: name, family: name, noun: name.replacingOccurrences(of: "-", with: " "),
                                acquire: [:], release: [:], leakRule: "", unheldRule: "", mismatchRule: nil,
                                mayFail: false, failedReleaseRule: nil, attaches: false, blockingInside: false,
                                origin: origin)
        func calls(_ value: Node, _ key: String) throws -> [String: StateSlot] {
            guard case .mapping(let map) = value else {
                throw fail(value, "`\(key)` of resource '\(name)' must map function names to where the handle lives (`result`, `argN`, `*argN`)")
            }
            var out: [String: StateSlot] = [:]
            for (fn, slotNode) in map {
                guard let f = fn.string, !f.isEmpty else { throw fail(fn, "function names must be strings") }
                guard let text = slotNode.string, let slot = StateSlot(text: text) else {
                    throw fail(slotNode, "the handle of '\(f)' in resource '\(name)' must be `result`, `argN`, `*argN` or `argN->field`")
                }
                out[f] = slot
            }
            return out
        }
        func ruleId(_ value: Node, _ key: String) throws -> String {
            guard let s = value.string, !s.isEmpty, s.allSatisfy({ $0.isLowercase || $0 == "-" || $0.isNumber }) else {
                throw fail(value, "`\(key)` of resource '\(name)' must be a rule id like critical-section-leak")
            }
            return s
        }
        func flag(_ value: Node, _ key: String) throws -> Bool {
            guard let b = value.bool else { throw fail(value, "`\(key)` of resource '\(name)' must be true or false") }
            return b
        }
        for (keyNode, value) in props {
            guard let key = keyNode.string else { throw fail(keyNode, "keys must be strings") }
            switch key {
            case "family":
                guard let s = value.string, !s.isEmpty else { throw fail(value, "`family` of resource '\(name)' must be a name") }
                kind.family = s
            case "noun":
                guard let s = value.string, !s.isEmpty else { throw fail(value, "`noun` of resource '\(name)' must be a short text") }
                kind.noun = s
            case "acquire": kind.acquire = try calls(value, key)
            case "release": kind.release = try calls(value, key)
            case "leak": kind.leakRule = try ruleId(value, key)
            case "unheld": kind.unheldRule = try ruleId(value, key)
            case "mismatch": kind.mismatchRule = try ruleId(value, key)
            case "failed-release": kind.failedReleaseRule = try ruleId(value, key)
            case "may-fail": kind.mayFail = try flag(value, key)
            case "attaches": kind.attaches = try flag(value, key)
            case "blocking-inside": kind.blockingInside = try flag(value, key)
            default:
                throw fail(keyNode, "unknown key '\(key)' for resource '\(name)'\(suggestion(key, keys))")
            }
        }
        if kind.acquire.isEmpty || kind.release.isEmpty {
            throw fail(node, "resource '\(name)' needs both `acquire:` and `release:` calls")
        }
        if kind.leakRule.isEmpty { throw fail(node, "resource '\(name)' needs `leak:`, the rule id of a path that keeps one") }
        if kind.unheldRule.isEmpty { kind.unheldRule = kind.mismatchRule ?? kind.leakRule }
        return kind
    }
}
