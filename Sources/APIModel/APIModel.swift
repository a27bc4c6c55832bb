import Foundation

/// What a call does to the GIL, as declared in a rules file.
public enum GILEffect: String, Sendable, CaseIterable, Codable {
    /// Acquires the GIL and returns (or stores) a state that a later `release` gives back (PyGILState_Ensure).
    case ensure
    /// Gives back a state from `ensure` (PyGILState_Release).
    case release
    /// Releases the GIL and returns (or takes) a thread state that `restore` hands back (PyEval_SaveThread).
    case save
    /// Re-acquires the GIL with a saved thread state (PyEval_RestoreThread).
    case restore
    /// Takes the GIL with no state to pair (PyEval_AcquireLock).
    case acquire
    /// Drops the GIL with no state to pair (PyEval_ReleaseLock).
    case releaseGIL = "release-gil"
    /// Returns non-zero when this thread holds the GIL (PyGILState_Check).
    case check
    /// Starts the interpreter; the calling thread then holds the GIL.
    case initialize
    /// Ends the interpreter; nothing needs to be released after it.
    case finalize
    /// Never returns.
    case noreturn

    /// Effects that may be called without holding the GIL.
    public var callableWithoutGIL: Bool {
        switch self {
        case .ensure, .restore, .acquire, .check, .initialize, .noreturn: return true
        case .release, .save, .releaseGIL, .finalize: return false
        }
    }
}

/// Where the state of an `ensure`/`release`/`save`/`restore` lives at the call.
public enum StateSlot: Hashable, Sendable, CustomStringConvertible {
    /// The call's result.
    case result
    /// The argument at this 0-based index.
    case argument(Int)
    /// The object the pointer argument at this index points to (`ctx_enter(&state)`).
    case pointee(Int)
    /// A field reached from the pointer argument at this index (`arg0->gil` for `void enter(ctx_t *c)`).
    case field(Int, [String])
    /// A variable outside every function (by its USR), or a field path below one: a helper that keeps the state
    /// in a global (`g_state = PyGILState_Ensure()`). `text` names it in messages. Inferred only, never in rules.
    case global(String, [String], text: String)
    /// A field of the object a C++ method, constructor or destructor is called on (`this->ts` of a guard class
    /// whose constructor saves the thread state and whose destructor restores it): the path starts at `this`.
    /// Inferred only, never in rules.
    case object([String])

    init?(text: String) {
        if text == "result" { self = .result; return }
        if text.hasPrefix("arg"), let arrow = text.range(of: "->") {
            guard let n = Int(text[text.index(text.startIndex, offsetBy: 3)..<arrow.lowerBound]), n >= 0 else { return nil }
            let fields = text[arrow.lowerBound...].components(separatedBy: "->").dropFirst()
            guard !fields.isEmpty, fields.allSatisfy({ !$0.isEmpty }) else { return nil }
            self = .field(n, fields.map { "->" + $0 })
            return
        }
        if text.hasPrefix("*arg"), let n = Int(text.dropFirst(4)), n >= 0 { self = .pointee(n); return }
        if text.hasPrefix("arg"), let n = Int(text.dropFirst(3)), n >= 0 { self = .argument(n); return }
        return nil
    }

    public var description: String {
        switch self {
        case .result: return "result"
        case .argument(let n): return "arg\(n)"
        case .pointee(let n): return "*arg\(n)"
        case .field(let n, let path): return "arg\(n)" + path.joined()
        case .global(_, _, let text): return text
        case .object(let path): return "this" + path.joined()
        }
    }
}

/// What one library's rules file declares, for `gilcheck rules --libs`.
public struct LibraryRules: Sendable {
    public var name: String
    public var path: String
    public var blocking: [String]
    public var callbacks: [String]
}

/// Where a registration call takes the function it calls back: an argument (`arg6`), or a field of the struct
/// an argument points to or is (`arg0->callback`, for `spec.callback = cb; SDL_OpenAudio(&spec, NULL)`).
/// Where a lock or unlock call finds its mutex: an argument, or the object of a C++ method (`m.lock()`).
public enum MutexSlot: Hashable, Sendable {
    case argument(Int)
    case object

