import ClangSupport
import APIModel
import Diagnostics
import WorkerThreads

/// Analyzes the functions of a whole run together: callees first, so that each call of a function of the run
/// is interpreted through that function's computed summary (acquires, releases a state passed in, needs the
/// caller's GIL, blocks); then every thread entry again, starting without the GIL.
public struct ProjectAnalyzer {
    let model: APIModel
    let limits: PathExplorer.Limits

    public init(model: APIModel, limits: PathExplorer.Limits = .init()) {
        self.model = model
        self.limits = limits
    }

    /// `workers` threads analyze functions whose callees are done at the same time (the output is the same for
    /// any number). `progress`, when given, hears after each function how many have been analyzed and how many findings
    /// there are so far.
    public func analyze(_ input: [FunctionCFG], pythonEntries: [PythonEntryReference] = [], pointerStores: [PointerStore] = [],
                        staticObjects: [StaticObject] = [], workers: Int = 1, progress: ((_ done: Int, _ total: Int, _ findings: Int) -> Void)? = nil)
        -> [Diagnostic] {
        // The same function can come from several translation units (a header): keep one, and remember every
        // unit it came from (a `static inline` helper of a header is each includer's own function).
        var firstAt: [String: Int] = [:]
        var cfgs: [FunctionCFG] = []
        var units: [Set<String>] = []
        for c in input {
            let place = "\(c.location.file):\(c.location.line):\(c.location.column)"
            if let k = firstAt[place] { units[k].insert(c.unit); continue }
            firstAt[place] = cfgs.count
            cfgs.append(c)
            units.append([c.unit])
        }
        var byName: [String: [Int]] = [:]
        for (i, c) in cfgs.enumerated() { byName[c.name, default: []].append(i) }
        resolvePointerCalls(&cfgs, fileScope: pointerStores)

        /// The definition `name` reaches from code in `file`, part of the translation units `from`: a static
        /// function of the same file first, then a static function of a header those units include, then an
        /// external one; nil when the run has none or more than one.
        func resolve(_ name: String, file: String, units from: Set<String>) -> Int? {
            guard let candidates = byName[name] else { return nil }
            if let local = candidates.first(where: { cfgs[$0].isStatic && cfgs[$0].location.file == file }) { return local }
            let included = candidates.filter { cfgs[$0].isStatic && !units[$0].isDisjoint(with: from) }
            if included.count == 1 { return included[0] }
            let external = candidates.filter { !cfgs[$0].isStatic }
            return external.count == 1 ? external[0] : nil
        }
        /// The definition a call in `caller` reaches.
        func target(_ name: String, from caller: Int) -> Int? {
            resolve(name, file: cfgs[caller].location.file, units: units[caller])
        }

        // Functions handed to library calls anywhere in the run, and the library calls that would run one that
        // cannot take the GIL from a thread that holds it (see CallbackDrivers.swift).
        let registrations = collectRegistrations(cfgs, model: model, fileScope: pointerStores, target: target)
        let hazards = callbackHazards(registrations, cfgs: cfgs, model: model, target: target)

        let calls: [[Int]] = cfgs.indices.map { i in
            Array(Set(cfgs[i].callSites.filter { !$0.isIndirect }.compactMap { target($0.callee, from: i) }))
        }

        // Callees before callers (iterative post-order; a cycle is cut where it closes).
        var order: [Int] = []
        var mark = Array(repeating: 0, count: cfgs.count)  // 0 new, 1 on stack, 2 done
        for root in cfgs.indices where mark[root] == 0 {
            var stack: [(Int, Int)] = [(root, 0)]
            mark[root] = 1
            while let (node, next) = stack.last {
                if next < calls[node].count {
                    stack[stack.count - 1].1 += 1
                    let callee = calls[node][next]
                    if mark[callee] == 0 {
                        mark[callee] = 1
                        stack.append((callee, 0))
                    }
                } else {
                    mark[node] = 2
                    order.append(node)
                    stack.removeLast()
                }
            }
        }

        // Each function sees the summaries of the functions before it in that order (a callee that closes a
        // cycle is not summarized yet, and is seen as unknown). Functions whose earlier callees are done run
        // concurrently; the results are taken in the order, so the output does not depend on `workers`.
        var position = Array(repeating: 0, count: cfgs.count)
        for (k, i) in order.enumerated() { position[i] = k }
        let dependencies = order.enumerated().map { k, i in calls[i].map { position[$0] }.filter { $0 < k } }
        let shared = SharedSlots<FunctionSummary>(count: cfgs.count)
        var finishedCount = 0
        var findingsSoFar = 0
        let results = runInDependencyOrder(count: order.count, dependencies: dependencies, workers: workers,
                                           finished: { _, r in
            finishedCount += 1
            findingsSoFar += r.0.count
            progress?(finishedCount, cfgs.count, findingsSoFar)
        }) { [model, limits] k -> ([Diagnostic], FunctionSummary, [CallbackRegistration], [String: Set<SourceLocation>], Set<ReleasedLibraryCall>, LockOrder, [ThreadAtFinalize]) in
            let i = order[k]
            // A crash from here on names the function's file (see CrashHandler in the CLI).
            return CrashAttribution.working(on: cfgs[i].location.file) { () -> ([Diagnostic], FunctionSummary, [CallbackRegistration], [String: Set<SourceLocation>], Set<ReleasedLibraryCall>, LockOrder, [ThreadAtFinalize]) in
                var known: [String: FunctionSummary] = [:]
                for site in cfgs[i].callSites where !site.isIndirect && known[site.callee] == nil {
                    if let j = target(site.callee, from: i), position[j] < k, let s = shared[j] { known[site.callee] = s }
                }
                var explorer = PathExplorer(cfg: cfgs[i], model: model, limits: limits, summaries: { known[$0] }, callbackHazards: hazards)
                let found = explorer.run()
                var summary = explorer.summary
                if summary.effect != nil, summary.effectValues == nil {
                    refineByArgument(&summary, exits: explorer.exits, cfg: cfgs[i]) { facts in
                        var again = PathExplorer(cfg: cfgs[i], model: model, limits: limits,
                                                 entry: EntryContext(assumptions: facts), summaries: { known[$0] }, callbackHazards: hazards)
                        _ = again.run()
                        return again.exits
                    }
                }
                if summary.blocks != nil {
                    summary.blocksArgument = blockingArgument(cfgs[i]) { facts in
                        var again = PathExplorer(cfg: cfgs[i], model: model, limits: limits,
                                                 entry: EntryContext(assumptions: facts), summaries: { known[$0] }, callbackHazards: hazards)
                        _ = again.run()
                        return again.summary.blocks != nil
                    }
                }
                shared[i] = summary
                return (found, summary, explorer.releasedRegistrations, explorer.releasedOutsideCalls, explorer.releasedLibraryCalls,
                        explorer.lockOrder, explorer.threadsAtFinalize)
            }
        }
        var summaries: [Int: FunctionSummary] = [:]
        var diagnostics: [Diagnostic] = []
        var releasedRegistrations: [(Int, CallbackRegistration)] = []
        var releasedOutside: [String: Set<SourceLocation>] = [:]
        var releasedLibraryCalls: [ReleasedLibraryCall] = []
        // The project's mutexes as every run below sees them (LockOrder.swift).
        var lockOrder = LockOrder()
        var threadsAtFinalize: [ThreadAtFinalize] = []
        func harvest(_ explorer: PathExplorer, _ function: Int) {
            lockOrder.merge(explorer.lockOrder, function: cfgs[function].name)
            threadsAtFinalize += explorer.threadsAtFinalize
        }
        for (k, i) in order.enumerated() {
            lockOrder.merge(results[k].5, function: cfgs[i].name)
            threadsAtFinalize += results[k].6
            releasedLibraryCalls += results[k].4.map { var c = $0; c.inFunction = i; return c }
            diagnostics += results[k].0
            summaries[i] = results[k].1
            releasedRegistrations += results[k].2.map { (i, $0) }
            for (name, places) in results[k].3 { releasedOutside[name, default: []].formUnion(places) }
        }

        // Outside functions the project itself releases the GIL around are taken to block where it calls them
        // with the GIL held: the functions that call them are explored again for that rule alone.
        // A function of the run counts when it does nothing the GIL rules see, wherever it is defined.
        let inferred = inferBlocking(releasedOutside, cfgs: cfgs, model: model, evidence: { name in
            byName[name].map { $0.allSatisfy { summaries[$0]?.isEmpty ?? true } } ?? true
        })
        if !inferred.isEmpty {
            for i in cfgs.indices where cfgs[i].callSites.contains(where: { !$0.isIndirect && inferred[$0.qualifiedCallee ?? $0.callee] != nil }) {
                let lookup: (String) -> FunctionSummary? = { name in target(name, from: i).flatMap { summaries[$0] } }
                var explorer = PathExplorer(cfg: cfgs[i], model: model, limits: limits, summaries: lookup,
                                            inferredBlocking: inferred, callbackHazards: hazards)
                diagnostics += CrashAttribution.working(on: cfgs[i].location.file) { explorer.run() }.filter { $0.ruleId == RuleID.blockingWithGIL.rawValue }
            }
        }

        // Functions that start on threads without the GIL: thread start routines and declared callbacks. And
        // those that run at process exit, after the interpreter is finalized: exit handlers, the destructors of
        // objects of static storage duration.
        var entries: [Int: String] = [:]
        var atExit: [Int: String] = [:]
        for object in staticObjects {
            for t in byName[object.destructor] ?? [] {
                if object.perThread { entries[t] = entries[t] ?? object.origin } else { atExit[t] = atExit[t] ?? object.origin }
            }
        }
        for (i, c) in cfgs.enumerated() {
            for site in c.callSites {
                let rule = model.rule(for: site)
                // The rules, or the summary of a project's wrapper that starts its argument (`spawn(fn, arg)`).
                let wrapper = rule == nil && !site.isIndirect ? target(site.callee, from: i).flatMap { summaries[$0]?.threadEntry } : nil
                guard let n = rule?.threadEntry ?? wrapper, n < site.arguments.count else { continue }
                let loc = site.location
                var starter = site.qualifiedCallee ?? site.callee
                if let q = site.qualifiedCallee {
                    let parts = q.components(separatedBy: "::")
                    if parts.count >= 2, parts[parts.count - 1] == parts[parts.count - 2] { starter = parts.dropLast().joined(separator: "::") }
                }
                for name in site.arguments[n].functionReferences {
                    guard let t = target(name, from: i) else { continue }
                    entries[t] = entries[t] ?? "started by \(starter)() at \(loc.place)"
                }
            }
            // Callbacks a library calls on a thread of its own (rules: `callback-thread`).
            for site in c.callSites {
                let rule = model.rule(for: site)
                guard let rule, let slot = rule.callbackThread, slot.argument < site.arguments.count else { continue }
                let argument = site.arguments[slot.argument]
                var handed = argument.functionReferences
                if handed.isEmpty {
                    handed = argument.storedFunctions.filter { slot.field == nil || $0.field == slot.field || $0.field.isEmpty }
                        .map(\.function)
                }
                let loc = site.location
                let when = rule.callbackNote ?? "on a thread of its own"
                for name in handed {
                    guard let t = target(name, from: i) else { continue }
                    let origin = "registered with \(site.shown) at \(loc.place), which calls it \(when)"
                    if rule.callbackAtExit {
                        atExit[t] = atExit[t] ?? origin
                    } else {
                        entries[t] = entries[t] ?? origin
                    }
                }
            }
        }
        // Functions stored as a library's thread callback type (a table of `PaStreamCallback *`).
        for reference in pythonEntries where reference.start != .withGIL {
            guard let t = resolve(reference.name, file: reference.unit, units: [reference.unit]) else { continue }
            if reference.start == .atExit { atExit[t] = atExit[t] ?? reference.origin } else { entries[t] = entries[t] ?? reference.origin }
        }
        // Functions handed to code outside the run where the GIL is released: called back without it. Then those
        // registered on a library's handle and run by a call on that kind of handle made with the GIL released,
        // in another function.
        func calledBack(_ r: CallbackRegistration) -> String {
            if let by = r.invokedBy, let at = r.invokedAt {
                return "handed to \(r.registrar) at \(r.location.place), then called back by \(by) at \(at.place), where the GIL is released"
            }
            if let table = r.table {
                return "stored in a \(table) that \(r.registrar) at \(r.location.place) is given while the GIL is released there, so it is called back without the GIL"
            }
            return "handed to \(r.registrar) at \(r.location.place) while the GIL is released there, so it is called back without the GIL"
        }
        for (i, r) in releasedRegistrations {
            guard let t = target(r.function, from: i), entries[t] == nil else { continue }
            entries[t] = calledBack(r)
        }
        for (t, r) in callbacksRunWithoutGIL(registrations, released: releasedLibraryCalls, model: model) where entries[t] == nil {
            entries[t] = calledBack(r)
        }
        for name in model.threadEntries {
            for t in byName[name] ?? [] where entries[t] == nil {
                entries[t] = "declared in rules as a callback that runs on foreign threads"
            }
        }
        // A function run at exit is run that way alone (it is finalized there, whatever else starts it).
        let starts = entries.filter { atExit[$0.key] == nil }.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value, false) }
            + atExit.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value, true) }
        var exitFindings: [Int: [Diagnostic]] = [:]
        for (t, origin, exiting) in starts {
            let lookup: (String) -> FunctionSummary? = { name in target(name, from: t).flatMap { summaries[$0] } }
            var explorer = PathExplorer(cfg: cfgs[t], model: model, limits: limits,
                                        entry: EntryContext(gil: .released, threadOrigin: origin, atExit: exiting), summaries: lookup,
                                        inferredBlocking: inferred, callbackHazards: hazards)
            let found = CrashAttribution.working(on: cfgs[t].location.file) { explorer.run() }
            harvest(explorer, t)
            if exiting { exitFindings[t] = found } else { diagnostics += found }
        }
        diagnostics += placeStaticDestructorFindings(exitFindings, staticObjects: staticObjects, byName: byName)
        // Functions that Python calls (method tables, type slots) start with the GIL held. Only that run sees
        // them held: their summaries, which their other callers use, stay those of an unknown entry. A function
        // that is also a thread entry stays with its thread-entry run alone (which of the two starts it is
        // not known here; staying quiet is the safe side).
        var pythonOrigins: [Int: String] = [:]
        for reference in pythonEntries where reference.start == .withGIL {
            guard let t = resolve(reference.name, file: reference.unit, units: [reference.unit]),
                  entries[t] == nil, pythonOrigins[t] == nil else { continue }
            pythonOrigins[t] = reference.origin
        }
        for (t, origin) in pythonOrigins.sorted(by: { $0.key < $1.key }) {
            let lookup: (String) -> FunctionSummary? = { name in target(name, from: t).flatMap { summaries[$0] } }
            var explorer = PathExplorer(cfg: cfgs[t], model: model, limits: limits,
                                        entry: EntryContext(gil: .held, pythonOrigin: origin), summaries: lookup,
                                        inferredBlocking: inferred, callbackHazards: hazards)
            guard explorer.hasBlockingCall else { continue }
            diagnostics += CrashAttribution.working(on: cfgs[t].location.file) { explorer.run() }
            harvest(explorer, t)
        }
        // A function no table names that calls the Python API on every path and takes or drops nothing (a method
        // registered elsewhere, a helper of Python code): its callers hold the GIL, so it is run held too, for
        // the blocking calls it makes before its first Python call. What the other runs reported at a place stays
        // theirs (a wait inside a critical section is reported as that: the first report of a rule at a place is
        // kept below).
        for t in cfgs.indices where pythonOrigins[t] == nil && entries[t] == nil && atExit[t] == nil {
            let lookup: (String) -> FunctionSummary? = { name in target(name, from: t).flatMap { summaries[$0] } }
            let probe = PathExplorer(cfg: cfgs[t], model: model, limits: limits, summaries: lookup,
                                     inferredBlocking: inferred, callbackHazards: hazards)
            guard probe.hasBlockingCall, let python = probe.pythonOnEveryPath else { continue }
            var explorer = PathExplorer(cfg: cfgs[t], model: model, limits: limits,
                                        entry: EntryContext(gil: .held, pythonOnEveryPath: python),
                                        summaries: lookup, inferredBlocking: inferred, callbackHazards: hazards)
            diagnostics += CrashAttribution.working(on: cfgs[t].location.file) { explorer.run() }
            harvest(explorer, t)
        }
        // init-holds-gil needs to know which thread entries take the GIL.
        let takesGIL: (Int) -> Bool = { t in
            let s = summaries[t]
            return s?.needsGIL != nil || cfgs[t].callSites.contains { site in
                // A C++ guard that takes the GIL for its scope (pybind11::gil_scoped_acquire) takes it too.
                if site.guardEffect == .ensure { return true }
                let effect = model.function(named: site.callee)?.effect ?? summaries[target(site.callee, from: t) ?? -1]?.effect
                return effect == .ensure || effect == .restore || effect == .acquire
            }
        }
        let starters = cfgs.indices.filter { i in
            cfgs[i].callSites.contains { s in
                let rule = model.function(named: s.callee)
                return rule?.effect == .initialize || summaries[target(s.callee, from: i) ?? -1]?.effect == .initialize
            }
        }
        for i in starters {
            let lookup: (String) -> FunctionSummary? = { name in target(name, from: i).flatMap { summaries[$0] } }
            let entryTakes: (String) -> Bool = { name in target(name, from: i).map(takesGIL) ?? false }
            var explorer = PathExplorer(cfg: cfgs[i], model: model, limits: limits, summaries: lookup,
                                        entryTakesGIL: entryTakes, inferredBlocking: inferred, callbackHazards: hazards)
            diagnostics += CrashAttribution.working(on: cfgs[i].location.file) { explorer.run() }
        }
        diagnostics = lockOrder.apply(to: diagnostics)
        // Threads running at finalization matter when the run's own threads use Python: some function takes the
        // GIL the way a thread of its own does (PyGILState_Ensure, PyEval_AcquireThread, a GIL guard).
        let threadsUsePython = !threadsAtFinalize.isEmpty && cfgs.contains { c in
            c.callSites.contains { s in
                s.guardEffect == .ensure || model.rule(for: s).map { $0.effect == .ensure || $0.effect == .acquire
                    || $0.name == "PyEval_AcquireThread" } == true
            }
        }
        if threadsUsePython {
            for t in threadsAtFinalize {
                diagnostics.append(Diagnostic(ruleId: RuleID.finalizeWithoutGIL.rawValue, severity: RuleID.finalizeWithoutGIL.info.severity,
                                              file: t.location.file, line: t.location.line, column: t.location.column,
                                              function: t.function, message: t.message, path: t.path))
            }
        }
        // The runs above can see one fault along different paths, and word it differently (a helper's summary
        // named or not): keep the first report of each rule at each place.
        var reported = Set<String>()
        return diagnostics.filter { d in
            reported.insert("\(d.ruleId)|\(d.file)|\(d.line)|\(d.column)").inserted
        }
    }

    /// The findings of the runs at process exit, and for a destructor that only function-local statics reach,
    /// one more at each such static's declaration, in the function that declares it: the other place to change
    /// (a leaked `static T *p = new T(...)`, or a reset before finalizing), with the destructor's finding as a
    /// note. A destructor a namespace-scope object reaches is reported where it uses Python alone.
    private func placeStaticDestructorFindings(_ found: [Int: [Diagnostic]], staticObjects: [StaticObject],
                                               byName: [String: [Int]]) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for (t, diagnostics) in found.sorted(by: { $0.key < $1.key }) {
            out += diagnostics
            let objects = staticObjects.filter { !$0.perThread && (byName[$0.destructor] ?? []).contains(t) }
            guard let first = diagnostics.first(where: { $0.ruleId == RuleID.finalizeWithoutGIL.rawValue }),
                  !objects.isEmpty, objects.allSatisfy({ $0.function != nil }) else { continue }
            let note = PathNote(file: first.file, line: first.line, column: first.column, message: first.message)
            for object in objects {
                out.append(Diagnostic(ruleId: first.ruleId, severity: first.severity, file: object.location.file,
                                      line: object.location.line, column: object.location.column, function: object.function,
                                      message: "'\(object.variable)' is a function-local static: its destructor \(object.destructor)() runs at process exit, after the interpreter is finalized, and uses Python there",
                                      path: first.path + [note]))
            }
        }
        return out
    }
}

