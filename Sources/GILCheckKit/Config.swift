import APIModel
import Analysis
import Diagnostics
import Foundation
import Yams

/// `.gilcheck.yml`: the project's adoption settings.
///
/// ```yaml
/// version: 1                       # optional; this gilcheck reads version 1
/// rules:
///   enable: [ensure-leak, api-without-gil]   # report only these (default: every rule)
///   disable: [blocking-with-gil]             # never report these
/// severity:
///   release-order: error           # error | warning | note
/// rules-files: [tools/gil-wrappers.yml]      # relative to this file
/// python-version: "3.11"           # oldest Python the project supports (deprecated-gil-api)
/// free-threading: true              # also the checks for porting to free-threaded CPython (missing-mod-gil)
/// exclude: ["third_party/*", "*.pb.c"]       # fnmatch globs, relative to this file or by base name
/// thread-entries: [audio_callback]           # project functions that run on threads without the GIL
/// ```
public struct GILCheckConfig: Sendable, Equatable {
    /// The file it was read from (nil: built-in defaults).
    public var path: String?
    public var enable: [String]?
    public var disable: [String] = []
    public var severity: [String: Severity] = [:]
    /// Absolute paths.
    public var rulesFiles: [String] = []
    public var pythonVersion: String?
    /// Free-threading mode (`free-threading: true`).
    public var freeThreading: Bool?
    public var exclude: [String] = []
    /// The project's own thread entry points and foreign-thread callbacks (function names).
    public var threadEntries: [String] = []

    public static let fileName = ".gilcheck.yml"
    static let topKeys = ["version", "rules", "severity", "rules-files", "python-version", "free-threading", "exclude",
                          "thread-entries"]

    public init() {}

    /// The directory relative paths and `exclude` patterns of the file are resolved against.
    public var directory: String? { path.map { absolutize(($0 as NSString).deletingLastPathComponent.isEmpty ? "." : ($0 as NSString).deletingLastPathComponent) } }

