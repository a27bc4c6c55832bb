import APIModel
import Foundation

/// The identifiers that can start a finding, taken from the rules data.
///
/// - primary: names the rules give a GIL effect, a GIL requirement, a deprecation, a thread entry, a callback
///   registration (its callback starts without the GIL in whichever file defines it) or a guard,
///   and the `requires-gil` patterns (`Py*`, `_Py*`, `pybind11::*`), plus Python's object fields (`ob_*`, `tp_*`).
///   A file (with the local headers it includes) that has none of these has no GIL event of its own.
/// - blocking: names that only block (`pthread_mutex_lock`, `read`). Blocking is a finding only while the GIL
///   is held, so such a file matters only when a parsed file calls a function it defines (through summaries).
/// Names that only never return (`exit`) play no part: a summary does not carry them across files.
struct PrecheckVocabulary: Sendable {
    var names: Set<String> = []
    var prefixes: [String] = ["ob_", "tp_"]
    var globs: [String] = []
    var blocking: Set<String> = []

    init(model: APIModel) {
        func components(_ name: String) -> [String] {
            name.components(separatedBy: "::").filter { !$0.isEmpty }
        }
        for (name, rule) in model.functions {
            let onlyBlocksOrStops = rule.gil == nil && rule.deprecated == nil && rule.threadEntry == nil
                && rule.callbackThread == nil
                && (rule.effect == nil || rule.effect == .noreturn)
            if onlyBlocksOrStops {
                if rule.blocks { blocking.formUnion(components(name)) }
                continue
            }
            names.formUnion(components(name))
        }
        for name in model.threadEntries { names.formUnion(components(name)) }
        for name in model.guards.keys { names.formUnion(components(name)) }
        for pattern in model.requiresGILPatterns {
            let parts = components(pattern)
            if parts.count > 1, let first = parts.first, !first.contains("*"), !first.contains("?") {
                names.insert(first)
                continue
            }
            let last = parts.last ?? pattern
            let body = last.dropLast()
            if last.hasSuffix("*"), !body.contains("*"), !body.contains("?") {
                prefixes.append(String(body))
            } else {
                globs.append(last)
            }
        }
        blocking.subtract(names)
    }

    func isPrimary(_ identifier: String) -> Bool {
        names.contains(identifier) || prefixes.contains { !$0.isEmpty && identifier.hasPrefix($0) }
            || globs.contains { Glob.matches($0, identifier) }
    }
}

/// What the cheap scan of one file's text finds: identifiers outside comments, strings and `#include` lines;
/// the files it includes; and the names that look like function definitions (`name(...) {`).
struct FileTokens: Sendable {
    var identifiers: Set<String> = []
    /// Identifiers followed by `(`: calls, definitions, function-like macros.
    var calls: Set<String> = []
    /// Identifiers followed by `(` in `#define` bodies.
    var macroCalls: Set<String> = []
    var includes: [Include] = []
    var definitions: Set<String> = []
    /// False when the text does not tokenize cleanly: a comment, string, character or raw string literal that
    /// does not end, or `#if`/`#endif` that do not pair up. Such text can hide code (an unterminated comment
    /// hides the rest of the file), so the file must be parsed, and clang says what is wrong with it.
    var clean = true

    struct Include: Sendable, Hashable {
        var name: String
        var quoted: Bool
    }

    static let notFunctions: Set<String> = ["if", "while", "for", "switch", "return", "sizeof", "catch", "defined",
                                            "alignof", "_Alignof", "typeof", "__typeof__", "decltype", "__attribute__",
                                            "_Alignas", "alignas", "_Static_assert", "static_assert", "do", "else"]