/// Deviance: an outside function (no rule, not `never-blocks:`), or a function of the run that does nothing the
/// GIL rules see (`evidence`), that the project calls with the GIL released at two or more of its call sites,
/// and at no more sites otherwise, is one the project itself treats as slow or blocking: the call sites where
/// it holds the GIL are the odd ones out. Gives each such function with the first place the project releases
/// around it.
func inferBlocking(_ released: [String: Set<SourceLocation>], cfgs: [FunctionCFG], model: APIModel,
                   evidence: (String) -> Bool) -> [String: SourceLocation] {
    let candidates = released.filter { !$0.value.isEmpty && evidence($0.key) && !model.neverBlocks($0.key) }
    guard !candidates.isEmpty else { return [:] }
    var sites: [String: Set<SourceLocation>] = [:]
    for c in cfgs {
        for site in c.callSites where !site.isIndirect {
            let name = site.qualifiedCallee ?? site.callee
            if candidates[name] != nil { sites[name, default: []].insert(site.location) }
        }
    }
    var out: [String: SourceLocation] = [:]
    for (name, places) in candidates {
        let all = sites[name] ?? places
        let others = all.subtracting(places)
        // Two released sites at least: one release around a call (a free, a reset, done in passing) is too little
        // evidence to call every other site of it a fault.
        guard !others.isEmpty, places.count >= 2, places.count >= others.count, let first = places.min() else { continue }
        out[name] = first
    }
    return out
}

