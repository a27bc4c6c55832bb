import ClangSupport
import APIModel

/// What a function does to the GIL, inferred by exploring its paths: used at its call sites in place of rules.
public struct FunctionSummary: Sendable, Equatable {
    var effect: GILEffect?
    var slot: StateSlot?
    /// Values the function returns on the paths that have the effect, and on those that do not, when they
    /// tell the two apart (`return 0` after acquiring, `return -1` before): callers branch on the result.
    /// An empty `effectValues` means any value but `otherValues` (a pointer returned non-NULL after acquiring).
    var effectValues: Set<Int>?
    var otherValues: Set<Int>?
    /// The first call that needs the caller's GIL (`PyObject_Call()`), when the function relies on it.
    var needsGIL: String?
    /// The first blocking call made with the caller's GIL status (`pthread_mutex_lock()`).
    var blocks: String?
    /// The call that needs the caller's GIL is one that releases it (`Py_BEGIN_ALLOW_THREADS`).
    var releasesCallersGIL = false
    /// With no effect: the caller's GIL state at this slot is released and re-acquired in place (a helper that
    /// lets other threads run). It stays the caller's to release.
    var yields: StateSlot?
    /// The effect happens exactly when the argument at this index is true (`whenTrue`) or false: `if (cond)
    /// PyGILState_Release(st);`. Callers fork on the argument's truth.
    var effectArgument: Int?
    var effectWhenTrue = true
    /// The parameter at this index is a function the callee starts on a new thread (a project's `spawn(fn, arg)`).
    var threadEntry: Int?
    /// Functions it starts on new threads itself, directly or through its own callees (for init-holds-gil).
    var startsThreads: [String] = []
    /// C++: some path ends in an exception leaving the function (`throw` with no handler), and the first throw
    /// seen; `alwaysThrows` when every path does (a project's `fail()` helper): a call of it never returns.
    var throwsAt: String?
    var alwaysThrows = false
    /// The types of what it throws, when every throw's is known: a caller's handlers catch by them.
    var thrownTypes: [ThrownType]?
    /// The blocking call happens only when the argument at this index is non-zero (`POOL_free(NULL)` returns at
    /// once): a call with that argument known to be 0 does not block.
    var blocksArgument: Int?
    /// The first call that waits for a thread to end (`std::thread::join()`), on some path, whatever the GIL.
    var joins: String?

    var isEmpty: Bool {
        effect == nil && needsGIL == nil && blocks == nil && yields == nil && threadEntry == nil && startsThreads.isEmpty
            && throwsAt == nil
    }

    /// "acquires the GIL (summary)" for path notes.
    var effectDescription: String {
        if case .global(_, _, let name)? = slot {
            switch effect {
            case .ensure?: return "acquires the GIL and keeps its state in '\(name)'"
            case .release?: return "releases the GIL state kept in '\(name)'"
            case .save?: return "releases the GIL and keeps the saved thread state in '\(name)'"
            case .restore?: return "re-acquires the GIL with the thread state kept in '\(name)'"
            default: break
            }
        }
        switch effect {
        case .ensure?: return "acquires the GIL and hands its state to the caller"
        case .release?: return "releases a GIL state the caller passed in"
        case .save?: return "releases the GIL and hands the saved thread state to the caller"
        case .restore?: return "re-acquires the GIL with a thread state the caller passed in"
        case .acquire?: return "acquires the GIL"
        case .releaseGIL?: return "releases the GIL"
        case .initialize?: return "initializes Python and returns holding the GIL"
        case .finalize?: return "finalizes Python"
        case .check?: return "tells whether this thread holds the GIL"
        case .noreturn?: return "never returns"
        case nil: return "leaves the GIL as it found it"
        }
    }
}

/// What one exit of a function did, as seen by its caller.
struct ExitRecord {
    var result: Fact?
    var effect: (GILEffect, StateSlot?)?
    /// The caller's state this exit released and re-acquired in place.
    var yielded: StateSlot? = nil
    /// C++: an exception leaves the function here, at this throw (`throw` or a call that throws).
    var raises: String? = nil
    /// The types of that exception, when known.
    var raisedTypes: [ThrownType]? = nil
}

