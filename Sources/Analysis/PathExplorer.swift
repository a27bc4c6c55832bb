import APIModel
import ClangSupport
import Diagnostics

/// What one path knows about a tracked integer, pointer or boolean. No entry means nothing is known.
enum Fact: Hashable {
    case equals(Int)
    case notEquals(Set<Int>)

    var truth: Bool? {
        switch self {
        case .equals(let n): return n != 0
        case .notEquals(let s): return s.contains(0) ? true : nil
        }
    }
}

enum GILStatus: UInt8, Hashable {
    case unknown, held, released
}

/// A live PyGILState_Ensure state or a saved thread state.
struct Held: Hashable {
    var keys: Set<StorageKey>
    var site: SourceLocation
    var api: String
    /// Handed to someone else (discarded on purpose, returned, passed to an unknown function).
    var escaped: Bool
    var previous: GILStatus
    /// Where on the path it was taken; not part of the state's identity.
    var depth: Int = 0
    /// A save into the caller's place that this path first restored from (`PyEval_RestoreThread(st->ts); …;
    /// st->ts = PyEval_SaveThread();`): the caller's released GIL is given back as it was handed in.
    var givesBack = false
    /// A release with no state to pair (a project primitive such as `up.gil_release()`): the function's own
    /// stateless acquire (`up.gil_get()`) takes it back.
    var stateless = false
    /// An Ensure taken inside a region this function released by a save: where that save is. Restoring the
    /// save while the Ensure is still held restores into a thread that already holds the GIL.
    var insideSave: SourceLocation? = nil

    static func == (a: Held, b: Held) -> Bool {
        a.keys == b.keys && a.site == b.site && a.escaped == b.escaped && a.previous == b.previous
            && a.givesBack == b.givesBack && a.insideSave == b.insideSave
    }
    func hash(into h: inout Hasher) {
        h.combine(keys)
        h.combine(site)
        h.combine(escaped)
        h.combine(previous)
        h.combine(givesBack)
    }

    var name: String {
        let named = keys.filter { !$0.isTemporary }.map(\.text).sorted()
        return named.first ?? api
    }
}

/// C++: an exception a call threw, on its way out of the function through the guards' destructors.
struct InFlight: Hashable {
    /// Its types, when the callee's summary knows them.
    var types: [ThrownType]?
    /// "fail() throws", for messages.
    var from: String
}

/// Everything one path knows at a point of the function.
struct PathState: Hashable {
    var gil: GILStatus = .unknown
    var ensures: [Held] = []
    var saves: [Held] = []
    var facts: [StorageKey: Fact] = [:]
    /// Locals that hold the truth of a condition on other locals (`notify = s != NULL`): assuming the local
    /// true or false assumes the condition, so a later test written the other way agrees with it.
    var definitions: [StorageKey: Value] = [:]
    /// Comparisons this path has assumed that facts cannot express (`count > 0`, `a == b`): the same test later
    /// on the path, with its operands unchanged, has the same outcome.
    var known: [Value: Bool] = [:]
    /// Local states this path has already released or restored.
    var released: Set<StorageKey> = []
    var restored: Set<StorageKey> = []
    /// The caller's saved thread states (in a parameter's field, a global) this path has restored: the GIL
    /// was lent by the caller, and saving into the same place again gives it back.
    var borrowed: Set<StorageKey> = []
    /// The caller's GIL states (what a parameter points to, a parameter's field, a global) this path has
    /// released: a new Ensure stored back into the same place re-acquires the GIL for the caller (a helper that
    /// lets other threads run: `PyGILState_Release(*st); …; *st = PyGILState_Ensure();`).
    var lent: Set<StorageKey> = []
    /// Locals that hold a value from outside this function's own acquisitions (a parameter, a field, a call):
    /// releasing or restoring them is not a fault this function can be blamed for.
    var foreign: Set<StorageKey> = []
    /// The GIL is released because this function was started without it (a thread entry), not by itself.
    var releasedByCaller = false
    /// thread-entry-without-gil was reported on this path: only the first use without the GIL is.
    var entryUseReported = false
    /// The GIL is held because this function initialized Python on this path.
    var heldSinceInitialize = false
    /// A GIL-taking thread was started while holding the GIL from Py_Initialize (where, and which function).
    var threadStartedWhileHeld: SourceLocation?
    var threadStartedName: String?
    /// What this path did to states the caller handed in (for the function's summary).
    var callerStateEffect: GILEffect?
    var callerStateSlot: StateSlot?
    /// The caller's GIL state this path released and re-acquired in place (for the summary).
    var yieldedSlot: StateSlot?
    /// Py_Finalize ran on this path (for the summary), and where.
    var finalized = false
    var finalizedAt: SourceLocation?
    /// A thread was detached on this path before any finalization (`pthread_detach()`): where, and the call
    /// as shown.
    var detachedAt: SourceLocation?
    var detachedShown: String?
    /// C++: the types of the exception being unwound out of the function, when known (between a call that
    /// throws and the `raise` that ends its unwinding).
    var inFlight: InFlight? = nil
    /// Locals holding a copy of a caller's place (`ts = b->render_ts`): restoring the copy restores the state the
    /// caller keeps there.
    var copiedFrom: [StorageKey: StorageKey] = [:]
    /// This path is the child of a `fork()`: a process of one thread, where blocking stalls nobody else.
    var inForkedChild = false
    /// Functions this path handed to a library call with the GIL held (a handler set on a parser, a progress
    /// function set on a transfer), which a later call of the same library may call back.
    var registered: [PendingRegistration] = []
    /// The save (`Py_BEGIN_ALLOW_THREADS`) of the released region in which this path already made an outside
    /// call: only the first outside call of a region is evidence of blocking (`inferBlocking`); the ones after
    /// it (freeing an error message, copying the result) come along with it.
    var regionWithOutsideCall: SourceLocation?
    /// Paired resources held on this path (critical sections, PyMutex locks, thread-state tokens, interpreter
    /// guards: `resources:` in the rules), innermost last, and the handles this path has released.
    var resources: [HeldResource] = []
    var resourcesReleased: Set<StorageKey> = []
    /// Mutexes of the project (globals, struct fields) this path has locked and not unlocked, innermost last:
    /// for the lock order between them and the GIL.
    var mutexes: [HeldMutex] = []
    /// Families with a mismatch reported on this path: what follows from it (an END left over, a section left
    /// open) is the same fault.
    var resourceFaulted: Set<String> = []
    /// Containers this path created (`PyList_New`) and has not stored anywhere (borrowed-ref-free-threading).
    var fresh: Set<StorageKey> = []
    /// This path re-acquired the GIL with a thread state it fetched from elsewhere (`PyEval_RestoreThread(
    /// pthread_getspecific(key))`), neither saved on the path nor the caller's: a GIL primitive that acquires.
    var acquiredElsewhere = false
    /// Stateless acquisitions (`acquire`) this path made and has not given back: a later stateless release
    /// gives one back (a callback's `gil_get(); …; gil_release();`) instead of opening a pair.
    var statelessAcquired = 0
}

/// A function handed to an outside call, which a later call of the same library may call back: `XML_SetCharacterDataHandler(p, on_text)` before `XML_Parse(p, …)`,
/// `curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress)` before `curl_easy_perform(h)`, `glp_term_hook(log, info)`
/// before `glp_simplex(…)`.
struct PendingRegistration: Hashable {
    /// The registering call and the argument that handed the functions.
    var callee: String
    var argument: Int
    /// What the earlier arguments say about the slot: the object's root (`p`, `ps` for `ps.parser`) for the first,
    /// the constants among the others (`CURLOPT_XFERINFOFUNCTION`). A later call with the same callee and key
    /// sets the same slot, and replaces what it held (`XML_SetElementHandler(p, NULL, NULL)` clears it).
    var handle: StorageKey.Root?
    var constants: [Int: Int]
    /// The arguments of the registering call that handed functions, left out of the key: a call that clears
    /// the slot passes NULL there (`XML_SetElementHandler(p, NULL, NULL)`).
    var functionArguments: Set<Int>
    var functions: [String]
    var shown: String
    var location: SourceLocation
}

/// The events of one path, shared between the paths that fork from it.
final class PathNode {
    let location: SourceLocation
    let message: String
    let parent: PathNode?
    let depth: Int

    init(_ location: SourceLocation, _ message: String, parent: PathNode?) {
        self.location = location
        self.message = message
        self.parent = parent
        self.depth = (parent?.depth ?? 0) + 1
    }

    /// The events from `depth` on, oldest first. Past `limit`, the first event (where the story starts: the
    /// GIL acquired here) and the latest ones are kept, and a note says how many steps between them are left out.
    func notes(since depth: Int, limit: Int = 24) -> [PathNote] {
        var out: [PathNote] = []
        var node: PathNode? = self
        while let n = node, n.depth >= depth {
            out.append(PathNote(file: n.location.file, line: n.location.line, column: n.location.column,
                                message: n.message))
            node = n.parent
        }
        out.reverse()
        guard out.count > limit, limit >= 3 else { return out }
        let latest = out.suffix(limit - 2)
        let skipped = out.count - latest.count - 1
        let from = out[1]
        let gap = PathNote(file: from.file, line: from.line, column: from.column,
                           message: "\(skipped) \(skipped == 1 ? "step" : "steps") of this path from here on not shown")
        return [out[0], gap] + latest
    }
}

struct Walker {
    var state: PathState
    var path: PathNode?
    var dead = false
    /// Path depth at which the GIL was last acquired (for notes); not part of the state's identity.
    var heldSince = 0
    /// C++: the path continues in this block, where an exception from the last call goes.
    var unwindTo: Int?

    mutating func note(_ location: SourceLocation, _ message: String) {
        path = PathNode(location, message, parent: path)
    }

    var depth: Int { path?.depth ?? 0 }
}

/// A thread a path shows running while the interpreter is finalized: joined after Py_FinalizeEx(), or detached
/// before it. A finalize-without-gil finding once the run is known to use Python from its own threads.
struct ThreadAtFinalize {
    var location: SourceLocation
    var function: String
    var path: [PathNote]
    var message: String
}

/// A function handed to a call outside the run, and where.
public struct CallbackRegistration: Sendable, Equatable {
    public var function: String
    /// How the registering call is shown (`solve()`).
    public var registrar: String
    public var location: SourceLocation
    /// Set when the function was handed over earlier with the GIL held, and this later call of the same library
    /// (made with the GIL released) may call it back: how that call is shown and where it is.
    public var invokedBy: String? = nil
    public var invokedAt: SourceLocation? = nil
    /// Set when the function was stored in a struct of callbacks (`z_stream_s`) that the call, made with the GIL
    /// released, is given and runs: the struct's name.
    public var table: String? = nil
}

/// How a function starts.
public struct EntryContext: Sendable {
    /// The GIL at entry: unknown for an ordinary function, released for a thread entry.
    var gil: GILStatus = .unknown
    /// Why the function starts without the GIL: "started by pthread_create() at main.c:40".
    var threadOrigin: String?
    /// Why the function starts with the GIL: Python calls it ("registered in PyMethodDef 'methods' at m.c:40").
    var pythonOrigin: String?
    /// Why the function starts with the GIL otherwise: every path of it calls the Python API, this call first.
    var pythonOnEveryPath: String?
    /// What is known about parameters at entry (to tell whether a summary depends on an argument).
    var assumptions: [StorageKey: Fact] = [:]
    /// The function runs at process exit, after the interpreter is finalized (an `atexit` handler, the destructor
    /// of a static object): `threadOrigin` says why.
    var atExit = false