/// Calls through a function pointer that the project stores exactly one function into, anywhere in the run (a
/// hook table's static initializer, an init function's `hooks.release = py_release;`, a `static enter_fn
/// rt_enter = rt_gil_enter;`), become calls of that function: a project's GIL primitives hidden behind a macro
/// over a hook table (`#define GIL_GET() up.gil_get()`) are then read through the function's summary or its
/// rule. Functions of the run that do nothing (`static void gil_fake_get(void) {}`, set when threads are off)
/// do not count: with threads on, the pointer calls the other one. A pointer given two different functions
/// that do something stays unknown.
func resolvePointerCalls(_ cfgs: inout [FunctionCFG], fileScope: [PointerStore]) {
    var targets: [String: Set<String>] = [:]
    for s in fileScope { targets[s.key, default: []].insert(s.function) }
    for c in cfgs { for s in c.pointerStores { targets[s.key, default: []].insert(s.function) } }
    guard !targets.isEmpty else { return }
    // A call through a pointer goes to the one function stored there that does something.
    var callTargets = targets
    let shared = targets.filter { $0.value.count > 1 }
    var doesSomething: [String: Bool] = [:]
    for c in cfgs where !shared.isEmpty {
        // Nothing but declarations, and no value returned (a getter's `return ctx->page;` does something).
        let busy = c.blocks.contains { b in
            if case .exit(_?, _, _) = b.terminator { return true }
            return b.elements.contains { if case .declare = $0 { return false } else { return true } }
        }
        doesSomething[c.name] = (doesSomething[c.name] ?? false) || busy
    }
    for (key, functions) in shared {
        let doing = functions.filter { doesSomething[$0] ?? true }
        if doing.count == 1 { callTargets[key] = doing }
    }
    for i in cfgs.indices {
        for b in cfgs[i].blocks.indices {
            for e in cfgs[i].blocks[b].elements.indices {
                guard case .call(var site) = cfgs[i].blocks[b].elements[e] else { continue }
                // An argument read from a function pointer (`archive_read_set_read_callback(a, ops->read)` with
                // `ops` one of two static tables) hands over whatever the run stores there.
                if site.arguments.contains(where: { $0.pointerKey.map { targets[$0] != nil } ?? false }) {
                    for k in site.arguments.indices {
                        guard let key = site.arguments[k].pointerKey, let functions = targets[key],
                              site.arguments[k].storedFunctions.isEmpty else { continue }
                        site.arguments[k].storedFunctions = functions.sorted().map { ("", $0) }
                    }
                    cfgs[i].blocks[b].elements[e] = .call(site)
                }
                guard site.isIndirect, let key = site.pointerKey,
                      let functions = callTargets[key], functions.count == 1, let function = functions.first else { continue }
                if site.shown.contains("(calls \(site.callee)())") {
                    site.shown = site.shown.replacingOccurrences(of: "(calls \(site.callee)())", with: "(calls \(function)())")
                } else {
                    site.shown = "\(site.throughPointer ?? site.callee)() (calls \(function)())"
                }
                site.callee = function
                site.qualifiedCallee = nil
                site.isIndirect = false
                site.isScoped = false
                cfgs[i].blocks[b].elements[e] = .call(site)
            }
        }
    }
}

