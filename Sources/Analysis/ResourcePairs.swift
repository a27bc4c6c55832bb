import APIModel
import ClangSupport
import Diagnostics

/// One paired resource held on a path: a critical section, a locked `PyMutex`, a thread-state token, an
/// interpreter guard or view (the kinds come from the rules data, `resources:`).
struct HeldResource: Hashable {
    var kind: String
    var family: String
    /// Where its handle lives (`_py_cs`, `self->lock`, `tok` and the call's result).
    var keys: Set<StorageKey>
    var site: SourceLocation
    var api: String
    /// Handed to someone else (returned, passed to an unknown function).
    var escaped = false
    /// Copied into a place the caller can reach (`self->guard = guard`, `ta->view = view`): handed to whoever owns
    /// that place.
    var storedAway = false
    /// Locals whose pointed-to fields hold a copy (`ta->view = view`): handing one of them on hands the resource.
    var carriers: Set<StorageKey.Root> = []
    /// Where the acquisition put it (the call's result, `&self->mutex`).
    var origin: StorageKey
    /// Handed to a thread by a start call whose result (this key) says whether it started: 0 for
    /// `pthread_create`. Settled by the branch on that result.
    var handedUnless: StorageKey? = nil
    /// What the acquisition locks besides its handle (the objects of `PyCriticalSection_Begin(&cs, op)`).
    var objects: Set<StorageKey> = []
    /// The GIL before an attaching acquisition, given back by its release.
    var previous: GILStatus
    /// Where on the path it was taken; not part of the state's identity.
    var depth: Int = 0

    static func == (a: HeldResource, b: HeldResource) -> Bool {
        a.kind == b.kind && a.keys == b.keys && a.site == b.site && a.escaped == b.escaped && a.previous == b.previous
            && a.storedAway == b.storedAway && a.carriers == b.carriers && a.handedUnless == b.handedUnless
    }
    func hash(into h: inout Hasher) {
        h.combine(kind)
        h.combine(keys)
        h.combine(site)
    }

    var name: String {
        if !origin.isTemporary { return origin.text }
        return keys.filter { !$0.isTemporary && $0.isLocal }.map(\.text).sorted().first
            ?? keys.filter { !$0.isTemporary }.map(\.text).sorted().first ?? origin.text
    }
}

extension PathExplorer {
    /// The resource kinds a call acquires and releases (by its qualified, then its plain name).
    func resourceRoles(_ site: CallSite) -> (acquires: [ResourceKind], releases: [ResourceKind]) {
        guard !site.isIndirect, !model.resources.isEmpty else { return ([], []) }
        let names = [site.qualifiedCallee, site.isScoped ? nil : site.callee].compactMap { $0 }
        for name in names {
            let a = (model.resourceAcquirers[name] ?? []).compactMap { model.resources[$0] }
            let r = (model.resourceReleasers[name] ?? []).compactMap { model.resources[$0] }
            if !a.isEmpty || !r.isEmpty { return (a, r) }
        }
        return ([], [])
    }

    /// The handles this function releases somewhere (a handle kept in a non-local place that the function
    /// itself also releases is its own, so a path that keeps it is a leak; otherwise it is a hand-off).
    func resourceHandlesReleased() -> Set<StorageKey> {
        var out = Set<StorageKey>()
        for site in cfg.callSites {
            for kind in resourceRoles(site).releases {
                if let slot = kind.release[site.qualifiedCallee ?? site.callee] ?? kind.release[site.callee],
                   let key = stateKey(site, slot) { out.insert(key) }
            }
        }
        return out
    }