    init?(text: String) {
        if text == "this" { self = .object; return }
        guard text.hasPrefix("arg"), let n = Int(text.dropFirst(3)), n >= 0 else { return nil }
        self = .argument(n)
    }
}

public struct CallbackSlot: Hashable, Sendable, CustomStringConvertible {
    public var argument: Int
    public var field: String?

    public init(argument: Int, field: String? = nil) {
        self.argument = argument
        self.field = field
    }

    init?(text: String) {
        let parts = text.components(separatedBy: "->")
        guard parts.count <= 2, parts[0].hasPrefix("arg"), let n = Int(parts[0].dropFirst(3)), n >= 0 else { return nil }
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            self.init(argument: n, field: parts[1])
        } else {
            self.init(argument: n)
        }
    }

    public var description: String { "arg\(argument)" + (field.map { "->" + $0 } ?? "") }
}

public enum GILRequirement: String, Sendable {
    case required
    case free
}

public struct Deprecation: Sendable, Equatable {
    public var since: String
    public var removed: String?
    public var replacement: String?
    /// Soft-deprecated (no removal planned; PEP 788's PyGILState_*): reported, as a note, only to projects whose
    /// oldest supported Python (`python-version`) already has the replacement.
    public var soft = false
}

/// Where a rule came from, for messages.
public struct RuleOrigin: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var description: String { line > 0 ? "\(file):\(line)" : file }
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }
}

/// A condition on one argument of a call that decides whether it blocks: `argN`, optionally masked
/// (`argN & 0x40`), compared with a constant (`== NULL`, `!= 0`, `== 3`); with no comparison, "is non-zero".
/// Or a condition on what an earlier call given the same argument returned on the path (`PQisBusy(arg0) == 0`:
/// libpq's PQgetResult() returns at once once PQisBusy() said the connection is not busy).
public struct BlockCondition: Sendable, Equatable, CustomStringConvertible {
    public enum Mode: Sendable { case when, unless }
    public enum Comparison: String, Sendable { case equal = "==", notEqual = "!=" }
    public var mode: Mode
    public var argument: Int
    /// The earlier call whose result the condition reads (`PQisBusy`), given argument `argument` of this call
    /// as its first; nil when the condition reads the argument itself.
    public var probe: String?
    public var mask: Int?
    public var comparison: Comparison
    public var value: Int
    public var text: String

    public var description: String { text }

    /// Parses `arg0 == NULL`, `arg3 & 0x40`, `arg6 & 3 == 3`, `PQisBusy(arg0) == 0`; nil when the text is not of
    /// that form.
    public init?(mode: Mode, text: String) {
        var words = text.replacingOccurrences(of: "&", with: " & ").split(separator: " ").map(String.init)
        var probe: String?
        if let first = words.first, let open = first.firstIndex(of: "("), first.hasSuffix(")") {
            let name = String(first[..<open])
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            probe = name
            words[0] = String(first[first.index(after: open)..<first.index(before: first.endIndex)])
        }
        guard let first = words.first, first.hasPrefix("arg"), let n = Int(first.dropFirst(3)), n >= 0 else { return nil }
        func number(_ w: String) -> Int? {
            if w == "NULL" { return 0 }
            if w.lowercased().hasPrefix("0x") { return Int(w.dropFirst(2), radix: 16) }
            return Int(w)
        }
        var rest = Array(words.dropFirst())
        var mask: Int?
        if rest.first == "&" {
            guard rest.count >= 2, let m = number(rest[1]) else { return nil }
            mask = m
            rest.removeFirst(2)
        }
        var comparison = Comparison.notEqual, value = 0
        if !rest.isEmpty {
            guard rest.count == 2, let c = Comparison(rawValue: rest[0]), let v = number(rest[1]) else { return nil }
            comparison = c
            value = v
        }
        self.mode = mode
        self.argument = n
        self.probe = probe
        self.mask = mask
        self.comparison = comparison
        self.value = value
        self.text = text
    }

    /// Whether the condition holds for an argument known to be `v`.
    public func holds(for v: Int) -> Bool {
        let x = mask.map { v & $0 } ?? v
        return comparison == .equal ? x == value : x != value
    }
}