    public static let ordinary = EntryContext()
}

/// Follows every path of one function, tracking the GIL, the live Ensure states and saved thread states,
/// and the values of simple locals that branch conditions test. Paths whose states agree merge at each block.
/// Calls are interpreted through the rules (rules/*.yml) and, for functions of the same run, their summaries.
public struct PathExplorer {
    public struct Limits: Sendable {
        public var statesPerBlock = 384
        public var totalSteps = 150_000
        public var maxHeldDepth = 8
        public init() {}
    }

    let cfg: FunctionCFG
    let model: APIModel
    let limits: Limits
    /// Computed by `run()`, with the function's `Relevance` (which needs the rules and summaries).
    private(set) var liveness: Liveness!
    let entry: EntryContext
    /// Summaries of the run's other functions, by callee name (the project analyzer resolves statics).
    let summaries: (String) -> FunctionSummary?
    /// Whether a thread entry function takes the GIL (for init-holds-gil).
    let entryTakesGIL: (String) -> Bool
    /// Outside functions the project releases the GIL around elsewhere (by deviance: see `inferBlocking`), with
    /// the place it does: they are treated as blocking.
    let inferredBlocking: [String: SourceLocation]
    /// Library calls that run a registered callback which takes the GIL with a saved thread state
    /// (`callbackHazards`): blocking where the GIL is held, by callee.
    let callbackHazards: [String: [CallbackHazard]]
    /// Calls on a library's handle (`site.handleType`) made on a path where the GIL is released: a callback
    /// registered on that kind of handle elsewhere in the run is run by them without the GIL.
    private(set) var releasedLibraryCalls: Set<ReleasedLibraryCall> = []
    /// Outside functions (no rule, no summary) this function calls on a path where the GIL is released, and
    /// where: the evidence `inferBlocking` weighs.
    private(set) var releasedOutsideCalls: [String: Set<SourceLocation>] = [:]
    /// The mutex locks this run met, with the GIL as each path had it there, and the waits for the GIL made
    /// while holding one (`LockOrder`).
    private(set) var lockOrder = LockOrder()
    private(set) var findings: [String: Diagnostic] = [:]
    private var order: [String] = []
    private(set) var exits: [ExitRecord] = []
    private var needsGILWitness: String?
    private var blocksWitness: String?
    private var joinsWitness: String?
    /// Threads that the paths show running while the interpreter is finalized (joined after Py_FinalizeEx(),
    /// detached before it): reported when the run's threads use Python (`ProjectAnalyzer`).
    private(set) var threadsAtFinalize: [ThreadAtFinalize] = []
    private var witnessReleases = false
    /// A parameter this function starts as a thread, and the functions it starts as threads (for the summary).
    private var threadEntryParameter: Int?
    private var startedThreads: [String] = []
    /// Functions this function hands to code outside the run while the GIL is released on that path (a solver
    /// run under Py_BEGIN_ALLOW_THREADS with a progress callback): they are called back without the GIL.
    private(set) var releasedRegistrations: [CallbackRegistration] = []
    /// Storage this function releases or restores somewhere: a state stored in a non-local place that the
    /// function itself also releases is owned by the function, so a path that leaves it held is a leak.
    private var releasedSomewhere: Set<StorageKey> = []
    /// Some call of the function takes the GIL with no state (`acquire`): its stateless releases are then
    /// pairs that every path must close, not the function's purpose (a wrapper that only releases).
    private var acquiresStatelessly = false
    /// The same for paired resources: handles this function releases, and acquires, somewhere.
    var resourceReleasedSomewhere: Set<StorageKey> = []
    var resourceAcquiredSomewhere: Set<StorageKey> = []

    public init(cfg: FunctionCFG, model: APIModel, limits: Limits = Limits(), entry: EntryContext = .ordinary,
                summaries: @escaping (String) -> FunctionSummary? = { _ in nil },
                entryTakesGIL: @escaping (String) -> Bool = { _ in false },
                inferredBlocking: [String: SourceLocation] = [:], callbackHazards: [String: [CallbackHazard]] = [:]) {
        self.inferredBlocking = inferredBlocking
        self.callbackHazards = callbackHazards
        self.cfg = cfg
        self.model = model
        self.limits = limits
        self.entry = entry
        self.summaries = summaries
        self.entryTakesGIL = entryTakesGIL
    }

    /// A function that takes or drops nothing and calls the Python API on every path from its entry to its exits:
    /// its callers hold the GIL (else each of those calls is itself the bug), so a blocking call made before the
    /// first of them still blocks with the GIL held. The first such call, for the notes; nil otherwise. Such a
    /// run reports only the calls the rules say block: a helper's summary, a call blocking by deviance or by the
    /// callbacks it runs is weaker evidence, left to the callers that are known to hold the GIL.
    var pythonOnEveryPath: String? {
        guard !gilVaries else { return nil }
        var first: String?
        var needs = Array(repeating: false, count: cfg.blocks.count)
        for (b, block) in cfg.blocks.enumerated() {
            for case .call(let site) in block.elements where !site.isIndirect {
                // The Python API by the rules, not a helper's summary (a C++ method's summary is found by its
                // plain name, which another class's method may share).
                let name = site.qualifiedCallee ?? site.callee
                if model.requiresGIL(name), model.function(named: name)?.effect == nil {
                    needs[b] = true
                    if first == nil { first = site.shown }
                    break
                }
            }
        }
        guard let first else { return nil }
        // Is an exit reachable from the entry through blocks that call no Python API?
        var seen = Array(repeating: false, count: cfg.blocks.count)
        var stack = [cfg.entry]
        while let b = stack.popLast() {
            guard !seen[b], !needs[b] else { continue }
            seen[b] = true
            switch cfg.blocks[b].terminator {
            case .exit, .raise: return nil
            case .stop: break
            case .jump(let t): stack.append(t)
            case .branch(_, let t, let f, _, _): stack += [t, f]
            case .switchOn(_, let cases, let d, _, _): stack += cases.map(\.target) + [d]
            }
        }
        return first
    }

    /// The summary of the function, valid after `run()`.
    public var summary: FunctionSummary {
        var s = summarize(exits: exits, needsGIL: needsGILWitness, blocks: blocksWitness, releasesCallersGIL: witnessReleases,
                          threadEntry: threadEntryParameter, startsThreads: startedThreads)
        s.joins = joinsWitness
        return s
    }

    /// True when no path of the function can report anything or give it a summary: no call has a GIL effect,
    /// needs the GIL, blocks, is deprecated or starts a thread (by the rules or by a callee's summary), and no
    /// Python object is dereferenced on a thread that starts without the GIL. Exploring such a function only
    /// tracks locals (zstd's match finders, a regex engine's inner loop); its summary is empty. What is lost:
    /// the analysis-budget note of a function with nothing to find.
    var isInert: Bool {
        for block in cfg.blocks {
            // An exception leaving the function is part of its summary.
            if case .raise = block.terminator { return false }
            for element in block.elements {
                switch element {
                case .call(let site):
                    let rule = resolve(site)
                    let roles = resourceRoles(site)
                    if !roles.acquires.isEmpty || !roles.releases.isEmpty { return false }
                    if rule.effect != nil || rule.requiresGIL || rule.blocks || rule.deprecated != nil
                        || rule.threadEntry != nil || rule.summary?.startsThreads.isEmpty == false
                        || (site.mayThrow && rule.summary?.throwsAt != nil) { return false }
                case .pythonDereference:
                    if entry.gil != .unknown { return false }
                case .assign, .declare:
                    continue
                }
            }
        }
        return true
    }

    /// Whether the GIL can be in different states at different points of the function: it starts released,
    /// or a call changes it (by the rules, a guard, or a callee's summary).
    var gilVaries: Bool {
        entry.gil == .released || cfg.callSites.contains { site in
            let rule = resolve(site)
            return (rule.effect != nil && rule.effect != .noreturn) || site.guardEffect != nil || rule.summary?.yields != nil
                || rule.summary?.releasesCallersGIL == true
        }
    }

    /// Whether a call does something the rules see (see `Relevance`): its arguments and what decides whether
    /// it is reached are tracked along paths. Calls that only need the GIL count only where the GIL varies.
    func isRelevant(_ site: CallSite, gilVaries: Bool) -> Bool {
        let rule = resolve(site)
        // A call that never returns only ends paths: what happens on the paths that go on is the same.
        if (rule.effect != nil && rule.effect != .noreturn) || rule.blocks || rule.deprecated != nil || rule.threadEntry != nil || rule.forks
            || site.guardEffect != nil || (rule.requiresGIL && gilVaries) { return true }
        // (A summary's effect, blocking, thread entry and needing the GIL are in the rule already.)
        if let s = rule.summary, s.yields != nil || !s.startsThreads.isEmpty || s.throwsAt != nil { return true }
        let roles = resourceRoles(site)
        if !roles.acquires.isEmpty || !roles.releases.isEmpty { return true }
        if site.arguments.contains(where: { !$0.handedFunctions.isEmpty }) { return true }
        if !site.isIndirect, let r = model.rule(for: site), r.borrowed != nil || r.callbackThread != nil { return true }
        return false
    }

    /// True when some call blocks (by the rules or a callee's summary): with the GIL held at entry, that is the
    /// only thing a run can find that a run from an unknown entry does not.
    var hasBlockingCall: Bool {
        cfg.callSites.contains { resolve($0).blocks }
    }

    public mutating func run() -> [Diagnostic] {
        if isInert { return [] }
        for site in cfg.callSites {
            let rule = resolve(site)
            if rule.effect == .acquire { acquiresStatelessly = true }
            guard let slot = rule.slot, rule.effect == .release || rule.effect == .restore,
                  let key = stateKey(site, slot) else { continue }
            releasedSomewhere.insert(key)
        }
        resourceReleasedSomewhere = resourceHandlesReleased()
        resourceAcquiredSomewhere = resourceHandlesAcquired()
        let varies = gilVaries
        let relevance = Relevance(cfg, exits: varies, isRelevantCall: { isRelevant($0, gilVaries: varies) }, dereferences: varies)
        liveness = Liveness(cfg, relevance: relevance)
        var start = PathState()
        start.gil = entry.gil
        start.releasedByCaller = entry.gil == .released
        start.facts = entry.assumptions
        start.finalized = entry.atExit
        var visited = Array(repeating: Set<PathState>(), count: cfg.blocks.count)
        var first = Walker(state: start, path: nil)
        if let origin = entry.pythonOrigin {
            first.note(cfg.location, "the GIL is held on entry: Python calls '\(cfg.name)' (\(origin))")
            first.heldSince = 1
        } else if let python = entry.pythonOnEveryPath {
            first.note(cfg.location, "the GIL is held on entry: every path of '\(cfg.name)' calls the Python API (\(python) first), so its callers hold it")
            first.heldSince = 1
        }
        var queue: [(Int, Walker)] = [(cfg.entry, first)]
        var head = 0
        var steps = 0
        var budgetHit = false
        while head < queue.count {
            var (block, walker) = queue[head]
            queue[head].1 = Walker(state: PathState(), path: nil)
            head += 1
            prune(&walker.state, liveAt: block)
            if visited[block].count >= limits.statesPerBlock {
                // Too many distinct states here: forget tracked values, keep the GIL facts.
                walker.state.facts = [:]
                walker.state.definitions = [:]
                walker.state.known = [:]
                if visited[block].count >= limits.statesPerBlock * 2 { budgetHit = true; continue }
            }
            guard visited[block].insert(walker.state).inserted else { continue }
            steps += 1
            if steps > limits.totalSteps { budgetHit = true; break }
            for next in step(block: block, walker: walker) { queue.append(next) }
            if head > 4096 {
                queue.removeFirst(head)
                head = 0
            }
        }
        if budgetHit {
            report(.analysisBudget, at: cfg.location,
                   "'\(cfg.name)' has more paths than the analysis explores (\(limits.statesPerBlock) states per block, \(limits.totalSteps) steps); findings in it may be incomplete",
                   walker: nil, since: 0)
        }
        return order.compactMap { findings[$0] }
    }