/// Folds the exits of a function into its summary.
func summarize(exits: [ExitRecord], needsGIL: String?, blocks: String?, releasesCallersGIL: Bool,
               threadEntry: Int? = nil, startsThreads: [String] = []) -> FunctionSummary {
    var summary = FunctionSummary(needsGIL: needsGIL, blocks: blocks, releasesCallersGIL: releasesCallersGIL)
    summary.threadEntry = threadEntry
    summary.startsThreads = startsThreads
    summary.throwsAt = exits.lazy.compactMap(\.raises).first
    summary.alwaysThrows = !exits.isEmpty && exits.allSatisfy { $0.raises != nil }
    let raising = exits.filter { $0.raises != nil }
    if !raising.isEmpty, raising.allSatisfy({ $0.raisedTypes != nil }) {
        var types: [ThrownType] = []
        for e in raising { for t in e.raisedTypes ?? [] where !types.contains(t) { types.append(t) } }
        summary.thrownTypes = types
    }
    // What the caller sees of the GIL comes from the exits that return; an exception's path is its own.
    let exits = exits.filter { $0.raises == nil }
    guard let chosen = exits.first(where: { $0.effect != nil })?.effect else {
        summary.yields = exits.lazy.compactMap(\.yielded).first
        return summary
    }
    summary.effect = chosen.0
    summary.slot = chosen.1
    var effectValues = Set<Int>(), otherValues = Set<Int>()
    /// Effect paths that return a value known only not to be some constants (`return cb;` after `if (!cb)
    /// return NULL;`): they are told apart when those constants cover every other path's value.
    var effectExcluded: [Set<Int>] = []
    var expressible = true
    for e in exits {
        let same = e.effect.map { $0.0 == chosen.0 && $0.1 == chosen.1 } ?? false
        if same, case .notEquals(let excluded)? = e.result {
            effectExcluded.append(excluded)
            continue
        }
        guard case .equals(let v)? = e.result else { expressible = false; continue }
        if same { effectValues.insert(v) } else { otherValues.insert(v) }
    }
    if !effectExcluded.isEmpty {
        // Every effect path's value is outside `otherValues`: an empty `effectValues` says "any other value".
        expressible = expressible && effectValues.isDisjoint(with: otherValues)
            && effectExcluded.allSatisfy { otherValues.isSubset(of: $0) }
        effectValues = []
    }
    if expressible, !otherValues.isEmpty, effectValues.isDisjoint(with: otherValues) {
        summary.effectValues = effectValues
        summary.otherValues = otherValues
    }
    return summary
}

/// What a call does: from the rules file when it names the function, else from the callee's summary.
struct CallRule {
    var effect: GILEffect?
    var slot: StateSlot?
    var requiresGIL: Bool
    var blocks: Bool
    var deprecated: Deprecation?
    var threadEntry: Int?
    var summary: FunctionSummary?
    var callee: String
    /// Returns 0 in a new child process (`fork`).
    var forks = false
    /// Blocking by deviance: where the project releases the GIL around this outside function.
    var releasedAroundAt: SourceLocation? = nil
    /// Blocking because it runs a registered callback that takes the GIL with a saved thread state.
    var runsCallback: CallbackHazard? = nil
    /// Blocks only for some arguments (`blocks-when:` / `blocks-unless:` in the rules).
    var blockCondition: BlockCondition? = nil

    /// "helper() (summary: it calls PyList_Append())" style suffix for messages about summarized callees.
    var because: String {
        guard let s = summary else { return "" }
        if let n = s.needsGIL { return " (summary: it calls \(n))" }
        if let b = s.blocks { return " (summary: it calls \(b))" }
        return ""
    }

    /// The same for messages about blocking: names the blocking call the summary saw, not an API it needs the GIL for.
    var blockingBecause: String {
        if let at = releasedAroundAt {
            return " (the project releases the GIL around it at \(at.place))"
        }
        guard let b = summary?.blocks else { return because }
        return " (summary: it calls \(b))"
    }
}