    static func scan(_ text: [UInt8]) -> FileTokens {
        var result = FileTokens()
        let n = text.count
        var i = 0
        var lineStart = true
        var inDefine = false
        var conditionalDepth = 0
        @inline(__always) func isIdentStart(_ c: UInt8) -> Bool {
            (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c == 95 || c == 36
        }
        @inline(__always) func isIdent(_ c: UInt8) -> Bool { isIdentStart(c) || (c >= 48 && c <= 57) }
        func skipSpaces(_ j: inout Int) {
            while j < n, text[j] == 32 || text[j] == 9 { j += 1 }
        }
        /// An identifier ending at `end` followed by `(`: is it `( ... )` then only words and spaces, then `{`?
        func isCall(_ end: Int) -> Bool {
            var j = end
            while j < n, text[j] == 32 || text[j] == 9 || text[j] == 10 || text[j] == 13 { j += 1 }
            return j < n && text[j] == 40
        }
        func looksLikeDefinition(from end: Int) -> Bool {
            var j = end
            while j < n, text[j] == 32 || text[j] == 9 || text[j] == 10 || text[j] == 13 { j += 1 }
            guard j < n, text[j] == 40 else { return false }
            var depth = 0
            let limit = min(n, j + 4096)
            while j < limit {
                if text[j] == 40 { depth += 1 } else if text[j] == 41 { depth -= 1; if depth == 0 { break } }
                j += 1
            }
            guard depth == 0, j < limit else { return false }
            j += 1
            while j < limit {
                let c = text[j]
                if c == 123 { return true }
                if c == 32 || c == 9 || c == 10 || c == 13 || isIdent(c) || c == 38 || c == 42 { j += 1; continue }
                return false
            }
            return false
        }
        while i < n {
            let c = text[i]
            switch c {
            case 10:
                lineStart = true
                if inDefine, !(i > 0 && text[i - 1] == 92) && !(i > 1 && text[i - 1] == 13 && text[i - 2] == 92) {
                    inDefine = false
                }
                i += 1
            case 32, 9, 13, 12, 11:
                i += 1
            case 47 where i + 1 < n && text[i + 1] == 47:  // line comment
                while i < n, text[i] != 10 {
                    if text[i] == 92, i + 1 < n, text[i + 1] == 10 { i += 2; continue }
                    i += 1
                }
            case 47 where i + 1 < n && text[i + 1] == 42:  // block comment
                i += 2
                while i + 1 < n, !(text[i] == 42 && text[i + 1] == 47) { i += 1 }
                if i + 1 >= n { result.clean = false }
                i += 2
            case 34, 39:  // string or character literal
                i += 1
                while i < n, text[i] != c, text[i] != 10 {
                    if text[i] == 92 { i += 1 }
                    i += 1
                }
                if i >= n || text[i] != c { result.clean = false }
                i += 1
                lineStart = false
            case 35 where lineStart:  // a preprocessor directive
                var j = i + 1
                skipSpaces(&j)
                let start = j
                while j < n, isIdent(text[j]) { j += 1 }
                let directive = String(decoding: text[start..<j], as: UTF8.self)
                if directive == "define" { inDefine = true }
                switch directive {
                case "if", "ifdef", "ifndef": conditionalDepth += 1
                case "endif":
                    conditionalDepth -= 1
                    if conditionalDepth < 0 { result.clean = false; conditionalDepth = 0 }
                case "else", "elif", "elifdef", "elifndef":
                    if conditionalDepth == 0 { result.clean = false }
                default: break
                }
                if directive == "include" || directive == "include_next" || directive == "import" {
                    skipSpaces(&j)
                    if j < n, text[j] == 34 || text[j] == 60 {
                        let close: UInt8 = text[j] == 34 ? 34 : 62
                        let nameStart = j + 1
                        var k = nameStart
                        while k < n, text[k] != close, text[k] != 10 { k += 1 }
                        if k < n, text[k] == close {
                            result.includes.append(Include(name: String(decoding: text[nameStart..<k], as: UTF8.self),
                                                           quoted: close == 34))
                        }
                    }
                    while j < n, text[j] != 10 { j += 1 }
                }
                i = j
                lineStart = false
            case 48...57:  // a number, with C++14 digit separators
                while i < n, isIdent(text[i]) || text[i] == 46 || (text[i] == 39 && i + 1 < n && isIdent(text[i + 1])) {
                    i += 1
                }
                lineStart = false
            default:
                lineStart = false
                guard isIdentStart(c) else { i += 1; continue }
                let start = i
                while i < n, isIdent(text[i]) { i += 1 }
                // C++ raw string: R"delim( ... )delim"
                if i < n, text[i] == 34, text[i - 1] == 82, i - start <= 3 {
                    var j = i + 1
                    let delimStart = j
                    while j < n, text[j] != 40, j - delimStart < 17 { j += 1 }
                    let closing = [41] + Array(text[delimStart..<j]) + [34]
                    j += 1
                    while j + closing.count <= n, !text[j..<(j + closing.count)].elementsEqual(closing) { j += 1 }
                    if j + closing.count > n { result.clean = false }
                    i = min(n, j + closing.count)
                    continue
                }
                let word = String(decoding: text[start..<i], as: UTF8.self)
                result.identifiers.insert(word)
                if !notFunctions.contains(word), isCall(i) {
                    result.calls.insert(word)
                    if inDefine { result.macroCalls.insert(word) }
                    if looksLikeDefinition(from: i) { result.definitions.insert(word) }
                }
            }
        }
        if conditionalDepth != 0 { result.clean = false }
        return result
    }
}

/// Reads and scans files once each, from any worker thread.
final class TokenCache: @unchecked Sendable {
    private let cache = Locked<[String: FileTokens?]>([:])