    private func prune(_ state: inout PathState, liveAt block: Int) {
        let live = LiveRoots(liveness: liveness, block: block)
        if !state.facts.isEmpty {
            state.facts = state.facts.filter { live.contains($0.key.root) }
        }
        // What this path did to a global stays true when the function no longer names it (a helper that
        // releases it may be called again).
        if !state.released.isEmpty { state.released = state.released.filter { $0.isGlobal || live.contains($0.root) } }
        if !state.restored.isEmpty { state.restored = state.restored.filter { $0.isGlobal || live.contains($0.root) } }
        if !state.resourcesReleased.isEmpty {
            state.resourcesReleased = state.resourcesReleased.filter { $0.isGlobal || !$0.isLocal || live.contains($0.root) }
        }
        if !state.foreign.isEmpty { state.foreign = state.foreign.filter { live.contains($0.root) } }
        if !state.copiedFrom.isEmpty { state.copiedFrom = state.copiedFrom.filter { live.contains($0.key.root) } }
        if !state.borrowed.isEmpty { state.borrowed = state.borrowed.filter { !$0.isLocal || live.contains($0.root) } }
        if !state.lent.isEmpty { state.lent = state.lent.filter { !$0.isLocal || live.contains($0.root) } }
        if !state.definitions.isEmpty {
            state.definitions = state.definitions.filter { live.contains($0.key.root) }
        }
        if !state.known.isEmpty {
            state.known = state.known.filter { c in c.key.keysRead.allSatisfy { live.contains($0.root) } }
        }
    }

    /// The roots live at a block's entry, asked one at a time.
    private struct LiveRoots {
        let liveness: Liveness
        let block: Int
        func contains(_ root: StorageKey.Root) -> Bool { liveness.isLive(root, atEntryOf: block) }
    }

    // MARK: - Blocks

    private mutating func step(block: Int, walker: Walker) -> [(Int, Walker)] {
        var walkers = [walker]
        var unwinding: [(Int, Walker)] = []
        for element in cfg.blocks[block].elements {
            var next: [Walker] = []
            for i in walkers.indices {
                // Moved out of the array, so that the walker's sets are uniquely referenced and grow in place
                // (a shared copy would be copied whole on every insert: quadratic in a block's releases).
                var w = walkers[i]
                walkers[i] = Walker(state: PathState(), path: nil)
                execute(element, &w, into: &next)
            }
            walkers = []
            for var w in next where !w.dead {
                if let target = w.unwindTo {
                    w.unwindTo = nil
                    unwinding.append((target, w))
                } else {
                    walkers.append(w)
                }
            }
            if walkers.isEmpty { return unwinding }
        }
        var successors: [(Int, Walker)] = unwinding
        for var w in walkers {
            switch cfg.blocks[block].terminator {
            case .jump(let target):
                successors.append((target, w))
            case .stop:
                break
            case .exit(let value, let location, let implicit):
                leave(&w, returning: value, at: location, implicit: implicit)
            case .raise(let location, let thrown):
                let flight = w.state.inFlight
                w.state.inFlight = nil
                leave(&w, returning: nil, at: location, implicit: false, raising: flight?.from ?? "this throw",
                      thrown: thrown.map { [$0] } ?? flight?.types)
            case .branch(let condition, let t, let f, let location, let text):
                let yes = assume(condition, true, w.state)
                let no = assume(condition, false, w.state)
                let forked = !yes.isEmpty && !no.isEmpty && text != nil
                for var s in yes {
                    if !s.resources.isEmpty { dropFailedResources(&s) }
                    var n = w
                    n.state = s
                    if forked { n.note(location, "taking the branch where \(text ?? "") is true") }
                    successors.append((t, n))
                }
                for var s in no {
                    if !s.resources.isEmpty { dropFailedResources(&s) }
                    var n = w
                    n.state = s
                    if forked { n.note(location, "taking the branch where \(text ?? "") is false") }
                    successors.append((f, n))
                }
            case .switchOn(let value, let cases, let defaultTarget, let location, let text):
                successors += switchSuccessors(value, cases, defaultTarget, location, text, w)
            }
        }
        return successors
    }

    private func switchSuccessors(_ value: Value, _ cases: [SwitchCase], _ defaultTarget: Int,
                                  _ location: SourceLocation, _ text: String, _ w: Walker) -> [(Int, Walker)] {
        if case .equals(let n)? = evaluate(value, w.state) {
            let target = cases.first(where: { $0.low <= n && n <= $0.high })?.target ?? defaultTarget
            return [(target, w)]
        }
        var out: [(Int, Walker)] = []
        var defaultState: PathState? = w.state
        for c in cases {
            var n = w
            if c.low == c.high {
                guard let s = assume(.compare(.eq, value, .constant(c.low)), true, w.state).first else { continue }
                n.state = s
                if let d = defaultState { defaultState = assume(.compare(.ne, value, .constant(c.low)), true, d).first }
                n.note(location, "taking case \(c.low) of switch (\(text))")
            } else {
                n.note(location, "taking case \(c.low) ... \(c.high) of switch (\(text))")
            }
            out.append((c.target, n))
        }
        if let d = defaultState {
            var n = w
            n.state = d
            n.note(location, "taking the default case of switch (\(text))")
            out.append((defaultTarget, n))
        }
        return out
    }

    // MARK: - Elements

    private mutating func execute(_ element: Element, _ w: inout Walker, into out: inout [Walker]) {
        switch element {
        case .declare(let key):
            forget(key, in: &w.state)
            w.state.foreign.remove(key)
            out.append(w)
        case .assign(let target, let value, let location):
            assign(target, value, at: location, &w)
            out.append(w)
        case .pythonDereference(let location, let text):
            if w.state.gil == .released {
                reportWithoutGIL(at: location, what: "dereference of Python object '\(text)'", &w)
            }
            out.append(w)
        case .call(let site):
            call(site, &w, into: &out)
        }
    }

    private mutating func assign(_ target: StorageKey?, _ value: Value, at location: SourceLocation, _ w: inout Walker) {
        guard let target else {
            // A store through an unknown place may change anything that is not a plain local.
            forgetNonLocal(&w.state)
            return
        }
        let newFact = evaluate(value, w.state)
        // Which live state does the value carry (`s = PyGILState_Ensure()`, `copy = s`)?
        let carried = value.keysRead
        overwrite(target, at: location, &w, keepingIfCarried: carried)
        forget(target, in: &w.state)
        if !target.isLocal { forgetAliased(&w.state) }
        if let newFact { w.state.facts[target] = newFact }
        let plainLocal: (StorageKey) -> Bool = { $0.isLocal && !liveness.addressTaken.contains($0.root) }
        if target.isLocal, !target.isTemporary, newFact == nil, !liveness.addressTaken.contains(target.root),
           !value.keysRead.contains(target) {
            if value.isCondition, value.keysRead.allSatisfy(plainLocal) {
                w.state.definitions[target] = value
            } else if case .select(let c, _, _) = value, c.keysRead.allSatisfy(plainLocal) {
                // `ld = self ? self->ld : NULL`: what a later test of `self` says about `ld`.
                w.state.definitions[target] = value
            }
        }
        if target.isLocal {
            let carriesState = carried.contains { k in
                w.state.ensures.contains { $0.keys.contains(k) } || w.state.saves.contains { $0.keys.contains(k) }
            }
            if case .constant = value { w.state.foreign.remove(target) }
            else if carriesState { w.state.foreign.remove(target) }
            else { w.state.foreign.insert(target) }
        }
        if target.isLocal, !w.state.copiedFrom.isEmpty || !value.keysRead.isEmpty {
            if case .read(let source) = value, callerSlot(source, returned: []) != nil {
                w.state.copiedFrom[target] = source
            } else {
                w.state.copiedFrom[target] = nil
            }
        }
        if case .read(let source) = value, !w.state.resources.isEmpty { carryResources(from: source, to: target, &w.state) }
        // A copy of a borrowed thread state is the same state: releasing it gives it back.
        if case .read(let source) = value, target.isLocal, w.state.borrowed.contains(source) { w.state.borrowed.insert(target) }
        if !w.state.fresh.isEmpty || target.isTemporary {
            if case .read(let source) = value, w.state.fresh.contains(source) {
                if target.isLocal { w.state.fresh.insert(target) } else { w.state.fresh.remove(source) }  // published
            } else {
                w.state.fresh.remove(target)
            }
        }
        if case .read(let source) = value {
            for i in w.state.ensures.indices where w.state.ensures[i].keys.contains(source) {
                w.state.ensures[i].keys.insert(target)
                guard !target.isLocal else { continue }
                var held = w.state.ensures[i]
                giveBackEnsure(target, &held, &w.state)
                w.state.ensures[i] = held
            }
            for i in w.state.saves.indices where w.state.saves[i].keys.contains(source) {
                w.state.saves[i].keys.insert(target)
                guard !target.isLocal else { continue }
                var held = w.state.saves[i]
                giveBack(target, &held, &w.state)
                w.state.saves[i] = held
            }
        }
    }

    /// `target` gets a new value: a live state stored only there is lost.
    private mutating func overwrite(_ target: StorageKey, at location: SourceLocation, _ w: inout Walker,
                                    keepingIfCarried carried: [StorageKey]) {
        if carried.contains(target) { return }
        for kind in 0..<2 {
            var list = kind == 0 ? w.state.ensures : w.state.saves
            var i = 0
            while i < list.count {
                guard list[i].keys.contains(where: { target.isPrefix(of: $0) }) else { i += 1; continue }
                list[i].keys = list[i].keys.filter { !target.isPrefix(of: $0) }
                let remaining = list[i].keys.filter { !$0.isTemporary }
                if remaining.isEmpty && !list[i].escaped && target.isLocal {
                    let h = list[i]
                    if kind == 0 {
                        report(.ensureLeak, at: location,
                               "GIL state '\(target.text)' from \(h.api) is overwritten while still held; it can no longer be released",
                               walker: w, since: h.depth)
                    } else {
                        report(.allowThreadsLeak, at: location,
                               "thread state '\(target.text)' from \(h.api) is overwritten before it is restored; the GIL is not re-acquired",
                               walker: w, since: h.depth)
                    }
                    list.remove(at: i)
                    continue
                }
                i += 1
            }
            if kind == 0 { w.state.ensures = list } else { w.state.saves = list }
        }
    }