    /// Applies a call's acquisitions and releases of paired resources to the path.
    mutating func applyResources(_ site: CallSite, _ w: inout Walker) {
        let (acquires, releases) = resourceRoles(site)
        let name = site.qualifiedCallee ?? site.callee
        for kind in releases {
            guard let slot = kind.release[name] ?? kind.release[site.callee] else { continue }
            releaseResource(kind, site, key: stateKey(site, slot), &w)
        }
        for kind in acquires {
            guard let slot = kind.acquire[name] ?? kind.acquire[site.callee] else { continue }
            guard let key = stateKey(site, slot) else { continue }
            if w.state.resources.count >= limits.maxHeldDepth { w.dead = true; return }
            var held = HeldResource(kind: kind.name, family: kind.family, keys: [key], site: site.location,
                                    api: site.shown, origin: key, previous: w.state.gil, depth: w.depth)
            for (n, a) in site.arguments.enumerated() where StateSlot.argument(n) != slot && StateSlot.pointee(n) != slot {
                held.objects.formUnion([a.storage, a.addressOf].compactMap { $0 } + a.value.keysRead)
            }
            w.state.resources.append(held)
            w.state.resourcesReleased.remove(key)
            if kind.attaches { w.state.gil = .held }
            w.note(site.location, "\(kind.noun) '\(key.text)' begun here by \(site.shown)")
        }
    }

    private mutating func releaseResource(_ kind: ResourceKind, _ site: CallSite, key: StorageKey?, _ w: inout Walker) {
        let live = w.state.resources
        func matches(_ h: HeldResource) -> Bool {
            guard let key else { return false }
            return h.keys.contains { $0 == key || $0.isPrefix(of: key) || key.isPrefix(of: $0) }
        }
        // A handle the acquisition failed to produce on this path (NULL): nothing to give back.
        if kind.mayFail, let key, case .equals(0)? = evaluate(.read(key), w.state) {
            reportResource(kind.failedReleaseRule ?? kind.leakRule, at: site.location,
                           "\(site.shown) releases \(kind.noun) '\(key.text)' on the path where its acquisition returned NULL",
                           walker: w, since: 0)
            return
        }
        if w.state.resourceFaulted.contains(kind.family) {
            if let i = live.lastIndex(where: { $0.family == kind.family && matches($0) }) ?? live.lastIndex(where: { $0.family == kind.family }) {
                w.state.resources.remove(at: i)
            }
            return
        }
        let family = live.indices.filter { live[$0].family == kind.family && !live[$0].escaped }
        let index = live.lastIndex(where: { $0.family == kind.family && matches($0) })
        let innermost = family.last
        if let mismatch = kind.mismatchRule, let inner = innermost {
            let open = live[inner]
            if open.kind != kind.name {
                // `Py_END_CRITICAL_SECTION()` closing a `Py_BEGIN_CRITICAL_SECTION2`: it ends the wrong kind.
                let other = model.resources[open.kind]
                reportResource(mismatch, at: site.location,
                               "\(site.shown) ends a \(kind.noun), but the innermost one open is the \(other?.noun ?? open.kind) '\(open.name)' begun by \(open.api) at line \(open.site.line)",
                               walker: w, since: open.depth)
                w.state.resources.remove(at: index ?? inner)
                w.state.resourcesReleased.insert(key ?? open.keys.first!)
                w.state.resourceFaulted.insert(kind.family)
                if other?.attaches == true { w.state.gil = open.previous }
                return
            }
            if let index, index != inner {
                reportResource(mismatch, at: site.location,
                               "\(site.shown) ends \(kind.noun) '\(live[index].name)' while the more recent '\(open.name)' begun at line \(open.site.line) is still open",
                               walker: w, since: live[index].depth)
                w.state.resourceFaulted.insert(kind.family)
            }
        }
        if let index {
            let taken = w.state.resources.remove(at: index)
            // Detaching gives back what the thread had before. A function that attaches by itself is written
            // for threads that may have no thread state; after the release such a thread has none, so Python
            // used after it is reported even when the caller's state is not known.
            if kind.attaches { w.state.gil = taken.previous == .unknown ? .released : taken.previous }
            if let key { w.state.resourcesReleased.insert(key) }
            w.note(site.location, "\(kind.noun) '\(taken.name)' ended here")
            return
        }
        guard let key else { return }
        if w.state.resourcesReleased.contains(key) {
            reportResource(kind.unheldRule, at: site.location,
                           "\(site.shown) releases \(kind.noun) '\(key.text)', which was already released on this path",
                           walker: w, since: 0)
            return
        }
        // Not held on this path: a fault when this function takes it itself somewhere (or it is its own local);
        // otherwise the caller's (a helper that unlocks what its caller locked).
        let own = key.isLocal && !cfg.parameters.contains(key.rootOnly) && !key.isTemporary && !w.state.foreign.contains(key)
        if own || resourceAcquiredSomewhere.contains(key) {
            reportResource(kind.unheldRule, at: site.location,
                           "\(site.shown) releases \(kind.noun) '\(key.text)', which is not held on this path",
                           walker: w, since: 0)
        }
        if kind.attaches { w.state.gil = .unknown }
    }

