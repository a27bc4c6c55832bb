import Foundation
import Yams

/// Errors in a rules file. Every message names the file and line and says how to fix it.
public enum RulesError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case syntax(String, String)
    case invalid(RuleOrigin, String)
    case builtInRulesMissing(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let why): return "\(path): cannot read rules file: \(why)"
        case .syntax(let path, let why): return "\(path): not valid YAML: \(why)"
        case .invalid(let origin, let why): return "\(origin): \(why)"
        case .builtInRulesMissing(let why): return "cannot find the built-in API model: \(why)"
        }
    }
}

/// One parsed rules file.
public struct RulesFile: Sendable {
    public var path: String
    public var requiresGIL: [String] = []
    public var functions: [FunctionRule] = []
    public var threadEntries: [String] = []
    public var safeLocks: [String] = []
    /// Patterns of outside functions that never block, so that a project releasing the GIL around them is no
    /// evidence that they do (`memcpy`, `malloc`, `strlen`).
    public var neverBlocks: [String] = []
    /// Paired resources (`resources:`).
    public var resources: [ResourceKind] = []
    public var guards: [String: GILEffect] = [:]
    /// The library the file describes (`library: SQLite`), for the files under rules/libs/.
    public var library: String?
    /// Structs of function pointers (backends, VFS tables) the library keeps once handed one, and calls from any
    /// of its calls marked `runs-callbacks` (`callback-tables:`).
    public var callbackTables: [String] = []

    static let topKeys = ["version", "library", "requires-gil", "functions", "thread-entries", "safe-locks", "never-blocks",
                          "guards", "resources", "callback-tables"]
    static let functionKeys = ["effect", "state", "gil", "blocks", "deprecated", "thread-entry", "callback-thread",
                                "callback-note", "forks", "runs-callbacks", "blocks-when", "blocks-unless", "borrowed",
                                "callback-at-exit", "returns-at-exit", "locks", "unlocks", "joins", "detaches"]
    static let deprecationKeys = ["since", "removed", "replacement", "soft"]

    public static func parse(path: String) throws -> RulesFile {
        let data: Data
        do {
            data = try SettingsFile.read(path, limit: SettingsFile.yamlSizeLimit)
        } catch {
            throw RulesError.unreadable(path, "\(error); expected a YAML rules file (`version: 1`, `functions:`)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RulesError.unreadable(path, "it is not UTF-8 text; expected a YAML rules file (`version: 1`, `functions:`)")
        }
        return try parse(text: text, path: path)
    }

    public static func parse(text: String, path: String) throws -> RulesFile {
        if let problem = SettingsFile.anchorProblem(in: text) {
            throw RulesError.invalid(RuleOrigin(file: path, line: problem.line), problem.message)
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, SettingsFile.resolver)
        } catch {
            throw RulesError.syntax(path, "\(error)".replacingOccurrences(of: "\n", with: " "))
        }
        var file = RulesFile(path: path)
        guard let root, case .mapping(let top) = root else {
            throw RulesError.invalid(RuleOrigin(file: path, line: 1), "expected a mapping with `version: 1` and `functions:`")
        }
        func origin(_ node: Node) -> RuleOrigin { RuleOrigin(file: path, line: (node.mark?.line ?? 0)) }
        func fail(_ node: Node, _ message: String) -> RulesError { .invalid(origin(node), message) }

        var sawVersion = false
        for (keyNode, value) in top {
            guard let key = keyNode.string else { throw fail(keyNode, "keys must be strings") }
            switch key {
            case "version":
                guard value.int == 1 else { throw fail(value, "unsupported version '\(value.string ?? "?")' (this gilcheck reads version 1)") }
                sawVersion = true
            case "library":
                guard let name = value.string, !name.isEmpty else { throw fail(value, "`library` must be the library's name, like \"SQLite\"") }
                file.library = name
            case "requires-gil":
                guard case .sequence(let seq) = value else { throw fail(value, "`requires-gil` must be a list of name patterns like \"Py*\"") }
                for item in seq {
                    guard let s = item.string, !s.isEmpty else { throw fail(item, "pattern must be a non-empty string") }
                    file.requiresGIL.append(s)
                }
            case "callback-tables":
                guard case .sequence(let seq) = value else { throw fail(value, "`callback-tables` must be a list of struct names like git_odb_backend") }
                for item in seq {
                    guard let s = item.string, !s.isEmpty else { throw fail(item, "`callback-tables` entries must be non-empty struct names") }
                    file.callbackTables.append(s)
                }
            case "thread-entries", "safe-locks", "never-blocks":
                guard case .sequence(let seq) = value else { throw fail(value, "`\(key)` must be a list of names") }
                for item in seq {
                    guard let s = item.string, !s.isEmpty else { throw fail(item, "`\(key)` entries must be non-empty strings") }
                    switch key {
                    case "thread-entries": file.threadEntries.append(s)
                    case "safe-locks": file.safeLocks.append(s)
                    default: file.neverBlocks.append(s)
                    }
                }
            case "guards":
                guard case .mapping(let map) = value else {
                    throw fail(value, "`guards` must map C++ class names to { effect: acquire } or { effect: release }")
                }
                for (nameNode, props) in map {
                    guard let name = nameNode.string, case .mapping(let kv) = props,
                          let effectNode = kv.first(where: { $0.key.string == "effect" })?.value,
                          let effect = effectNode.string.flatMap(GILEffect.init(rawValue:)),
                          effect == .acquire || effect == .releaseGIL || effect == .ensure || effect == .save else {
                        throw fail(nameNode, "guard '\(nameNode.string ?? "?")' needs { effect: ensure } (acquires the GIL for its scope) or { effect: save } (releases it for its scope)")
                    }
                    file.guards[name] = effect == .acquire ? .ensure : effect == .releaseGIL ? .save : effect
                }
            case "resources":
                guard case .mapping(let kinds) = value else {
                    throw fail(value, "`resources` must map resource names to { acquire:, release:, leak: }")
                }
                for (nameNode, props) in kinds {
                    guard let name = nameNode.string, !name.isEmpty else { throw fail(nameNode, "resource names must be strings") }
                    file.resources.append(try ResourceKind.parse(name: name, node: props, origin: origin(nameNode), fail: fail))
                }
            case "functions":
                guard case .mapping(let fns) = value else { throw fail(value, "`functions` must map function names to their properties") }
                for (nameNode, props) in fns {
                    guard let name = nameNode.string, !name.isEmpty else { throw fail(nameNode, "function name must be a string") }
                    file.functions.append(try parseFunction(name: name, node: props, origin: origin(nameNode), fail: fail))
                }
            default:
                throw fail(keyNode, "unknown key '\(key)'\(suggestion(key, topKeys))")
            }
        }
        if !sawVersion { throw RulesError.invalid(RuleOrigin(file: path, line: 1), "missing `version: 1`") }
        return file
    }