    private func forget(_ key: StorageKey, in state: inout PathState) {
        if !state.definitions.isEmpty {
            state.definitions = state.definitions.filter { d in
                !key.isPrefix(of: d.key) && !d.value.keysRead.contains { key.isPrefix(of: $0) }
            }
        }
        if !state.known.isEmpty {
            state.known = state.known.filter { c in !c.key.keysRead.contains { key.isPrefix(of: $0) } }
        }
        if state.facts.isEmpty { return }
        state.facts = state.facts.filter { !key.isPrefix(of: $0.key) }
    }

    private func forgetNonLocal(_ state: inout PathState) {
        if state.facts.isEmpty { return }
        state.facts = state.facts.filter { $0.key.isLocal && !liveness.addressTaken.contains($0.key.root) }
    }

    /// What a call that has no GIL effect may change: globals, storage whose address was taken, and what its
    /// arguments point to (`check(self)` may change `self->multi`; `curl_easy_pause(self->handle, mask)` may
    /// change what `self->handle` points to, not `self->multi`, which pycurl's save and restore macros test to
    /// choose where the thread state goes). Python API calls (which can run any Python code, a `__del__` from a
    /// `Py_DECREF`), calls through pointers, and C++ methods and namespaced functions (given an object the
    /// arguments do not show) may change anything that is not a plain local. A library's callbacks run inside
    /// the call are taken to work on their own data, as they do in practice.
    private func forgetReachable(by site: CallSite, _ state: inout PathState) {
        if state.facts.isEmpty { return }
        if site.isIndirect || site.qualifiedCallee != nil || model.requiresGIL(site.callee) {
            forgetNonLocal(&state)
            // A method changes the local object it is called on (`o.m()`, a guard's destructor).
            if let o = site.object?.addressOf { state.facts = state.facts.filter { $0.key.root != o.root } }
            return
        }
        var reached: [StorageKey] = []
        for a in site.operands {
            if let k = a.addressOf { reached.append(k.rootOnly) }   // a pointer into an object reaches all of it
            if let k = a.storage { reached.append(k) }
            reached += a.value.keysRead
        }
        state.facts = state.facts.filter { f in
            let key = f.key
            if liveness.addressTaken.contains(key.root) { return false }
            if key.isLocal { return true }
            if key.isGlobal { return false }
            return !reached.contains { r in r.path.count < key.path.count && r.isPrefix(of: key) }
        }
    }

    private func forgetAliased(_ state: inout PathState) {
        if state.facts.isEmpty { return }
        state.facts = state.facts.filter { !liveness.addressTaken.contains($0.key.root) }
    }

    // MARK: - Calls

    /// What a call does: the rules (by qualified, then plain name), else the summary of a function of this run;
    /// a library call that runs a callback unable to take the GIL from this thread blocks.
    func resolve(_ site: CallSite) -> CallRule {
        var rule = resolveByName(site)
        if !rule.blocks, rule.effect == nil, !callbackHazards.isEmpty, !site.isIndirect,
           let hazard = callbackHazards[site.callee]?.first(where: { $0.handleType == nil || $0.handleType == site.handleType }) {
            rule.blocks = true
            rule.runsCallback = hazard
        }
        return rule
    }

    private func resolveByName(_ site: CallSite) -> CallRule {
        if let effect = site.guardEffect {
            return CallRule(effect: effect, slot: .argument(0), requiresGIL: false, blocks: false, deprecated: nil,
                            threadEntry: nil, summary: nil, callee: site.callee)
        }
        let name = site.qualifiedCallee ?? site.callee
        if let rule = model.rule(for: site), site.isIndirect || !model.isLibraryRule(rule) || summaries(site.callee) == nil {
            var r = CallRule(effect: rule.effect, slot: rule.state ?? defaultSlot(rule.effect), requiresGIL: model.requiresGIL(rule.name),
                             blocks: rule.blocks, deprecated: rule.deprecated, threadEntry: rule.threadEntry,
                             summary: nil, callee: rule.name, forks: rule.forks)
            r.blockCondition = rule.blockCondition
            return r
        }
        if !site.isIndirect, let s = summaries(site.callee) {
            let releasedAround = s.isEmpty ? inferredBlocking[site.callee] : nil
            return CallRule(effect: s.effect, slot: s.slot, requiresGIL: s.needsGIL != nil,
                            blocks: s.blocks != nil || releasedAround != nil,
                            deprecated: nil, threadEntry: s.threadEntry, summary: s, callee: site.callee,
                            releasedAroundAt: releasedAround)
        }
        let releasedAround = site.isIndirect ? nil : inferredBlocking[name]
        return CallRule(effect: nil, slot: nil, requiresGIL: !site.isIndirect && model.requiresGIL(name),
                        blocks: releasedAround != nil, deprecated: nil, threadEntry: nil, summary: nil, callee: name,
                        releasedAroundAt: releasedAround)
    }

    private func defaultSlot(_ effect: GILEffect?) -> StateSlot? {
        switch effect {
        case .ensure?, .save?: return .result
        case .release?, .restore?: return .argument(0)
        default: return nil
        }
    }

    /// Records the functions an outside call made with the GIL held (or not known released) hands over, replacing
    /// what an earlier call with the same callee and key handed for the same slot.
    private func register(_ site: CallSite, _ state: inout PathState) {
        guard !site.arguments.isEmpty else { return }
        func key(_ n: Int, skipping: Set<Int>) -> (StorageKey.Root?, [Int: Int]) {
            var handle: StorageKey.Root?
            var constants: [Int: Int] = [:]
            for (i, a) in site.arguments.prefix(n).enumerated() where !skipping.contains(i) {
                if case .constant(let v) = a.value { constants[i] = v; continue }
                if i == 0 { handle = (a.addressOf ?? a.storage)?.root }
            }
            return (handle, constants)
        }
        if !state.registered.isEmpty {
            state.registered.removeAll { r in
                guard r.callee == site.callee, r.argument < site.arguments.count else { return false }
                let (handle, constants) = key(r.argument, skipping: r.functionArguments)
                return handle == r.handle && constants == r.constants
            }
        }
        let handing = Set(site.arguments.indices.filter { !site.arguments[$0].handedFunctions.isEmpty })
        for n in handing.sorted() {
            let (handle, constants) = key(n, skipping: handing)
            state.registered.append(PendingRegistration(callee: site.callee, argument: n, handle: handle, constants: constants,
                                                        functionArguments: handing, functions: site.arguments[n].handedFunctions,
                                                        shown: site.shown, location: site.location))
            if state.registered.count > 16 { state.registered.removeFirst() }
        }
    }

    /// Whether an outside call may call back what `r` registered: a call of the same library (`library(of:)`)
    /// that, when the registration named an object, is given the same object.
    private func mayCallBack(_ r: PendingRegistration, _ site: CallSite) -> Bool {
        guard site.callee != r.callee else { return false }
        let library = model.library(of: site.callee)
        let sameLibrary = library != nil && library == model.library(of: r.callee)
        guard let handle = r.handle else { return sameLibrary }
        let sharesHandle = site.arguments.contains { ($0.addressOf ?? $0.storage)?.root == handle }
        return sharesHandle && (sameLibrary || library == nil)
    }