    /// The handles this function acquires somewhere.
    func resourceHandlesAcquired() -> Set<StorageKey> {
        var out = Set<StorageKey>()
        for site in cfg.callSites {
            for kind in resourceRoles(site).acquires {
                if let slot = kind.acquire[site.qualifiedCallee ?? site.callee] ?? kind.acquire[site.callee],
                   let key = stateKey(site, slot), !key.isTemporary { out.insert(key) }
            }
        }
        return out
    }

    /// On a branch where a handle of a kind whose acquisition can fail is NULL (`if (tok == NULL) return -1;`),
    /// nothing was acquired: the resource is dropped (an attaching one gives the GIL status back).
    func dropFailedResources(_ s: inout PathState) {
        for j in s.resources.indices {
            guard let k = s.resources[j].handedUnless, let fact = evaluate(.read(k), s) else { continue }
            s.resources[j].handedUnless = nil
            // The thread started (the start call gave 0): it owns the resource from here.
            if case .equals(0) = fact { s.resources[j].escaped = true }
        }
        var i = 0
        while i < s.resources.count {
            let h = s.resources[i]
            guard let kind = model.resources[h.kind], kind.mayFail,
                  h.keys.contains(where: { k in if case .equals(0)? = evaluate(.read(k), s) { return true } else { return false } }) else {
                i += 1
                continue
            }
            if kind.attaches { s.gil = h.previous }
            s.resources.remove(at: i)
        }
    }

    /// Reports the resources a path keeps when it leaves the function.
    mutating func leaveWithResources(_ w: Walker, returned: Set<StorageKey>, at location: SourceLocation, whereTo: String) {
        for h in w.state.resources where !w.state.resourceFaulted.contains(h.family) && resourceLeaked(h, returned: returned, w.state) {
            guard let kind = model.resources[h.kind] else { continue }
            reportResource(kind.leakRule, at: location,
                           "\(kind.noun) '\(h.name)' begun by \(h.api) is not ended \(whereTo)",
                           walker: w, since: h.depth)
        }
    }

    private func resourceLeaked(_ h: HeldResource, returned: Set<StorageKey>, _ s: PathState) -> Bool {
        if h.escaped || h.storedAway || h.handedUnless != nil { return false }
        if h.keys.contains(where: { k in returned.contains(where: { $0.isPrefix(of: k) || k.isPrefix(of: $0) }) }) {
            return false
        }
        // A handle the acquisition failed to give (NULL on this path) holds nothing.
        if model.resources[h.kind]?.mayFail == true,
           h.keys.contains(where: { k in if case .equals(0)? = evaluate(.read(k), s) { return true } else { return false } }) {
            return false
        }
        if !h.origin.isLocal && !h.origin.isTemporary {
            // Acquired into a place the caller can reach (`PyMutex_Lock(&self->mutex)`): a lock helper hands it
            // to its caller, unless this function also releases that place itself.
            return resourceReleasedSomewhere.contains(h.origin)
        }
        return true
    }

    /// `target = source`: a handle copied into another place is held there too.
    func carryResources(from source: StorageKey, to target: StorageKey, _ state: inout PathState) {
        for i in state.resources.indices where state.resources[i].keys.contains(source) {
            state.resources[i].keys.insert(target)
            guard !target.isLocal else { continue }
            if case .variable = target.root, !cfg.parameters.contains(target.rootOnly) {
                state.resources[i].carriers.insert(target.root)   // a field of what a local points to
            } else {
                state.resources[i].storedAway = true              // a parameter's field, a global
            }
        }
    }