/// One function of the API model.
public struct FunctionRule: Sendable {
    public var name: String
    public var effect: GILEffect?
    public var state: StateSlot?
    public var gil: GILRequirement?
    public var blocks: Bool
    public var deprecated: Deprecation?
    /// Index of the argument that is a function started on a new thread (pthread_create's start routine).
    public var threadEntry: Int?
    /// The argument (or the field of the struct an argument points to) holding a function that the library
    /// calls back later on a thread of its own, from a signal or at exit: the callback starts without the GIL.
    public var callbackThread: CallbackSlot?
    /// When the library calls it back ("on PortAudio's audio thread"), for messages.
    public var callbackNote: String?
    /// The callback runs at process exit (`atexit`, `Py_AtExit`): after the interpreter is finalized, where no
    /// Python API may be used and the GIL cannot be taken.
    public var callbackAtExit = false
    /// What the function returns when called at process exit, after finalization (`Py_IsInitialized`: 0).
    public var returnsAtExit: Int?
    /// Creates a process that returns 0 in the child (`fork`): the child runs no other thread, so its blocking
    /// calls cannot stall a thread waiting for the GIL.
    public var forks = false
    /// Runs, before it returns and on the calling thread, functions registered earlier with another call of the
    /// same library on the same handle (`curl_multi_add_handle` runs the timer callback that `curl_multi_setopt`
    /// set): they start in the GIL state of this call.
    public var runsCallbacks = false
    /// Blocks only for some arguments: `blocks-when: "arg0 == NULL"` (only where that is known to hold: the
    /// global options of ldap_set_option) or `blocks-unless: "arg3 & 0x40"` (except where that is known to
    /// hold: recv with MSG_DONTWAIT).
    public var blockCondition: BlockCondition?
    /// Returns a borrowed reference into a container another thread may change on a free-threaded build: what
    /// to use instead (`PyDict_GetItemRef() (3.13)`).
    public var borrowed: String?
    /// Locks / unlocks a mutex (`pthread_mutex_lock`: `locks: arg0`; `std::mutex::unlock`: `unlocks: this`): the
    /// lock order between the GIL and the project's mutexes. A C++ lock guard's constructor (`locks: arg0`)
    /// holds the mutex until the guard's scope ends.
    public var locks: MutexSlot?
    public var unlocks: MutexSlot?
    /// Waits for a thread to end (`pthread_join`), or lets it run on unwaited (`pthread_detach`): a thread
    /// joined after Py_FinalizeEx(), or detached before it, ran while the interpreter was finalized.
    public var joins = false
    public var detaches = false
    public var origin: RuleOrigin

    public init(name: String, effect: GILEffect? = nil, state: StateSlot? = nil, gil: GILRequirement? = nil,
                blocks: Bool = false, deprecated: Deprecation? = nil, threadEntry: Int? = nil,
                origin: RuleOrigin = RuleOrigin(file: "<built-in>", line: 0)) {
        self.name = name
        self.effect = effect
        self.state = state
        self.gil = gil
        self.blocks = blocks
        self.deprecated = deprecated
        self.threadEntry = threadEntry
        self.origin = origin
    }
}

/// The API model: every function the analyses know something about, merged from the built-in
/// `rules/cpython.yml` and the user's own rules files (later files override earlier entries field by field).
public struct APIModel: Sendable {
    public private(set) var functions: [String: FunctionRule] = [:]
    public private(set) var requiresGILPatterns: [String] = []
    public private(set) var sources: [String] = []
    /// Functions that run on threads the program does not own (library callbacks, a project's entry points):
    /// they start without the GIL.
    public private(set) var threadEntries: Set<String> = []
    /// Glob patterns of lock expressions only non-Python threads take (exempt from blocking-with-gil).
    public private(set) var safeLocks: [String] = []
    /// Glob patterns of outside functions that never block (`never-blocks:`): no deviance evidence.
    public private(set) var neverBlocks: [String] = []
    /// Paired resources by name, and the kinds each call acquires or releases.
    public private(set) var resources: [String: ResourceKind] = [:]
    /// The name prefixes (`sqlite3_`, `EVP_`) of the functions the library models (`rules/libs/`) describe, with
    /// the library each belongs to: such a library's calls that its model does not mark as blocking are known not
    /// to block.
    public private(set) var modeledPrefixes: [String: String] = [:]
    /// The library model each function listed in one belongs to (zlib's `inflate` has no prefix to go by).
    private var libraryOfFunction: [String: String] = [:]
    public private(set) var resourceAcquirers: [String: [String]] = [:]
    public private(set) var resourceReleasers: [String: [String]] = [:]
    /// C++ RAII guard classes: constructing one acquires (or releases) the GIL until the end of its scope.
    public private(set) var guards: [String: GILEffect] = [:]
    /// The libraries the loaded files describe (`library:` of rules/libs/*.yml), in load order.
    public private(set) var libraries: [LibraryRules] = []
    /// Structs of function pointers that a library, once handed one, calls from any of its `runs-callbacks`
    /// calls, whatever handle they are given (`callback-tables:`: libgit2's `git_odb_backend`), with the
    /// library key (`library(of:)`) of the file that names them.
    public private(set) var callbackTables: [String: String] = [:]
    /// The functions whose results a blocking condition reads (`PQisBusy` of `PQisBusy(arg0) == 0`).
    public private(set) var probes: Set<String> = []