    private mutating func call(_ site: CallSite, _ w: inout Walker, into out: inout [Walker]) {
        let rule = resolve(site)
        // Deviance evidence: the first call of a released region to an outside function, or to a function of
        // the run that does nothing the GIL rules see (lmdb's preload() touching the pages of a memory map).
        if w.state.gil == .released, !w.state.inForkedChild, !w.state.releasedByCaller, rule.effect == nil,
           rule.summary?.isEmpty ?? true, !rule.requiresGIL, !site.isIndirect, rule.releasedAroundAt == nil,
           model.rule(for: site) == nil, summaries(site.callee)?.isEmpty ?? true {
            let region = w.state.saves.last?.site
            if region == nil || region != w.state.regionWithOutsideCall {
                let name = site.qualifiedCallee ?? site.callee
                // C++ library types and operators are not a project's slow calls.
                if !name.hasPrefix("std::"), !site.callee.hasPrefix("operator"), !site.callee.hasPrefix("~") {
                    releasedOutsideCalls[name, default: []].insert(site.location)
                }
                w.state.regionWithOutsideCall = region
            }
        }
        if let deprecated = rule.deprecated, deprecated.soft {
            var message = "\(site.shown) is soft-deprecated since Python \(deprecated.since)"
            if let replacement = deprecated.replacement { message += "; new code can use \(replacement)" }
            report(.deprecatedGILAPI, at: site.location, message, walker: nil, since: 0, severity: .note)
        } else if let deprecated = rule.deprecated {
            var message = "\(site.shown) is deprecated since Python \(deprecated.since)"
            if let removed = deprecated.removed { message += " and removed in \(removed)" }
            if let replacement = deprecated.replacement { message += "; use \(replacement)" }
            report(.deprecatedGILAPI, at: site.location, message, walker: nil, since: 0)
        }
        // After finalization no Python API may be used and the GIL cannot be taken.
        if w.state.finalized, !w.state.entryUseReported,
           rule.requiresGIL && rule.effect != .finalize && rule.effect != .initialize
            || [.ensure, .restore, .acquire].contains(rule.effect) {
            w.state.entryUseReported = true
            let what = rule.requiresGIL && rule.effect == nil ? "\(site.shown)\(rule.because) needs the interpreter" : "\(site.shown) cannot take the GIL"
            if entry.atExit, let origin = entry.threadOrigin {
                report(.finalizeWithoutGIL, at: site.location,
                       "\(what), but '\(cfg.name)' runs after the interpreter is finalized (\(origin))", walker: w, since: 0)
            } else {
                report(.finalizeWithoutGIL, at: site.location, "\(what), which is finalized on this path", walker: w, since: 0)
            }
        } else if w.state.finalized {
            // Finalized, and reported once on this path already: the GIL checks below no longer apply.
        } else if rule.requiresGIL, rule.effect == nil || (rule.summary != nil && rule.effect != .finalize) {
            switch w.state.gil {
            case .released where rule.summary?.releasesCallersGIL == true && !w.state.releasedByCaller:
                report(.nestedRelease, at: site.location,
                       "\(site.shown)\(rule.because) releases the GIL, but it is already released on this path",
                       walker: w, since: w.state.saves.last?.depth ?? 0)
            case .released:
                reportWithoutGIL(at: site.location, what: "\(site.shown)\(rule.because)", &w)
            case .unknown:
                if needsGILWitness == nil {
                    needsGILWitness = rule.summary?.needsGIL ?? site.shown
                    witnessReleases = rule.summary?.releasesCallersGIL ?? false
                }
            case .held:
                break
            }
        }
        // Releasing calls need the GIL too: a helper that saves or releases with its caller's GIL must not be
        // called from a region that already released it.
        if w.state.gil == .unknown, needsGILWitness == nil, rule.summary == nil,
           [.save, .release, .releaseGIL, .finalize].contains(rule.effect) {
            needsGILWitness = site.shown
            witnessReleases = rule.effect != .finalize
        }
        applyResources(site, &w)
        checkBorrowed(site, &w)
        if !w.state.resources.isEmpty, rule.threadEntry != nil || model.rule(for: site)?.callbackThread != nil {
            handResourcesToThread(site, &w.state)
        }
        if rule.blocks { blocking(site, rule, &w) }
        trackMutex(site, &w)
        trackThreadLifetime(site, rule, &w)
        if rule.effect == nil, rule.summary == nil, !rule.requiresGIL, rule.threadEntry == nil, !site.isIndirect,
           summaries(site.callee) == nil, model.rule(for: site)?.callbackThread == nil {
            if w.state.gil == .released {
                for a in site.arguments {
                    for f in a.handedFunctions where !releasedRegistrations.contains(where: { $0.function == f }) {
                        releasedRegistrations.append(CallbackRegistration(function: f, registrar: site.shown,
                                                                          location: site.location))
                    }
                }
                for r in w.state.registered where mayCallBack(r, site) {
                    for f in r.functions where !releasedRegistrations.contains(where: { $0.function == f }) {
                        releasedRegistrations.append(CallbackRegistration(function: f, registrar: r.shown, location: r.location,
                                                                          invokedBy: site.shown, invokedAt: site.location))
                    }
                }
            } else {
                register(site, &w.state)
            }
            if w.state.gil == .released, site.handleType != nil || !site.vtableArguments.isEmpty {
                releasedLibraryCalls.insert(ReleasedLibraryCall(callee: site.callee, handleType: site.handleType,
                                                                tables: Set(site.vtableArguments.values), location: site.location))
            }
        }
        if let n = rule.threadEntry, n < site.arguments.count {
            let argument = site.arguments[n]
            if !argument.functionReferences.isEmpty {
                for entryName in argument.functionReferences {
                    threadStarted(site, entryName, &w)
                    if !startedThreads.contains(entryName) { startedThreads.append(entryName) }
                }
            } else if threadEntryParameter == nil, case .read(let k) = argument.value,
                      let index = cfg.parameters.firstIndex(of: k) {
                // A wrapper that starts the function its caller names (`spawn(fn, arg)`).
                threadEntryParameter = index
            }
        }
        for name in rule.summary?.startsThreads ?? [] {
            threadStarted(site, name, &w)
            if !startedThreads.contains(name) { startedThreads.append(name) }
        }
        if let result = site.result { forget(result, in: &w.state) }
        if w.state.finalized, let result = site.result, let value = model.rule(for: site)?.returnsAtExit {
            w.state.facts[result] = .equals(value)   // Py_IsInitialized() is 0 once the interpreter is finalized
        }
        if rule.forks, let result = site.result {
            // fork(): the child gets 0, the parent the child's pid (or -1).
            var child = w
            child.state.facts[result] = .equals(0)
            child.state.inForkedChild = true
            child.note(site.location, "assuming \(site.shown) returns 0: the child process, which runs no other thread")
            out.append(child)
            w.state.facts[result] = .notEquals([0])
        }
        // C++: a callee that throws on some path (its summary) may leave through the guards' destructors into a
        // handler, or out of this function; one that always throws never returns here.
        if site.mayThrow, let thrown = rule.summary?.throwsAt {
            var exceptional = w
            exceptional.note(site.location, "\(site.shown) throws (summary: \(thrown))")
            if let types = rule.summary?.thrownTypes, !site.unwindRoutes.isEmpty {
                // Each type the callee throws goes to the first handler that catches it, else out of the function.
                var uncaught: [ThrownType] = []
                var entered = Set<Int>()
                for type in types {
                    guard let route = site.unwindRoutes.first(where: { r in r.catches.map(type.contains) ?? true }) else {
                        uncaught.append(type)
                        continue
                    }
                    guard entered.insert(route.pad).inserted else { continue }
                    var caught = exceptional
                    caught.unwindTo = route.pad
                    out.append(caught)
                }
                if !uncaught.isEmpty {
                    var escaping = exceptional
                    escaping.note(site.location, "no handler around it catches what \(site.shown) throws")
                    if let escape = site.unwindEscape {
                        escaping.state.inFlight = InFlight(types: uncaught, from: "\(site.shown) throws")
                        escaping.unwindTo = escape
                        out.append(escaping)
                    } else {
                        leave(&escaping, returning: nil, at: site.location, implicit: false,
                              raising: "\(site.shown) throws", thrown: uncaught)
                    }
                }
            } else if let target = site.unwind {
                if target == site.unwindEscape {
                    exceptional.state.inFlight = InFlight(types: rule.summary?.thrownTypes, from: "\(site.shown) throws")
                }
                exceptional.unwindTo = target
                out.append(exceptional)
            } else {
                leave(&exceptional, returning: nil, at: site.location, implicit: false, raising: "\(site.shown) throws",
                      thrown: rule.summary?.thrownTypes)
            }
            if rule.summary?.alwaysThrows == true { return }
        }

        var outcomes = [w]
        if let s = rule.summary, s.effect != nil, let n = s.effectArgument, n < site.arguments.count {
            // The callee acts only when this argument has the truth `effectWhenTrue`: fork on it.
            let argument = site.arguments[n]
            let acting = assume(argument.value, s.effectWhenTrue, w.state)
            let idle = assume(argument.value, !s.effectWhenTrue, w.state)
            let forked = !acting.isEmpty && !idle.isEmpty
            let named = [argument.text, argument.storage?.text ?? "", argument.value.keysRead.first?.text ?? ""]
            let shown = named.first(where: { !$0.isEmpty }) ?? "argument \(n + 1)"
            for state in idle {
                var without = w
                without.state = state
                if forked { without.note(site.location, "assuming \(shown) is \(!s.effectWhenTrue), when \(site.shown) does nothing (summary)") }
                // The state it would release (or store) stays where it is.
                unknownCall(site, &without, keeping: rule.slot.flatMap { stateKey(site, $0) })
                out.append(without)
            }
            outcomes = acting.map { state in
                var with = w
                with.state = state
                if forked { with.note(site.location, "assuming \(shown) is \(s.effectWhenTrue)") }
                return with
            }
        } else if let s = rule.summary, s.effect != nil, let yes = s.effectValues, let no = s.otherValues {
            // The callee acquires (or releases) only on the paths that return `yes`: fork on its result (also
            // when the caller ignores it: then both outcomes remain possible).
            var without = w
            if let result = site.result {
                without.state.facts[result] = yes.count == 1 ? .equals(no.count == 1 ? no.first! : -1) : .notEquals(yes)
                if no.count == 1 { without.state.facts[result] = .equals(no.first!) }
                w.state.facts[result] = yes.count == 1 ? .equals(yes.first!) : .notEquals(no)
            } else {
                without.note(site.location, "assuming \(site.shown) fails (its result is ignored)")
            }
            unknownCall(site, &without)
            outcomes = [w]
            out.append(without)
        }
        // The caller's walker lives on only in `outcomes`: drop it, and take each outcome out of the array, so
        // that `apply` mutates uniquely referenced state instead of copying it.
        w = Walker(state: PathState(), path: nil)
        for i in outcomes.indices {
            var o = outcomes[i]
            outcomes[i] = Walker(state: PathState(), path: nil)
            apply(rule, site, &o, into: &out)
            if let s = rule.summary, s.effect != nil {
                o.note(site.location, "\(site.shown) \(s.effectDescription) (summary)")
            }
            if site.declaredNoReturn { o.dead = true }
            out.append(o)
        }
    }

    private mutating func apply(_ rule: CallRule, _ site: CallSite, _ w: inout Walker, into out: inout [Walker]) {
        switch rule.effect {
        case .ensure?:
            ensure(site, slot: rule.slot ?? .result, &w)
        case .release?:
            release(site, slot: rule.slot ?? .argument(0), &w)
        case .save?:
            save(site, slot: rule.slot ?? .result, &w)
        case .restore?:
            restore(site, slot: rule.slot ?? .argument(0), fromSummary: rule.summary != nil, &w)
        case .acquire?:
            if let i = w.state.saves.lastIndex(where: \.stateless) {
                w.state.saves.remove(at: i)
            } else if w.state.gil != .held {
                w.state.statelessAcquired = min(w.state.statelessAcquired + 1, 4)
            }
            waitForGIL(site, w)
            gilAcquired(site, &w)
        case .releaseGIL?:
            if w.state.statelessAcquired > 0 {
                w.state.statelessAcquired -= 1
            } else if acquiresStatelessly, w.state.gil != .released {
                w.note(site.location, "GIL released here by \(site.shown)")
                w.state.saves.append(Held(keys: [], site: site.location, api: site.shown, escaped: false,
                                          previous: w.state.gil, depth: w.depth, stateless: true))
            }
            gilReleased(&w)
        case .initialize?:
            gilAcquired(site, &w)
            w.state.heldSinceInitialize = true
            w.state.finalized = false
        case .finalize?:
            if w.state.gil == .released {
                report(.finalizeWithoutGIL, at: site.location,
                       "\(site.shown) is called without the GIL; re-acquire it first (PyEval_RestoreThread() or PyGILState_Ensure())",
                       walker: w, since: w.state.saves.last?.depth ?? 0)
            }
            w.state.ensures.removeAll()
            w.state.saves.removeAll()
            w.state.gil = .unknown
            w.state.heldSinceInitialize = false
            w.state.threadStartedWhileHeld = nil
            if let at = w.state.detachedAt, let by = w.state.detachedShown, !w.state.finalized {
                threadsAtFinalize.append(ThreadAtFinalize(location: site.location, function: cfg.name, path: w.path?.notes(since: 1) ?? [],
                    message: "\(site.shown) runs while threads detached by \(by) at line \(at.line) may still be running; one that takes the GIL during or after finalization hangs or crashes the process: join them first"))
            }
            w.state.finalized = true
            w.state.finalizedAt = w.state.finalizedAt ?? site.location
            w.note(site.location, "interpreter finalized here")
        case .noreturn?:
            w.dead = true
        case .check?:
            if let result = site.result {
                switch w.state.gil {
                case .held: w.state.facts[result] = .equals(1)
                case .released: w.state.facts[result] = .equals(0)
                case .unknown:
                    var holding = w
                    holding.state.gil = .held
                    holding.heldSince = holding.depth + 1
                    holding.state.facts[result] = .equals(1)
                    holding.note(site.location, "assuming this thread holds the GIL (\(site.shown) is true)")
                    out.append(holding)
                    w.state.gil = .released
                    w.state.facts[result] = .equals(0)
                    w.note(site.location, "assuming this thread does not hold the GIL (\(site.shown) is false)")
                }
            }
        case nil:
            // A helper that releases the caller's state and re-acquires it in place leaves it with the caller.
            let kept = rule.summary?.yields.flatMap { stateKey(site, $0) }
            unknownCall(site, &w, keeping: kept)
            if let kept, w.state.ensures.contains(where: { $0.keys.contains(kept) }) {
                w.note(site.location, "\(site.shown) releases GIL state '\(kept.text)' and re-acquires it in place (summary)")
            }
        }
    }

    /// Joins and detaches around Py_FinalizeEx(): a thread joined after it, or detached before it, was running
    /// while the interpreter was finalized.
    private mutating func trackThreadLifetime(_ site: CallSite, _ rule: CallRule, _ w: inout Walker) {
        let named = site.isIndirect ? nil : model.rule(for: site)
        let joins = named?.joins == true ? site.shown : rule.summary?.joins.map { "\(site.shown) (summary: it calls \($0))" }
        if let joins {
            if joinsWitness == nil { joinsWitness = rule.summary?.joins ?? site.shown }
            if let at = w.state.finalizedAt {
                threadsAtFinalize.append(ThreadAtFinalize(location: site.location, function: cfg.name, path: w.path?.notes(since: 1) ?? [],
                    message: "\(joins) waits for threads after the interpreter was finalized at line \(at.line): they were still running during finalization, and one that takes the GIL then hangs or crashes the process; join them before Py_FinalizeEx()"))
            }
        }
        if named?.detaches == true, !w.state.finalized, w.state.detachedAt == nil {
            w.state.detachedAt = site.location
            w.state.detachedShown = site.shown
        }
    }