/// A summary whose effect happens on some exits only, and not as told by the result: when one parameter that a
/// branch tests decides it (`if (cond) PyGILState_Release(st);`), the effect is conditional on that argument.
/// `explore` runs the function again with facts about parameters at entry and gives its exits.
func refineByArgument(_ summary: inout FunctionSummary, exits: [ExitRecord], cfg: FunctionCFG,
                      explore: ([StorageKey: Fact]) -> [ExitRecord]) {
    guard let effect = summary.effect else { return }
    let slot = summary.slot
    let has: (ExitRecord) -> Bool = { $0.effect.map { $0.0 == effect && $0.1 == slot } ?? false }
    guard exits.contains(where: has), exits.contains(where: { $0.effect == nil }),
          exits.allSatisfy({ has($0) || $0.effect == nil }) else { return }
    var tested: [StorageKey] = []
    for block in cfg.blocks {
        guard case .branch(let condition, _, _, _, _) = block.terminator else { continue }
        for k in condition.keysRead where k.path.isEmpty && cfg.parameters.contains(k) && !tested.contains(k) {
            tested.append(k)
        }
    }
    for key in tested.prefix(3) {
        guard let index = cfg.parameters.firstIndex(of: key) else { continue }
        let whenTrue = explore([key: .notEquals([0])]), whenFalse = explore([key: .equals(0)])
        guard !whenTrue.isEmpty, !whenFalse.isEmpty else { continue }
        let onTrue = whenTrue.allSatisfy(has), offTrue = whenTrue.allSatisfy { $0.effect == nil }
        let onFalse = whenFalse.allSatisfy(has), offFalse = whenFalse.allSatisfy { $0.effect == nil }
        if (onTrue && offFalse) || (offTrue && onFalse) {
            summary.effectArgument = index
            summary.effectWhenTrue = onTrue
            return
        }
    }
}

/// The parameter whose being 0 keeps a blocking function from blocking (`void pool_free(POOL *p) { if (!p)
/// return; … pthread_join(…); }`): one of the first parameters a branch tests for which `blocks` (run with the
/// parameter assumed 0) says no. Nil when no such parameter exists.
func blockingArgument(_ cfg: FunctionCFG, blocks: ([StorageKey: Fact]) -> Bool) -> Int? {
    var tested: [StorageKey] = []
    for block in cfg.blocks {
        guard case .branch(let condition, _, _, _, _) = block.terminator else { continue }
        for k in condition.keysRead where k.path.isEmpty && cfg.parameters.contains(k) && !tested.contains(k) {
            tested.append(k)
        }
    }
    for key in tested.prefix(3) {
        guard let index = cfg.parameters.firstIndex(of: key) else { continue }
        if !blocks([key: .equals(0)]) { return index }
    }
    return nil
}