    /// Handles given to a call the model knows nothing about may be released by it; so may handles kept in
    /// what a handed local points to (`ta->view = view; start(ta)`), unless the call frees it.
    func escapeResources(_ keys: [StorageKey], callee: String, _ state: inout PathState) {
        let freeing = ["free", "PyMem_Free", "PyMem_RawFree", "PyObject_Free"].contains(callee)
        for i in state.resources.indices {
            let h = state.resources[i]
            if h.keys.contains(where: { k in keys.contains(k) }) || (!freeing && keys.contains { h.carriers.contains($0.root) }) {
                state.resources[i].escaped = true
            }
        }
    }

    /// A function started on a thread, or a callback registered, with a local that carries a resource: the
    /// thread owns it from then on.
    func handResourcesToThread(_ site: CallSite, _ state: inout PathState) {
        let roots = Set(site.arguments.flatMap { a in ([a.addressOf, a.storage].compactMap { $0 } + a.value.keysRead).map(\.root) })
        for i in state.resources.indices where !state.resources[i].carriers.isDisjoint(with: roots)
            || state.resources[i].keys.contains(where: { roots.contains($0.root) && $0.path.isEmpty }) {
            if let result = site.result { state.resources[i].handedUnless = result } else { state.resources[i].escaped = true }
        }
    }

    /// Containers a function creates itself (`PyList_New`, `PyDict_Copy`, `PySequence_List`): until it stores
    /// them somewhere, no other thread can change them.
    static let constructors: Set<String> = ["PyList_New", "PyDict_New", "PyDict_Copy", "PySequence_List", "PyList_GetSlice",
                                             "PyTuple_New", "PySet_New", "PyFrozenSet_New", "_PyDict_NewPresized",
                                             "PyObject_Dir", "PyMapping_Keys", "PyMapping_Items", "PyMapping_Values",
                                             "PyDict_Keys", "PyDict_Values", "PyDict_Items"]

    /// borrowed-ref-free-threading: a call that borrows from a container (its first argument) that may be shared:
    /// not one this function created and kept to itself, not inside a critical section on it.
    mutating func checkBorrowed(_ site: CallSite, _ w: inout Walker) {
        if let result = site.result, PathExplorer.constructors.contains(site.callee) { w.state.fresh.insert(result) }
        guard !site.isIndirect, let rule = model.rule(for: site), let instead = rule.borrowed,
              let first = site.arguments.first else { return }
        let keys = [first.storage, first.addressOf].compactMap { $0 } + first.value.keysRead
        if keys.contains(where: { w.state.fresh.contains($0) }) { return }
        let locked = w.state.resources.contains { h in
            h.family == "critical-section" && keys.contains { k in h.objects.contains(k) }
        }
        if locked { return }
        let name = keys.first?.text ?? first.text
        let what = name.isEmpty ? "its container" : "'\(name)'"
        reportResource(RuleID.borrowedRefFreeThreading.rawValue, at: site.location,
                       "\(site.shown) returns a borrowed reference into \(what), which another thread can change on a free-threaded build; use \(instead), or hold a critical section on it",
                       walker: w, since: 0)
    }

    /// The innermost held resource during which a blocking call is a fault (a critical section), if any.
    func blockingResource(_ s: PathState) -> HeldResource? {
        s.resources.last { h in !h.escaped && model.resources[h.kind]?.blockingInside == true }
    }

    mutating func reportResource(_ ruleId: String, at location: SourceLocation, _ message: String, walker: Walker?, since depth: Int) {
        if let rule = RuleID(rawValue: ruleId) {
            report(rule, at: location, message, walker: walker, since: depth)
        } else {
            reportCustom(ruleId, at: location, message, walker: walker, since: depth)
        }
    }
}