    /// Locks and unlocks of the project's mutexes: which are held along the path, and the GIL at each lock.
    private mutating func trackMutex(_ site: CallSite, _ w: inout Walker) {
        if let m = site.lock, m.locks {
            lockOrder.locks.insert(LockOrder.Lock(mutex: m.key, text: m.text, location: site.location, gil: w.state.gil))
            if w.state.mutexes.count < 4 {
                w.state.mutexes.append(HeldMutex(key: m.key, text: m.text, site: site.location, holder: site.object?.addressOf))
            }
            return
        }
        guard !w.state.mutexes.isEmpty else { return }
        if let m = site.lock {
            if let i = w.state.mutexes.lastIndex(where: { $0.key == m.key }) { w.state.mutexes.remove(at: i) }
        } else if let holder = site.object?.addressOf,
                  site.callee.hasPrefix("~") || model.rule(for: site)?.unlocks != nil {
            // A lock guard's end of scope, or `lk.unlock()`.
            w.state.mutexes.removeAll { $0.holder == holder }
        }
    }

    /// A wait for the GIL while this path holds a mutex of the project: one half of a lock-order inversion,
    /// reported when another place locks that mutex with the GIL held (`LockOrder.findings`).
    private mutating func waitForGIL(_ site: CallSite, _ w: Walker) {
        guard w.state.gil != .held, let m = w.state.mutexes.last else { return }
        var notes = w.path?.notes(since: 1) ?? []
        notes.insert(PathNote(file: m.site.file, line: m.site.line, column: m.site.column, message: "'\(m.text)' locked here"), at: 0)
        lockOrder.waits.append(LockOrder.Wait(mutex: m.key, text: m.text, lockedAt: m.site, location: site.location,
                                              shown: site.shown, function: cfg.name, notes: notes))
    }

    private func gilAcquired(_ site: CallSite, _ w: inout Walker) {
        if w.state.gil != .held { w.heldSince = w.depth + 1 }
        w.note(site.location, "GIL acquired here by \(site.shown)")
        w.state.gil = .held
        w.state.releasedByCaller = false
    }

    private func gilReleased(_ w: inout Walker) {
        w.state.gil = .released
        w.state.heldSinceInitialize = false
        w.state.threadStartedWhileHeld = nil
    }

    /// api-without-gil, or thread-entry-without-gil when the GIL was never taken since the thread started.
    private mutating func reportWithoutGIL(at location: SourceLocation, what: String, _ w: inout Walker) {
        if w.state.releasedByCaller, let origin = entry.threadOrigin {
            // The first use is the bug; the ones after it on the same path are the same missing acquisition.
            guard !w.state.entryUseReported else { return }
            w.state.entryUseReported = true
            report(.threadEntryWithoutGIL, at: location,
                   "\(what) needs the GIL, but '\(cfg.name)' runs on a thread without it (\(origin)) and has not acquired it on this path",
                   walker: w, since: 1)
        } else {
            report(.apiWithoutGIL, at: location, "\(what) needs the GIL, which is released on this path",
                   walker: w, since: w.state.saves.last?.depth ?? 0)
        }
    }

    private mutating func blocking(_ site: CallSite, _ rule: CallRule, _ w: inout Walker) {
        let lock = site.arguments.first?.text ?? ""
        if !lock.isEmpty && model.isSafeLock(lock) { return }
        // A try-lock: `PyThread_acquire_lock(lock, 0)` (NOWAIT_LOCK) and a zero timeout return at once (regex
        // tries without waiting, and releases the GIL before it waits).
        if rule.summary == nil, ["PyThread_acquire_lock", "PyThread_acquire_lock_timed"].contains(site.callee),
           site.arguments.count > 1, evaluate(site.arguments[1].value, w.state) == .equals(0) { return }
        // In a forked child no other thread can wait for the GIL.
        if w.state.inForkedChild { return }
        // A call that blocks only for some arguments (`ldap_set_option(NULL, …)`, not `recv(…, MSG_DONTWAIT)`).
        var conditionNote = ""
        if let c = rule.blockCondition, c.argument < site.arguments.count {
            // A probe's result (`PQisBusy(conn)` tested before `PQgetResult(conn)`), else the argument itself.
            let read: Value? = c.probe == nil ? site.arguments[c.argument].value : site.probeResult.map(Value.read)
            let holds = read.flatMap { conditionHolds(c, evaluate($0, w.state)) }
            switch c.mode {
            case .when:
                guard holds == true else { return }
                conditionNote = " (it blocks when \(c.text.replacingOccurrences(of: "arg\(c.argument)", with: "'\(site.arguments[c.argument].text.isEmpty ? "argument \(c.argument + 1)" : site.arguments[c.argument].text)'")), as on this path)"
            case .unless:
                if holds == true { return }
            }
        }
        if w.state.gil != .held, let section = blockingResource(w.state), let kind = model.resources[section.kind] {
            report(.blockingWithGIL, at: site.location,
                   "\(site.shown)\(rule.blockingBecause) may block inside the \(kind.noun) '\(section.name)' begun by \(section.api) at line \(section.site.line); threads that need the object wait, and one that holds what this waits for deadlocks with it",
                   walker: w, since: section.depth)
            return
        }
        if entry.pythonOnEveryPath != nil, rule.summary != nil || rule.releasedAroundAt != nil || rule.runsCallback != nil { return }
        // A helper that blocks only for a non-zero argument, called with 0 (`POOL_free(NULL)` on an error path).
        if let n = rule.summary?.blocksArgument, n < site.arguments.count,
           evaluate(site.arguments[n].value, w.state) == .equals(0) { return }
        switch w.state.gil {
        case .held where rule.runsCallback != nil:
            let h = rule.runsCallback!
            report(.blockingWithGIL, at: site.location,
                   "\(site.shown) may call back \(h.function)() (set with \(h.registrar)() at \(h.location.place)), which takes the GIL with \(h.acquisition); called while this thread holds the GIL, the callback waits for this thread or cannot run",
                   walker: w, since: w.heldSince)
        case .held:
            let evidence = rule.releasedAroundAt.map {
                PathNote(file: $0.file, line: $0.line, column: $0.column,
                         message: "the project releases the GIL around \(site.callee)() here, so it is taken to block")
            }
            report(.blockingWithGIL, at: site.location,
                   "\(site.shown)\(rule.blockingBecause)\(conditionNote) may block while this thread holds the GIL; a thread that holds what it waits for and needs the GIL deadlocks with it",
                   walker: w, since: w.heldSince, extraNote: evidence)
        case .unknown:
            if blocksWitness == nil { blocksWitness = rule.summary?.blocks ?? site.shown }
        case .released:
            break
        }
        if w.state.threadStartedWhileHeld != nil, w.state.gil == .held {
            reportInitHolds(&w)
        }
    }

    /// Whether a call's argument, as this path knows it, meets a rule's condition: nil when not known.
    private func conditionHolds(_ c: BlockCondition, _ fact: Fact?) -> Bool? {
        switch fact {
        case .equals(let v)?: return c.holds(for: v)
        case .notEquals(let excluded)? where c.mask == nil && excluded.contains(c.value):
            return c.comparison == .notEqual
        default: return nil
        }
    }

    private mutating func threadStarted(_ site: CallSite, _ entryName: String, _ w: inout Walker) {
        guard w.state.gil == .held, w.state.heldSinceInitialize, w.state.threadStartedWhileHeld == nil,
              entryTakesGIL(entryName) else { return }
        w.state.threadStartedWhileHeld = site.location
        w.state.threadStartedName = entryName
        w.note(site.location, "thread '\(entryName)' started here while this thread holds the GIL from Py_Initialize()")
    }

    private mutating func reportInitHolds(_ w: inout Walker) {
        guard let location = w.state.threadStartedWhileHeld else { return }
        let name = w.state.threadStartedName ?? "the thread"
        report(.initHoldsGIL, at: location,
               "thread '\(name)' takes the GIL, but it is started while this thread still holds the GIL from Py_Initialize() and this path never releases it (PyEval_SaveThread()); the thread waits forever",
               walker: w, since: w.heldSince)
        w.state.threadStartedWhileHeld = nil
    }

    /// The storage a state lives in at this call: where the result goes, or the argument named by the rule.
    func stateKey(_ site: CallSite, _ slot: StateSlot) -> StorageKey? {
        switch slot {
        case .result:
            return site.result
        case .argument(let n):
            guard n < site.arguments.count else { return nil }
            let a = site.arguments[n]
            if let s = a.storage { return s }
            if case .read(let k) = a.value { return k }
            return nil
        case .pointee(let n):
            guard n < site.arguments.count else { return nil }
            let a = site.arguments[n]
            if let k = a.addressOf { return k }
            if var k = a.storage {
                k.path.append("*"); k.isLocal = false; k.text = "*" + k.text
                return k
            }
            return nil
        case .global(let usr, let path, let text):
            return StorageKey(root: .global(usr), path: path, isLocal: false, text: text)
        case .field(let n, let path):
            guard n < site.arguments.count else { return nil }
            let a = site.arguments[n]
            if var k = a.addressOf {
                for step in path { k.path.append("." + step.dropFirst(2)); k.text += "." + step.dropFirst(2) }
                return k
            }
            if var k = a.storage {
                k.path += path; k.isLocal = false; k.text += path.joined()
                return k
            }
            return nil
        case .object(let path):
            // `this->ts` of the callee: a field of the object it is called on.
            guard let o = site.object, let first = path.first else { return nil }
            if var k = o.addressOf {
                k.path.append("." + first.dropFirst(2)); k.path += path.dropFirst()
                k.text += "." + first.dropFirst(2) + path.dropFirst().joined()
                return k
            }
            var base = o.storage
            if base == nil, case .read(let k) = o.value { base = k }
            guard var k = base else { return nil }
            k.path += path; k.isLocal = false; k.text += path.joined()
            return k
        }
    }

    /// Which of the caller's places a key is: the result, a parameter, what a parameter points to.
    private func callerSlot(_ key: StorageKey, returned: Set<StorageKey>) -> StateSlot? {
        if returned.contains(key) { return .result }
        if case .global(let usr) = key.root { return .global(usr, key.path, text: key.text) }
        if key.root == CFGBuilder.thisKey.root, key.path.first?.hasPrefix("->") == true { return .object(key.path) }
        guard let index = cfg.parameters.firstIndex(of: key.rootOnly) else { return nil }
        if key.path.isEmpty { return .argument(index) }
        if key.path == ["*"] { return .pointee(index) }
        if key.path.allSatisfy({ $0.hasPrefix("->") }) { return .field(index, key.path) }
        return nil
    }

    private mutating func ensure(_ site: CallSite, slot: StateSlot, _ w: inout Walker) {
        waitForGIL(site, w)
        let key = stateKey(site, slot)
        if let key, slot != .result {
            overwrite(key, at: site.location, &w, keepingIfCarried: [])
        }
        if w.state.ensures.count >= limits.maxHeldDepth { w.dead = true; return }
        let escaped = key == nil
        if w.state.gil != .held { w.heldSince = w.depth + 1 }
        w.note(site.location, "GIL acquired here by \(site.shown)")
        var held = Held(keys: key.map { [$0] } ?? [], site: site.location, api: site.shown,
                        escaped: escaped, previous: w.state.gil, depth: w.depth)
        if w.state.gil == .released, let region = w.state.saves.last(where: { !$0.stateless }) { held.insideSave = region.site }
        if let key, slot != .result { giveBackEnsure(key, &held, &w.state) }
        w.state.ensures.append(held)
        w.state.gil = .held
        w.state.releasedByCaller = false
        if let key { w.state.released.remove(key) }
    }