    /// The first `.gilcheck.yml` in `start` (a directory, or a file's directory) or one of its parents.
    public static func discover(from start: String) -> String? {
        var isDirectory: ObjCBool = false
        var dir = absolutize(start)
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) || !isDirectory.boolValue {
            dir = (dir as NSString).deletingLastPathComponent
        }
        while true {
            let candidate = (dir as NSString).appendingPathComponent(fileName)
            // Any kind of file counts (a FIFO or a directory of that name is then reported, not skipped).
            var info = stat()
            if stat(candidate, &info) == 0 { return candidate }
            let parent = (dir as NSString).deletingLastPathComponent
            if parent == dir || parent.isEmpty { return nil }
            dir = parent
        }
    }

    public static func load(_ path: String) throws -> GILCheckConfig {
        let data: Data
        do {
            data = try SettingsFile.read(path, limit: SettingsFile.yamlSizeLimit)
        } catch {
            throw LintError.config("\(path): cannot read the config file: \(error); expected a YAML file of settings")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw LintError.config("\(path): the config file is not UTF-8 text; expected a YAML file of settings")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> GILCheckConfig {
        var config = GILCheckConfig()
        config.path = path
        if let problem = SettingsFile.anchorProblem(in: text) {
            throw LintError.config("\(path):\(problem.line): \(problem.message)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, SettingsFile.resolver)
        } catch {
            throw LintError.config("\(path): not valid YAML: \("\(error)".replacingOccurrences(of: "\n", with: " "))")
        }
        guard let root else { return config }  // an empty file: the defaults
        func fail(_ node: Node, _ message: String) -> LintError {
            .config("\(path):\(node.mark?.line ?? 1): \(message)")
        }
        guard case .mapping(let top) = root else {
            throw fail(root, "expected a mapping of settings (rules, severity, rules-files, python-version, exclude)")
        }
        let ruleIds = RuleID.allCases.map(\.rawValue)
        func ruleId(_ node: Node) throws -> String {
            guard let id = node.string, !id.isEmpty else { throw fail(node, "a rule id must be a string") }
            guard ruleIds.contains(id) else {
                throw fail(node, "unknown rule '\(id)'\(hint(id, ruleIds)); `gilcheck rules` lists them")
            }
            return id
        }
        func strings(_ node: Node, _ what: String) throws -> [String] {
            if case .scalar(let scalar) = node, !scalar.string.isEmpty { return [scalar.string] }
            guard case .sequence(let seq) = node else { throw fail(node, "`\(what)` must be a list") }
            return try seq.map { item in
                guard case .scalar = item, let s = item.string, !s.isEmpty else {
                    throw fail(item, "`\(what)` entries must be non-empty strings")
                }
                return s
            }
        }
        let base = config.directory ?? absolutize(".")
        for (keyNode, value) in top {
            guard let key = keyNode.string else { throw fail(keyNode, "keys must be strings") }
            switch key {
            case "version":
                guard value.int == 1 else { throw fail(value, "unsupported version '\(value.string ?? "?")' (this gilcheck reads version 1)") }
            case "rules":
                guard case .mapping(let map) = value else {
                    throw fail(value, "`rules` must be a mapping with `enable:` and/or `disable:` lists of rule ids")
                }
                for (k, v) in map {
                    guard let sub = k.string else { throw fail(k, "keys must be strings") }
                    switch sub {
                    case "enable":
                        guard case .sequence(let seq) = v else { throw fail(v, "`rules.enable` must be a list of rule ids") }
                        config.enable = try seq.map(ruleId)
                    case "disable":
                        guard case .sequence(let seq) = v else { throw fail(v, "`rules.disable` must be a list of rule ids") }
                        config.disable = try seq.map(ruleId)
                    default:
                        throw fail(k, "unknown key 'rules.\(sub)'\(hint(sub, ["enable", "disable"])); use `enable` or `disable`")
                    }
                }
            case "severity":
                guard case .mapping(let map) = value else {
                    throw fail(value, "`severity` must map rule ids to error, warning or note")
                }
                for (k, v) in map {
                    let id = try ruleId(k)
                    guard let text = v.string, let level = Severity(rawValue: text) else {
                        throw fail(v, "severity of '\(id)' must be error, warning or note, not '\(v.string ?? "?")'")
                    }
                    config.severity[id] = level
                }
            case "rules-files":
                config.rulesFiles = try strings(value, key).map { absolutize($0, against: base) }
                for (file, node) in zip(config.rulesFiles, value.sequence.map(Array.init) ?? [value]) {
                    var info = stat()
                    guard stat(file, &info) == 0 else {
                        throw fail(node, "`rules-files`: \(file) does not exist; expected a YAML rules file (paths are relative to \(path))")
                    }
                    guard info.st_mode & S_IFMT == S_IFREG else {
                        let kind = info.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a regular file (a FIFO, device or socket)"
                        throw fail(node, "`rules-files`: \(file) is \(kind); expected a YAML rules file")
                    }
                }
            case "python-version":
                if case .scalar(let scalar) = value, scalar.style == .plain, ["", "~", "null"].contains(scalar.string) {
                    config.pythonVersion = nil  // not set: every deprecation is reported
                    continue
                }
                guard case .scalar(let scalar) = value, PythonVersion(scalar.string) != nil else {
                    throw fail(value, "python-version must be a version like \"3.11\" or null, not '\(value.string ?? "?")'")
                }
                config.pythonVersion = scalar.string
            case "free-threading":
                guard let b = value.bool else { throw fail(value, "free-threading must be true or false, not '\(value.string ?? "?")'") }
                config.freeThreading = b
            case "exclude":
                config.exclude = try strings(value, key)
            case "thread-entries":
                config.threadEntries = try strings(value, key)
            default:
                throw fail(keyNode, "unknown key '\(key)'\(hint(key, topKeys)); known keys: \(topKeys.joined(separator: ", "))")
            }
        }
        return config
    }

    /// Copies the settings into `options`; flags given afterwards override them.
    public func apply(to options: inout LintOptions) {
        if let enable { options.enabledRules = Set(enable) }
        options.disabledRules.formUnion(disable)
        options.severities.merge(severity) { _, new in new }
        options.rulesFiles = rulesFiles + options.rulesFiles
        if let pythonVersion { options.pythonVersion = pythonVersion }
        if let freeThreading { options.freeThreading = freeThreading }
        options.threadEntries += threadEntries.filter { !options.threadEntries.contains($0) }
        if !exclude.isEmpty {
            options.configExcludes = exclude
            options.configDirectory = directory
        }
    }

    /// The effective settings as a config file (for `gilcheck dump-config`): every rule's state and severity.
    public static func render(options: LintOptions, configPath: String?) -> String {
        func list(_ items: [String]) -> String {
            items.isEmpty ? "[]" : "[" + items.map(quoteIfNeeded).joined(separator: ", ") + "]"
        }
        let all = RuleID.allCases.map(\.rawValue)
        let enabled = all.filter { (options.enabledRules?.contains($0) ?? true) && !options.disabledRules.contains($0) }
        var out = "# effective gilcheck configuration; "
        out += configPath.map { "read from \($0)" } ?? "no \(fileName) found (built-in defaults)"
        out += "\nversion: 1\nrules:\n"
        out += "  enable: \(list(enabled))\n"
        out += "  disable: \(list(all.filter { !enabled.contains($0) }))\n"
        out += "severity:\n"
        for id in all {
            let level = options.severities[id] ?? RuleID(rawValue: id)!.info.severity
            out += "  \(id): \(level.rawValue)\n"
        }
        out += "rules-files: \(list(options.rulesFiles.map { absolutize($0) }))\n"
        out += "python-version: \(options.pythonVersion.map { "\"\($0)\"" } ?? "null")\n"
        out += "free-threading: \(options.freeThreading)\n"
        out += "exclude: \(list(options.configExcludes + options.excludes))\n"
        out += "thread-entries: \(list(options.threadEntries))\n"
        return out
    }

    private static func quoteIfNeeded(_ s: String) -> String {
        let plain = s.allSatisfy { $0.isLetter || $0.isNumber || "-_./".contains($0) } && !s.isEmpty
        return plain ? s : "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

private func hint(_ word: String, _ candidates: [String]) -> String {
    guard let best = candidates.min(by: { editDistance($0, word) < editDistance($1, word) }),
          editDistance(best, word) <= max(2, word.count / 3) else { return "" }
    return " (did you mean '\(best)'?)"
}