    public init() {}

    /// Loads the built-in model (unless `builtIn` is false) followed by `extraFiles`.
    /// `libraries: false` loads CPython's own API without the C libraries' files (`rules/libs/`): all that
    /// `gilcheck trace` hooks, and a short traced run should not pay for parsing the rest.
    public static func load(builtIn: Bool = true, libraries: Bool = true, extraFiles: [String] = [],
                            locator: RulesLocator = RulesLocator()) throws -> APIModel {
        var model = APIModel()
        if builtIn {
            for file in try locator.builtInRulesFiles(libraries: libraries) { model.merge(file) }
        }
        for file in extraFiles {
            try model.merge(RulesFile.parse(path: file))
        }
        return model
    }

    /// Declares more functions that start on threads without the GIL (a project's own entry points).
    public mutating func addThreadEntries(_ names: [String]) {
        threadEntries.formUnion(names)
    }

    public mutating func merge(_ file: RulesFile) {
        sources.append(file.path)
        if let name = file.library {
            for rule in file.functions {
                libraryOfFunction[rule.name] = libraryOfFunction[rule.name] ?? name
                if let prefix = APIModel.namePrefix(rule.name), modeledPrefixes[prefix] == nil { modeledPrefixes[prefix] = name }
            }
            libraries.append(LibraryRules(name: name, path: file.path,
                                          blocking: file.functions.filter(\.blocks).map(\.name).sorted(),
                                          callbacks: file.functions.filter { $0.callbackThread != nil }.map(\.name).sorted()))
        }
        for table in file.callbackTables {
            callbackTables[table] = file.library.map { "library " + $0 } ?? file.functions.first.flatMap { library(of: $0.name) } ?? ""
        }
        for pattern in file.requiresGIL where !requiresGILPatterns.contains(pattern) {
            requiresGILPatterns.append(pattern)
        }
        threadEntries.formUnion(file.threadEntries)
        safeLocks += file.safeLocks.filter { !safeLocks.contains($0) }
        neverBlocks += file.neverBlocks.filter { !neverBlocks.contains($0) }
        for kind in file.resources {
            if let old = resources[kind.name] {
                for f in old.acquire.keys { resourceAcquirers[f]?.removeAll { $0 == kind.name } }
                for f in old.release.keys { resourceReleasers[f]?.removeAll { $0 == kind.name } }
            }
            resources[kind.name] = kind
            for f in kind.acquire.keys { resourceAcquirers[f, default: []].append(kind.name) }
            for f in kind.release.keys { resourceReleasers[f, default: []].append(kind.name) }
        }
        for (k, v) in file.guards { guards[k] = v }
        probes.formUnion(file.functions.compactMap { $0.blockCondition?.probe })
        for rule in file.functions {
            if var existing = functions[rule.name] {
                if rule.effect != nil { existing.effect = rule.effect; existing.state = rule.state }
                if rule.gil != nil { existing.gil = rule.gil }
                if rule.blocks { existing.blocks = true }
                if rule.deprecated != nil { existing.deprecated = rule.deprecated }
                if rule.threadEntry != nil { existing.threadEntry = rule.threadEntry }
                if rule.callbackThread != nil { existing.callbackThread = rule.callbackThread }
                if rule.callbackNote != nil { existing.callbackNote = rule.callbackNote }
                if rule.callbackAtExit { existing.callbackAtExit = true }
                if rule.returnsAtExit != nil { existing.returnsAtExit = rule.returnsAtExit }
                if rule.forks { existing.forks = true }
                if rule.runsCallbacks { existing.runsCallbacks = true }
                if rule.blockCondition != nil { existing.blockCondition = rule.blockCondition }
                if rule.borrowed != nil { existing.borrowed = rule.borrowed }
                if rule.locks != nil { existing.locks = rule.locks }
                if rule.unlocks != nil { existing.unlocks = rule.unlocks }
                if rule.joins { existing.joins = true }
                if rule.detaches { existing.detaches = true }
                existing.origin = rule.origin
                functions[rule.name] = existing
            } else {
                functions[rule.name] = rule
            }
        }
    }