    private mutating func release(_ site: CallSite, slot: StateSlot, _ w: inout Walker) {
        let key = stateKey(site, slot)
        let live = w.state.ensures
        if let index = site.releasesCountingUp, let state = site.arguments.first?.text {
            report(.releaseOrder, at: site.location,
                   "\(site.shown) releases the GIL states '\(state)' with '\(index)' counting up: the first one taken is released first, while those taken after it are still held; release them last-in, first-out (count down)",
                   walker: w, since: 0)
        }
        if let key, let index = live.lastIndex(where: { $0.keys.contains(key) }) {
            let inner = live[(index + 1)...].filter { !$0.escaped }
            if let newest = inner.last {
                report(.releaseOrder, at: site.location,
                       "\(site.shown) releases GIL state '\(live[index].name)' before the more recent state '\(newest.name)'",
                       walker: w, since: live[index].depth)
            } else {
                w.state.gil = live[index].previous
            }
            let taken = w.state.ensures.remove(at: index)
            w.state.released.insert(key)
            if taken.givesBack {
                w.state.lent.insert(key)
                if let slot = callerSlot(key, returned: []), w.state.callerStateEffect == nil {
                    w.state.callerStateEffect = .release
                    w.state.callerStateSlot = slot
                }
            }
            w.note(site.location, "GIL state '\(key.text)' released here")
            return
        }
        guard let key else {
            // A state the analysis cannot name: give back the innermost one, if any.
            if let index = live.lastIndex(where: { !$0.escaped }) {
                w.state.gil = live[index].previous
                w.state.ensures.remove(at: index)
            } else {
                w.state.gil = .unknown
            }
            return
        }
        let owned = key.isLocal && !cfg.parameters.contains(key.rootOnly) && !key.isTemporary
            && !w.state.foreign.contains(key)
        if w.state.released.contains(key) {
            report(.releaseWithoutEnsure, at: site.location,
                   "\(site.shown) releases GIL state '\(key.text)', which was already released on this path",
                   walker: w, since: 0)
            w.state.gil = .unknown
        } else if owned {
            report(.releaseWithoutEnsure, at: site.location,
                   "\(site.shown) releases GIL state '\(key.text)', which is not held on this path",
                   walker: w, since: 0)
            w.state.gil = .unknown
        } else {
            // The caller's state (a parameter, a field, a global): releasing it is the caller's business.
            w.state.gil = .unknown
            w.state.released.insert(key)
            if !key.isLocal || w.state.foreign.contains(key) { w.state.lent.insert(key) }
            if let slot = callerSlot(key, returned: []), w.state.callerStateEffect == nil {
                w.state.callerStateEffect = .release
                w.state.callerStateSlot = slot
            }
        }
    }

    private mutating func save(_ site: CallSite, slot: StateSlot, _ w: inout Walker) {
        if w.state.gil == .released {
            report(.nestedRelease, at: site.location,
                   "\(site.shown) releases the GIL, but it is already released on this path",
                   walker: w, since: w.state.saves.last?.depth ?? 0)
        }
        let key = stateKey(site, slot)
        if let key, slot != .result { overwrite(key, at: site.location, &w, keepingIfCarried: []) }
        if w.state.saves.count >= limits.maxHeldDepth { w.dead = true; return }
        w.note(site.location, "GIL released here by \(site.shown)")
        var held = Held(keys: key.map { [$0] } ?? [], site: site.location, api: site.shown,
                        escaped: key == nil, previous: w.state.gil, depth: w.depth)
        // Back into the caller's place (`st->ts = PyEval_SaveThread()`), or the borrowed state itself released
        // again (`PyEval_ReleaseThread(ts)`); a new save into a local is no give-back.
        if let key, !key.isLocal || slot != .result { giveBack(key, &held, &w.state) }
        // `PyEval_ReleaseThread(tstate)` with the caller's own thread state (a parameter): the caller holds it,
        // unless this function also restores it itself somewhere (then a path that does not is a leak).
        if let key, case .argument = slot, key.path.isEmpty, cfg.parameters.contains(key.rootOnly),
           !releasedSomewhere.contains(key) {
            held.escaped = true
        }
        w.state.saves.append(held)
        gilReleased(&w)
        if let key { w.state.restored.remove(key) }
        // PyEval_SaveThread() never returns NULL: `if (ts != NULL) PyEval_RestoreThread(ts)` follows the save.
        if let key, slot == .result { w.state.facts[key] = .notEquals([0]) }
    }

    /// A save stored into a place whose caller's state this path restored earlier gives that state back: for
    /// the caller nothing changed on this path.
    private func giveBack(_ key: StorageKey, _ held: inout Held, _ state: inout PathState) {
        guard state.borrowed.remove(key) != nil else { return }
        held.givesBack = true
        if state.callerStateEffect == .restore, state.callerStateSlot == callerSlot(key, returned: []) {
            state.callerStateEffect = nil
            state.callerStateSlot = nil
        }
    }

    /// An Ensure stored into a place whose caller's state this path released earlier re-acquires it: for the
    /// caller the state is held again, as it was handed in.
    private func giveBackEnsure(_ key: StorageKey, _ held: inout Held, _ state: inout PathState) {
        guard state.lent.remove(key) != nil else { return }
        held.givesBack = true
        let slot = callerSlot(key, returned: [])
        if state.callerStateEffect == .release, state.callerStateSlot == slot {
            state.callerStateEffect = nil
            state.callerStateSlot = nil
        }
        if let slot { state.yieldedSlot = slot }
    }

    /// Restoring a state the caller keeps (a parameter's field, what a parameter points to, a global).
    private func borrow(_ key: StorageKey, _ state: inout PathState) {
        if !key.isLocal || state.foreign.contains(key) { state.borrowed.insert(key) }
        if let slot = callerSlot(key, returned: []) ?? state.copiedFrom[key].flatMap({ callerSlot($0, returned: []) }),
           state.callerStateEffect == nil {
            state.callerStateEffect = .restore
            state.callerStateSlot = slot
        }
    }

    private mutating func restore(_ site: CallSite, slot: StateSlot, fromSummary: Bool = false, _ w: inout Walker) {
        waitForGIL(site, w)
        let key = stateKey(site, slot)
        let live = w.state.saves
        // A helper of the run that restores "through" the address of a local this function never saved into
        // (`if (!acquire_thread(self, &ts)) …`) fetched that thread state itself: it comes from elsewhere.
        if fromSummary, case .pointee = slot, let key, key.isLocal, !live.contains(where: { $0.keys.contains(key) }) {
            w.state.foreign.insert(key)
        }
        // The same for a helper that returns the thread state it re-acquired with (`st = acquire_state(c)`).
        if fromSummary, slot == .result, let key { w.state.foreign.insert(key) }
        if w.state.gil != .held { w.heldSince = w.depth + 1 }
        defer {
            w.state.gil = .held
            w.state.releasedByCaller = false
        }
        if let key, let index = live.lastIndex(where: { $0.keys.contains(key) }) {
            if let inner = w.state.ensures.last(where: { !$0.escaped && $0.insideSave == live[index].site }) {
                let name = inner.keys.first(where: { !$0.isTemporary })?.text ?? "the state"
                report(.releaseOrder, at: site.location,
                       "\(site.shown) restores thread state '\(key.text)' while GIL state '\(name)' from \(inner.api) at line \(inner.site.line), taken after it was saved, is still held: this thread already holds the GIL, and the restore waits for it; release '\(name)' first",
                       walker: w, since: inner.depth)
                for i in w.state.ensures.indices where w.state.ensures[i].insideSave == live[index].site {
                    w.state.ensures[i].insideSave = nil
                }
            }
            let taken = w.state.saves.remove(at: index)
            w.state.restored.insert(key)
            // The caller's state, given back earlier on this path, is borrowed again.
            if taken.givesBack { borrow(key, &w.state) }
            w.note(site.location, "GIL re-acquired here by \(site.shown)")
            return
        }
        guard let key else {
            if let index = live.lastIndex(where: { !$0.escaped }) ?? live.indices.last { w.state.saves.remove(at: index) }
            return
        }
        // Another field of the object this path saved into (`b->render_ts` restored after a save into
        // `b->io_ts`; a macro pair that saves into `self->state` and restores `self->multi->state`): the state
        // restored is not the one released here, which stays saved.
        if !key.isLocal, !w.state.restored.contains(key),
           let index = live.lastIndex(where: { h in !h.escaped && h.keys.contains { sibling($0, of: key) } }),
           let other = live[index].keys.first(where: { sibling($0, of: key) }) {
            report(.restoreWithoutSave, at: site.location,
                   "\(site.shown) restores thread state '\(key.text)', which was not saved on this path; \(live[index].api) at line \(live[index].site.line) saved the GIL's thread state into '\(other.text)', which is never restored",
                   walker: w, since: live[index].depth)
            w.state.saves.remove(at: index)
            return
        }
        let owned = key.isLocal && !cfg.parameters.contains(key.rootOnly) && !key.isTemporary
            && !w.state.foreign.contains(key)
        if w.state.restored.contains(key) {
            report(.restoreWithoutSave, at: site.location,
                   "\(site.shown) restores thread state '\(key.text)', which was already restored on this path",
                   walker: w, since: 0)
        } else if owned {
            report(.restoreWithoutSave, at: site.location,
                   "\(site.shown) restores thread state '\(key.text)', which was not saved on this path",
                   walker: w, since: 0)
        } else {
            w.state.restored.insert(key)
            w.note(site.location, "GIL re-acquired here by \(site.shown)")
            borrow(key, &w.state)
            if callerSlot(key, returned: []) == nil { w.state.acquiredElsewhere = true }
        }
    }

    /// Two different places below the same object, neither of them a local's own storage.
    private func sibling(_ a: StorageKey, of b: StorageKey) -> Bool {
        !a.isLocal && a.root == b.root && a.path != b.path && !a.path.isEmpty && !b.path.isEmpty
            && !a.isTemporary
    }

    /// A call the model knows nothing about: it may change anything reachable through pointers, and a state
    /// handed to it may be released by it.
    private mutating func unknownCall(_ site: CallSite, _ w: inout Walker, keeping kept: StorageKey? = nil) {
        forgetReachable(by: site, &w.state)
        let isPythonAPI = model.requiresGIL(site.callee) && !site.isIndirect
        for a in site.arguments {
            if let k = a.addressOf { forget(k, in: &w.state) }
            guard !isPythonAPI else { continue }
            let handed = [a.addressOf, a.storage].compactMap { $0 } + a.value.keysRead
            let startsThread = model.rule(for: site).map { $0.threadEntry != nil || $0.callbackThread != nil } ?? false
            if !w.state.resources.isEmpty, !startsThread, resourceRoles(site).acquires.isEmpty, resourceRoles(site).releases.isEmpty {
                escapeResources(handed.filter { $0 != kept }, callee: site.callee, &w.state)
            }
            for k in handed where k != kept {
                for i in w.state.ensures.indices where w.state.ensures[i].keys.contains(k) {
                    w.state.ensures[i].escaped = true
                }
                for i in w.state.saves.indices where w.state.saves[i].keys.contains(k) {
                    w.state.saves[i].escaped = true
                }
            }
        }
    }