    func tokens(_ path: String) -> FileTokens? {
        if let hit = cache.withValue({ $0[path] }) { return hit }
        let scanned = FileManager.default.contents(atPath: path).map { FileTokens.scan(Array($0)) }
        cache.withValue { $0[path] = scanned }
        return scanned
    }
}

/// The pre-check's view of one translation unit: its own file plus the project headers it includes, found by
/// following `#include` through the file's directory and the include directories of its flags (never the
/// directories that hold Python.h, nor the compiler's implicit system directories).
struct TranslationUnitProfile: Sendable {
    /// An identifier of the rules' primary vocabulary appears.
    var primary: Bool
    /// A blocking call appears.
    var blocking: Bool
    /// Identifiers that may name a direct call of the unit (followed by `(`; in C++ every identifier, since
    /// constructors and operators are called without one): the file's own and those of included headers that
    /// define functions (a header of prototypes only calls nothing).
    var callIdentifiers: Set<String>
    /// Names that look like functions defined in the unit.
    var definitions: Set<String>
    /// Every identifier of the unit, its headers included.
    var identifiers: Set<String>
    /// The file or one of the project headers it includes does not tokenize cleanly (see `FileTokens.clean`).
    var unclean = false

    static func build(path: String, arguments: [String], pythonIncludes: [String], vocabulary: PrecheckVocabulary,
                      cache: TokenCache) -> TranslationUnitProfile? {
        var quoteDirs: [String] = []
        var searchDirs: [String] = []
        var forced: [String] = []
        var macroText: [String] = []
        var i = 0
        let pairs = ["-I": 0, "-iquote": 1, "-isystem": 0, "-idirafter": 0, "-include": 2, "-imacros": 2, "-D": 4]
        while i < arguments.count {
            let a = arguments[i]
            var flag: String?
            var value: String?
            if let exact = pairs.keys.first(where: { $0 == a }), i + 1 < arguments.count {
                flag = exact
                value = arguments[i + 1]
                i += 1
            } else if let joined = pairs.keys.sorted(by: { $0.count > $1.count }).first(where: { a.hasPrefix($0) && a.count > $0.count }) {
                flag = joined
                value = String(a.dropFirst(joined.count))
            }
            i += 1
            guard let flag, let value else { continue }
            switch pairs[flag] {
            case 0: searchDirs.append(value)
            case 1: quoteDirs.append(value)
            case 2: forced.append(value)
            default:
                if let eq = value.firstIndex(of: "=") { macroText.append(String(value[value.index(after: eq)...])) }
            }
        }
        let resolve: (String) -> String = { $0 }
        let python = Set(pythonIncludes.map { absolutize($0) })
        let usable = { (dir: String) -> Bool in
            !python.contains(absolutize(dir)) && !FileManager.default.fileExists(atPath: dir + "/Python.h")
        }
        quoteDirs = quoteDirs.map(resolve).filter(usable)
        searchDirs = searchDirs.map(resolve).filter(usable)

        guard let main = cache.tokens(path) else { return nil }
        let cxx = !["c", "h"].contains((path as NSString).pathExtension.lowercased())
        let calls: (FileTokens) -> Set<String> = { cxx ? $0.identifiers : $0.calls }
        var profile = TranslationUnitProfile(primary: false, blocking: false, callIdentifiers: calls(main),
                                             definitions: main.definitions, identifiers: main.identifiers,
                                             unclean: !main.clean)
        for text in macroText {
            profile.identifiers.formUnion(FileTokens.scan(Array(text.utf8)).identifiers)
            profile.callIdentifiers.formUnion(FileTokens.scan(Array(text.utf8)).identifiers)
        }
        var visited: Set<String> = [absolutize(path)]
        var queue: [(String, FileTokens)] = [(path, main)]
        for f in forced {
            let p = resolve(f)
            if visited.insert(absolutize(p)).inserted, let t = cache.tokens(p) { queue.append((p, t)) }
        }
        var head = 0
        while head < queue.count, visited.count < 4000 {
            let (file, tokens) = queue[head]
            head += 1
            if head > 1 {
                if !tokens.clean { profile.unclean = true }
                profile.identifiers.formUnion(tokens.identifiers)
                profile.definitions.formUnion(tokens.definitions)
                profile.callIdentifiers.formUnion(tokens.definitions.isEmpty ? tokens.macroCalls : calls(tokens))
            }
            let dir = (file as NSString).deletingLastPathComponent
            for inc in tokens.includes {
                let dirs = (inc.quoted ? [dir.isEmpty ? "." : dir] + quoteDirs : []) + searchDirs
                for d in dirs {
                    let candidate = d + "/" + inc.name
                    guard FileManager.default.fileExists(atPath: candidate) else { continue }
                    if visited.insert(absolutize(candidate)).inserted, let t = cache.tokens(candidate) {
                        queue.append((candidate, t))
                    }
                    break
                }
            }
        }
        // Text the scan could not follow may hide what it looks for: such a unit is always parsed.
        profile.primary = profile.unclean || profile.identifiers.contains(where: vocabulary.isPrimary)
        profile.blocking = !profile.identifiers.isDisjoint(with: vocabulary.blocking)
        return profile
    }
}