    private static func parseFunction(name: String, node: Node, origin: RuleOrigin,
                                      fail: (Node, String) -> RulesError) throws -> FunctionRule {
        var rule = FunctionRule(name: name, origin: origin)
        guard case .mapping(let props) = node else {
            throw fail(node, "'\(name)' must be a mapping like { effect: ensure, state: result }")
        }
        for (keyNode, value) in props {
            guard let key = keyNode.string else { throw fail(keyNode, "keys must be strings") }
            switch key {
            case "effect":
                guard let text = value.string, let effect = GILEffect(rawValue: text) else {
                    let all = GILEffect.allCases.map(\.rawValue)
                    throw fail(value, "unknown effect '\(value.string ?? "?")' for '\(name)'\(suggestion(value.string ?? "", all)); one of: \(all.joined(separator: ", "))")
                }
                rule.effect = effect
            case "state":
                guard let text = value.string, let slot = StateSlot(text: text) else {
                    throw fail(value, "state of '\(name)' must be `result`, `argN`, `*argN` or `argN->field` (N counts from 0)")
                }
                rule.state = slot
            case "gil":
                guard let text = value.string, let req = GILRequirement(rawValue: text) else {
                    throw fail(value, "gil of '\(name)' must be `required` or `free`")
                }
                rule.gil = req
            case "blocks":
                guard let b = value.bool else { throw fail(value, "blocks of '\(name)' must be true or false") }
                rule.blocks = b
            case "thread-entry":
                guard let text = value.string, case .argument(let n)? = StateSlot(text: text) else {
                    throw fail(value, "thread-entry of '\(name)' must be `argN`, the start routine's argument")
                }
                rule.threadEntry = n
            case "callback-thread":
                guard let text = value.string, let slot = CallbackSlot(text: text) else {
                    throw fail(value, "callback-thread of '\(name)' must be `argN` (the callback's argument) or `argN->field` (a field of the struct the argument points to)")
                }
                rule.callbackThread = slot
            case "borrowed":
                guard let text = value.string, !text.isEmpty else {
                    throw fail(value, "borrowed of '\(name)' must say what to use instead, like \"PyDict_GetItemRef() (3.13)\"")
                }
                rule.borrowed = text
            case "forks":
                guard let b = value.bool else { throw fail(value, "forks of '\(name)' must be true or false") }
                rule.forks = b
            case "blocks-when", "blocks-unless":
                let mode: BlockCondition.Mode = key == "blocks-when" ? .when : .unless
                guard let text = value.string, let condition = BlockCondition(mode: mode, text: text) else {
                    throw fail(value, "\(key) of '\(name)' must be a condition on one argument, like \"arg0 == NULL\" or \"arg3 & 0x40\", or on an earlier call given it, like \"PQisBusy(arg0) == 0\"")
                }
                rule.blockCondition = condition
                rule.blocks = true
            case "runs-callbacks":
                guard let b = value.bool else { throw fail(value, "runs-callbacks of '\(name)' must be true or false") }
                rule.runsCallbacks = b
            case "callback-at-exit":
                guard let b = value.bool else { throw fail(value, "callback-at-exit of '\(name)' must be true or false") }
                rule.callbackAtExit = b
            case "returns-at-exit":
                guard let n = value.int else {
                    throw fail(value, "returns-at-exit of '\(name)' must be the integer it returns at exit, like 0")
                }
                rule.returnsAtExit = n
            case "joins", "detaches":
                guard let b = value.bool else { throw fail(value, "\(key) of '\(name)' must be true or false") }
                if key == "joins" { rule.joins = b } else { rule.detaches = b }
            case "locks", "unlocks":
                guard let text = value.string, let slot = MutexSlot(text: text) else {
                    throw fail(value, "\(key) of '\(name)' must be `argN` (the mutex's argument) or `this` (the object a C++ method is called on)")
                }
                if key == "locks" { rule.locks = slot } else { rule.unlocks = slot }
            case "callback-note":
                guard let text = value.string, !text.isEmpty else {
                    throw fail(value, "callback-note of '\(name)' must be a short text saying when the callback runs")
                }
                rule.callbackNote = text
            case "deprecated":
                guard case .mapping(let dep) = value else {
                    throw fail(value, "deprecated of '\(name)' must be { since: \"3.9\", removed: \"3.13\", replacement: \"…\" }")
                }
                var d = Deprecation(since: "", removed: nil, replacement: nil)
                for (k, v) in dep {
                    guard let dk = k.string else { throw fail(k, "keys must be strings") }
                    switch dk {
                    case "since", "removed":
                        guard case .scalar = v, let text = v.string, PythonVersion(text) != nil else {
                            throw fail(v, "deprecated.\(dk) of '\(name)' must be a Python version like \"3.9\", not '\(v.string ?? "?")'")
                        }
                        if dk == "since" { d.since = text } else { d.removed = text }
                    case "soft":
                        guard let b = v.bool else { throw fail(v, "deprecated.soft of '\(name)' must be true or false") }
                        d.soft = b
                    case "replacement":
                        guard case .scalar = v, let text = v.string, !text.isEmpty else {
                            throw fail(v, "deprecated.replacement of '\(name)' must be a string naming what to call instead")
                        }
                        d.replacement = text
                    default: throw fail(k, "unknown key '\(dk)' in deprecated\(suggestion(dk, deprecationKeys))")
                    }
                }
                guard !d.since.isEmpty else { throw fail(value, "deprecated of '\(name)' needs `since`, the version that deprecated it") }
                rule.deprecated = d
            default:
                throw fail(keyNode, "unknown key '\(key)' for '\(name)'\(suggestion(key, functionKeys))")
            }
        }
        let stateful: Set<GILEffect> = [.ensure, .release, .save, .restore]
        if let effect = rule.effect, stateful.contains(effect), rule.state == nil {
            throw fail(node, "'\(name)' has effect \(effect.rawValue) and needs `state:` (result, argN or *argN)")
        }
        if rule.callbackAtExit, rule.callbackThread == nil {
            throw fail(node, "'\(name)' has `callback-at-exit:` but no `callback-thread:` saying which argument is the callback")
        }
        if rule.callbackNote != nil, rule.callbackThread == nil {
            throw fail(node, "'\(name)' has `callback-note:` but no `callback-thread:` saying which argument is the callback")
        }
        if rule.state != nil, rule.effect.map({ !stateful.contains($0) }) ?? true {
            throw fail(node, "'\(name)' has `state:` but its effect is not ensure, release, save or restore")
        }
        return rule
    }
}

/// " (did you mean 'x'?)" when a close candidate exists.
func suggestion(_ word: String, _ candidates: [String]) -> String {
    let best = candidates.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 }
    guard let best, best.1 <= max(2, word.count / 3) else { return "" }
    return " (did you mean '\(best.0)'?)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where j <= b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}