    // MARK: - Leaving the function

    private mutating func leave(_ w: inout Walker, returning value: Value?, at location: SourceLocation, implicit: Bool,
                                raising: String? = nil, thrown: [ThrownType]? = nil) {
        let returned = Set(value?.keysRead ?? [])
        let whereTo = raising.map { $0 == "this throw" ? "before this throw" : "when \($0)" }
            ?? (implicit ? "before the end of the function" : "before this return")
        for h in w.state.ensures where isLeaked(h, returned: returned) {
            report(.ensureLeak, at: location,
                   "GIL state '\(h.name)' acquired by \(h.api) is not released \(whereTo)",
                   walker: w, since: h.depth)
        }
        for h in w.state.saves where isLeaked(h, returned: returned) {
            let what = h.stateless ? "the GIL released by \(h.api) is not re-acquired"
                : h.keys.contains(where: { $0.text == "_save" })
                ? "the GIL released by Py_BEGIN_ALLOW_THREADS is not re-acquired (thread state '_save' is not restored)"
                : "thread state '\(h.name)' saved by \(h.api) is not restored"
            report(.allowThreadsLeak, at: location, "\(what) \(whereTo)", walker: w, since: h.depth)
        }
        if !w.state.resources.isEmpty { leaveWithResources(w, returned: returned, at: location, whereTo: whereTo) }
        if w.state.threadStartedWhileHeld != nil, w.state.gil == .held { reportInitHolds(&w) }
        exits.append(ExitRecord(result: value.flatMap { evaluate($0, w.state) }, effect: exitEffect(w.state, returned),
                                yielded: w.state.yieldedSlot,
                                raises: raising.map { $0 == "this throw" ? "throw at line \(location.line)" : $0 },
                                raisedTypes: thrown))
    }

    /// What this exit hands to the caller, for the summary.
    private func exitEffect(_ s: PathState, _ returned: Set<StorageKey>) -> (GILEffect, StateSlot?)? {
        for h in s.ensures.reversed() where !h.givesBack {
            for k in h.keys.sorted(by: { $0.text < $1.text }) {
                if let slot = callerSlot(k, returned: returned) { return (.ensure, slot) }
            }
        }
        for h in s.saves.reversed() where !h.givesBack {
            for k in h.keys.sorted(by: { $0.text < $1.text }) {
                if let slot = callerSlot(k, returned: returned) { return (.save, slot) }
            }
        }
        // A copy of the caller's place re-acquired with and returned: the caller gets it as the result.
        if s.gil == .held, returned.contains(where: { $0.isLocal && s.borrowed.contains($0) && s.copiedFrom[$0] != nil }) {
            return (.restore, .result)
        }
        if let effect = s.callerStateEffect { return (effect, s.callerStateSlot) }
        // A thread state fetched from elsewhere (`st = self->ts`), re-acquired with and returned: the caller
        // holds the GIL with the state it is given (`if ((st = acquire_state(c)) == NULL) return;`).
        if s.gil == .held, returned.contains(where: { $0.isLocal && s.borrowed.contains($0) }) { return (.restore, .result) }
        if s.finalized { return (.finalize, nil) }
        if entry.gil == .unknown {
            if s.heldSinceInitialize && s.gil == .held { return (.initialize, nil) }
            if s.gil == .held && s.ensures.isEmpty && s.saves.isEmpty && (acquiredOwnGIL(s) || s.acquiredElsewhere) {
                return (.acquire, nil)
            }
            let own = s.saves.filter { !$0.givesBack }
            if s.gil == .released && own.allSatisfy({ $0.escaped }) && !own.isEmpty { return (.releaseGIL, nil) }
        }
        return nil
    }

    private func acquiredOwnGIL(_ s: PathState) -> Bool { !s.releasedByCaller && s.gil == .held && s.heldSinceInitialize }

    private func isLeaked(_ h: Held, returned: Set<StorageKey>) -> Bool {
        if h.escaped || h.givesBack { return false }
        if h.stateless { return true }
        if h.keys.contains(where: { k in returned.contains(where: { $0.isPrefix(of: k) || k.isPrefix(of: $0) }) }) {
            return false
        }
        let named = h.keys.filter { !$0.isTemporary }
        if named.isEmpty { return false }
        if named.contains(where: { !$0.isLocal }) {
            // Stored where the caller can reach it: a hand-off, unless this function releases it itself.
            return named.contains(where: { releasedSomewhere.contains($0) })
        }
        return true
    }

    // MARK: - Values

    func evaluate(_ v: Value, _ s: PathState) -> Fact? {
        switch v {
        case .constant(let n): return .equals(n)
        case .read(let k): return s.facts[k] ?? s.definitions[k].flatMap { evaluate($0, s) }
        case .addressOf, .nonZero: return .notEquals([0])
        case .unknown: return nil
        case .not(let a):
            guard let t = evaluate(a, s)?.truth else { return nil }
            return .equals(t ? 0 : 1)
        case .compare(let op, let a, let b):
            if let t = s.known[v] { return .equals(t ? 1 : 0) }
            let fa = evaluate(a, s), fb = evaluate(b, s)
            if case .equals(let x)? = fa, case .equals(let y)? = fb {
                let r: Bool
                switch op {
                case .eq: r = x == y
                case .ne: r = x != y
                case .lt: r = x < y
                case .le: r = x <= y
                case .gt: r = x > y
                case .ge: r = x >= y
                }
                return .equals(r ? 1 : 0)
            }
            if op == .eq || op == .ne {
                var different = false
                if case .equals(let x)? = fa, case .notEquals(let set)? = fb, set.contains(x) { different = true }
                if case .equals(let y)? = fb, case .notEquals(let set)? = fa, set.contains(y) { different = true }
                if different { return .equals(op == .eq ? 0 : 1) }
            }
            return nil
        case .and(let a, let b):
            let ta = evaluate(a, s)?.truth, tb = evaluate(b, s)?.truth
            if ta == false || tb == false { return .equals(0) }
            if ta == true && tb == true { return .equals(1) }
            return nil
        case .or(let a, let b):
            let ta = evaluate(a, s)?.truth, tb = evaluate(b, s)?.truth
            if ta == true || tb == true { return .equals(1) }
            if ta == false && tb == false { return .equals(0) }
            return nil
        case .arithmetic(let op, let a, let b):
            guard case .equals(let x)? = evaluate(a, s), case .equals(let y)? = evaluate(b, s) else { return nil }
            return op.apply(x, y).map(Fact.equals)
        case .select(let c, let a, let b):
            guard let t = evaluate(c, s)?.truth else {
                let fa = evaluate(a, s)
                return fa == evaluate(b, s) ? fa : nil
            }
            return evaluate(t ? a : b, s)
        }
    }

    /// The states in which `v` has truth value `truth`, refined with what that teaches (none when infeasible).
    func assume(_ v: Value, _ truth: Bool, _ s: PathState) -> [PathState] {
        if let t = evaluate(v, s)?.truth { return t == truth ? [s] : [] }
        switch v {
        case .read(let k):
            var n = s
            if truth {
                switch s.facts[k] {
                case .notEquals(var set)?: set.insert(0); n.facts[k] = .notEquals(set)
                default: n.facts[k] = .notEquals([0])
                }
            } else {
                n.facts[k] = .equals(0)
            }
            if let definition = s.definitions[k] {
                n.definitions[k] = nil
                return assume(definition, truth, n).map { var r = $0; r.definitions[k] = definition; return r }
            }
            return [n]
        case .not(let a):
            return assume(a, !truth, s)
        case .compare(let op, let a, let b) where op == .eq || op == .ne:
            let equal = (op == .eq) == truth
            if case .read(let k) = a, case .constant(let c) = b { return [refine(s, k, c, equal)] }
            if case .read(let k) = b, case .constant(let c) = a { return [refine(s, k, c, equal)] }
            return [remember(v, truth, s)]
        case .compare:
            return [remember(v, truth, s)]
        case .and(let a, let b):
            if truth { return assume(a, true, s).flatMap { assume(b, true, $0) } }
            return assume(a, false, s) + assume(a, true, s).flatMap { assume(b, false, $0) }
        case .or(let a, let b):
            if !truth { return assume(a, false, s).flatMap { assume(b, false, $0) } }
            return assume(a, true, s) + assume(a, false, s).flatMap { assume(b, true, $0) }
        case .select(let c, let a, let b):
            return assume(c, true, s).flatMap { assume(a, truth, $0) }
                + assume(c, false, s).flatMap { assume(b, truth, $0) }
        default:
            return [s]
        }
    }

    private func remember(_ condition: Value, _ truth: Bool, _ s: PathState) -> PathState {
        // Only comparisons of locals that nothing can change behind the path's back, and not too many.
        guard s.known.count < 8, !condition.keysRead.isEmpty,
              condition.keysRead.allSatisfy({ $0.isLocal && !liveness.addressTaken.contains($0.root) }) else { return s }
        var n = s
        n.known[condition] = truth
        return n
    }

    private func refine(_ s: PathState, _ k: StorageKey, _ c: Int, _ equal: Bool) -> PathState {
        var n = s
        if equal {
            n.facts[k] = .equals(c)
        } else {
            switch s.facts[k] {
            case .notEquals(var set)?:
                set.insert(c)
                // A long `else if` chain would otherwise carry every excluded constant along (and hash it at
                // every block): keep only whether the value is non-zero once the set grows past a few entries.
                if set.count > 16 { set = set.contains(0) ? [0] : [] }
                n.facts[k] = set.isEmpty ? nil : .notEquals(set)
            default: n.facts[k] = .notEquals([c])
            }
        }
        return n
    }

    // MARK: - Findings

    /// A finding of a rule the rules data names but the catalog does not know (a project's own resource kind).
    mutating func reportCustom(_ ruleId: String, at location: SourceLocation, _ message: String, walker: Walker?, since depth: Int) {
        let id = "\(ruleId)|\(location.file)|\(location.line)|\(location.column)|\(message)"
        guard findings[id] == nil else { return }
        let notes = walker?.path?.notes(since: max(depth, 1)) ?? []
        findings[id] = Diagnostic(ruleId: ruleId, severity: .error, file: location.file, line: location.line,
                                  column: location.column, function: cfg.name, message: message, path: notes)
        order.append(id)
    }

    mutating func report(_ rule: RuleID, at location: SourceLocation, _ message: String,
                                 walker: Walker?, since depth: Int, extraNote: PathNote? = nil, severity: Severity? = nil) {
        // One API finding per place: a macro that expands to several calls is one mistake.
        let distinct = rule == .apiWithoutGIL ? "" : message
        let id = "\(rule.rawValue)|\(location.file)|\(location.line)|\(location.column)|\(distinct)"
        guard findings[id] == nil else { return }
        var notes = walker?.path?.notes(since: max(depth, 1)) ?? []
        if let extraNote { notes.append(extraNote) }
        findings[id] = Diagnostic(ruleId: rule.rawValue, severity: severity ?? rule.info.severity, file: location.file,
                                  line: location.line, column: location.column, function: cfg.name,
                                  message: message, path: notes)
        order.append(id)
    }
}