    public func function(named name: String) -> FunctionRule? { functions[name] }

    /// The functions that run callbacks registered with their library (`runs-callbacks: true`), by name.
    public var callbackRunners: [String] { functions.values.filter(\.runsCallbacks).map(\.name).sorted() }

    /// True when the rule comes from a library model (`rules/libs/`): a project's own function of the same
    /// name (`static int compress(...)`) is not that library's.
    public func isLibraryRule(_ rule: FunctionRule) -> Bool {
        libraries.contains { $0.path == rule.origin.file }
    }

    /// Forgets the deprecations that came after `target` (a project that supports Python 3.8 cannot yet use
    /// what replaced an API deprecated in 3.9). Deprecated at or before the target (and so also removed
    /// before it) stays reported.
    public mutating func targetPython(_ target: PythonVersion?) {
        for (name, rule) in functions {
            guard let d = rule.deprecated, let since = PythonVersion(d.since) else { continue }
            if let target, since <= target { continue }
            // With no target every hard deprecation is reported; a soft one needs the target to have it.
            if target == nil, !d.soft { continue }
            functions[name]?.deprecated = nil
        }
    }

    /// True when `lockText` (the source of a lock argument, e.g. `&log_mutex`) is listed as a safe lock.
    public func isSafeLock(_ lockText: String) -> Bool {
        let bare = lockText.hasPrefix("&") ? String(lockText.dropFirst()) : lockText
        return safeLocks.contains { Glob.matches($0, bare) || Glob.matches($0, lockText) }
    }

    /// True when `name` is declared never to block (`never-blocks:`), or belongs to a library whose model
    /// describes its blocking calls and does not list this one.
    public func neverBlocks(_ name: String) -> Bool {
        if isModeledLibraryCall(name) { return true }
        return neverBlocks.contains { Glob.matches($0, name) }
    }

    /// Which C library `name` belongs to, as a key two calls of one library share: the model (`rules/libs/`)
    /// that lists it or whose functions have its prefix (`library SQLite`), else its own name prefix
    /// (`archive_`); nil for a name with neither (`compute`).
    public func library(of name: String) -> String? {
        if let listed = libraryOfFunction[name] { return "library " + listed }
        guard let prefix = APIModel.namePrefix(name) else { return nil }
        return modeledPrefixes[prefix].map { "library " + $0 } ?? prefix
    }

    /// True when `name` belongs to a library that has a model: its calls the model does not list do not block
    /// and run no callbacks.
    public func isModeledLibraryCall(_ name: String) -> Bool {
        library(of: name)?.hasPrefix("library ") == true
    }

    /// A C library's name prefix: up to and including the first underscore after at least two characters
    /// (`sqlite3_step` → `sqlite3_`, `SSL_read` → `SSL_`); nil for names without one.
    public static func namePrefix(_ name: String) -> String? {
        guard let underscore = name.firstIndex(of: "_"), name.distance(from: name.startIndex, to: underscore) >= 2,
              !name.hasPrefix("std::") else { return nil }
        return String(name[...underscore])
    }

    /// True when calling `name` without holding the GIL is a fault.
    public func requiresGIL(_ name: String) -> Bool {
        if let rule = functions[name] {
            if let gil = rule.gil { return gil == .required }
            if let effect = rule.effect { return !effect.callableWithoutGIL }
        }
        return requiresGILPatterns.contains { Glob.matches($0, name) }
    }

    /// Names of every function the model says something about that needs the GIL (explicit entries only).
    public var explicitlyRequiringGIL: [String] {
        functions.keys.filter { requiresGIL($0) }.sorted()
    }
}

/// A Python version such as "3.11" (major.minor; a micro part is accepted and ignored).
public struct PythonVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), let major = Int(parts[0]), let minor = Int(parts[1]),
              major >= 0, minor >= 0, parts.count == 2 || Int(parts[2]) != nil else { return nil }
        self.major = major
        self.minor = minor
    }

    public var description: String { "\(major).\(minor)" }

    public static func < (a: PythonVersion, b: PythonVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
}

/// Shell-style glob with `*` and `?`, enough for function-name patterns.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == t[ti] {
                pi += 1; ti += 1
            } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}

/// Where the built-in API model (`rules/cpython.yml` and `rules/libs/*.yml`) comes from.
public enum BuiltInRulesSource: Sendable, Equatable {
    /// Files on disk: `GILCHECK_RULES_DIR`, or the `rules/` of the checkout a development build runs from.
    case directory(String)
    /// The copy compiled into the binary from `rules/` at build time (EmbeddedRules.swift, written by the
    /// EmbedRules build plugin), so an installed or copied binary needs no files beside it.
    case embedded
}

/// Finds the built-in rules.
public struct RulesLocator: Sendable {
    public var environment: [String: String]
    public var executablePath: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                executablePath: String? = RulesLocator.runningExecutable()) {
        self.environment = environment
        self.executablePath = executablePath
    }

    /// The running binary (`/proc/self/exe`; `argv[0]` where there is no /proc), whatever name ran it.
    public static func runningExecutable() -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first
    }

    /// `$GILCHECK_RULES_DIR` when set; else, for a binary SwiftPM built inside a checkout
    /// (`ROOT/.build/…/gilcheck` with `ROOT/Package.swift` and `ROOT/rules/cpython.yml`), that checkout's
    /// `rules/`, read at run time so that an edit is seen without rebuilding; else the embedded copy.
    public func builtInRules() throws -> BuiltInRulesSource {
        let fm = FileManager.default
        if let dir = environment["GILCHECK_RULES_DIR"], !dir.isEmpty {
            guard fm.fileExists(atPath: dir + "/cpython.yml") else {
                throw RulesError.builtInRulesMissing("GILCHECK_RULES_DIR=\(dir) has no cpython.yml")
            }
            return .directory(dir)
        }
        if let root = checkoutRoot() { return .directory(root + "/rules") }
        return .embedded
    }

    /// The checkout a development build lives in: the parent of the `.build` directory above the executable,
    /// when it holds Package.swift and rules/cpython.yml.
    func checkoutRoot() -> String? {
        guard let exe = executablePath else { return nil }
        var dir = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" && !dir.path.isEmpty {
            if dir.lastPathComponent == ".build" {
                let root = dir.deletingLastPathComponent().path
                let fm = FileManager.default
                if fm.fileExists(atPath: root + "/Package.swift"), fm.fileExists(atPath: root + "/rules/cpython.yml") {
                    return root
                }
                return nil
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// The embedded copy of rules/ (name under rules/, text), `cpython.yml` first.
    public static var embeddedFiles: [(name: String, text: String)] { EmbeddedRules.files }

    /// The built-in model's files, `cpython.yml` first, then the library models (`libs/*.yml`, sorted by name),
    /// parsed from disk or from the embedded copy.
    public func builtInRulesFiles(libraries: Bool = true) throws -> [RulesFile] {
        switch try builtInRules() {
        case .directory(let dir):
            let libs = dir + "/libs"
            let names = libraries ? (try? FileManager.default.contentsOfDirectory(atPath: libs)) ?? [] : []
            let paths = [dir + "/cpython.yml"] + names.filter { $0.hasSuffix(".yml") }.sorted().map { libs + "/" + $0 }
            return try paths.map { try RulesFile.parse(path: $0) }
        case .embedded:
            let files = EmbeddedRules.files.filter { libraries || !$0.name.hasPrefix("libs/") }
            return try files.map { try RulesFile.parse(text: $0.text, path: "<built-in>/rules/" + $0.name) }
        }
    }
}
