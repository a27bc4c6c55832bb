import ClangSupport
import Foundation
import APIModel

// Callbacks a library runs synchronously, inside a later call on the same handle, possibly made in another
// function: `curl_easy_setopt(self->handle, CURLOPT_WRITEFUNCTION, write_cb)` in the setopt method, and
// `curl_easy_perform(self->handle)` in the perform method. The callback starts in the GIL state of the call that
// runs it: without the GIL when that call is made inside Py_BEGIN_ALLOW_THREADS (the callback must take it), and
// with it when the call holds the GIL (a callback that takes the GIL with a saved thread state then waits for
// itself, or finds no state to take and skips its work).
//
// The path engine pairs a registration with a call of the same function's paths (`PendingRegistration`); this
// file pairs them across the run, by the kind of handle both are given (`CURL *`, `XML_Parser`).

/// A project function handed to a library call, anywhere in the run.
struct LibraryRegistration {
    var registrar: String
    /// The library the registrar belongs to (`APIModel.library(of:)`).
    var library: String
    /// The declared type of the registrar's first parameter: the handle the callback is set on.
    var handleType: String?
    /// The functions handed, with the definition each names.
    var functions: [(name: String, index: Int)]
    var location: SourceLocation
    /// The function that registers.
    var inFunction: Int
    /// The handle lives where other functions reach it (a field, a global, a parameter), not only in a local
    /// of the registering function, whose own paths the path engine pairs.
    var handleShared: Bool
    /// The structs of function pointers (USRs) the functions were handed in: a later call given one of the
    /// same kind runs them (`inflate(&zst)` runs the allocators stored in a `z_stream`).
    var tables: Set<String> = []
    /// Handed as a table of callbacks (`git_odb_add_backend(odb, &be->backend, 1)`): a library the rules model
    /// may run it from any of its calls marked `runs-callbacks`, whatever handle they are given.
    var libraryWide = false
    /// The table is an argument after the first (a handle, then the table): the likelier registration, named
    /// first in messages.
    var tableAfterHandle = false
}

/// A call made with the GIL released that a library might run registered callbacks in.
struct ReleasedLibraryCall: Hashable {
    var callee: String
    var handleType: String?
    /// The structs of function pointers (USRs) the call is given (`CallSite.vtableArguments`).
    var tables: Set<String> = []
    var location: SourceLocation
    /// The function making the call (set when the run collects them).
    var inFunction = -1

    static func == (a: Self, b: Self) -> Bool { a.location == b.location && a.callee == b.callee }
    func hash(into h: inout Hasher) { h.combine(location); h.combine(callee) }
}

/// A callback-running call that, made with the GIL held, runs a callback that takes the GIL in a way that does
/// not nest (`PyEval_AcquireThread`, `PyEval_RestoreThread`).
public struct CallbackHazard: Sendable {
    var function: String
    var registrar: String
    var location: SourceLocation
    var handleType: String?
    /// How the callback takes the GIL (`PyEval_AcquireThread()`, or a helper that calls it).
    var acquisition: String
}

/// Every function of the run handed to an outside call that has no GIL role in the rules (not a thread start,
/// not a callback-thread registration): the candidates for being run later by a call of the same library.
///
/// A struct of function pointers a library declares and a call hands over (a backend, an ops table) carries the
/// functions the run stores into its fields anywhere (the functions' own stores, and `fileScope`: the static
/// initializers', by field USR), even when another function, in another file, filled it in.
func collectRegistrations(_ cfgs: [FunctionCFG], model: APIModel, fileScope: [PointerStore] = [],
                          target: (String, Int) -> Int?) -> [LibraryRegistration] {
    // Struct USR -> the functions stored into its fields, each with the function that stored it (a `static`
    // callback is found from the file that stores it; nil for an initializer: then from the registering one).
    var byTable: [String: [(name: String, storedIn: Int?)]] = [:]
    func note(_ store: PointerStore, _ storedIn: Int?) {
        guard let r = store.key.range(of: "@FI@", options: .backwards) else { return }
        let table = String(store.key[..<r.lowerBound])
        if !(byTable[table] ?? []).contains(where: { $0.name == store.function }) {
            byTable[table, default: []].append((store.function, storedIn))
        }
    }
    for store in fileScope { note(store, nil) }
    for (i, c) in cfgs.enumerated() { for store in c.pointerStores { note(store, i) } }
    /// The library that keeps a table of this USR (`callback-tables:`), by the struct's name.
    func keeper(_ usr: String) -> String? { model.callbackTables[structName(usr)] }
    func members(_ table: String, from i: Int) -> [(String, Int)] {
        (byTable[table] ?? []).compactMap { m in target(m.name, m.storedIn ?? i).map { (m.name, $0) } }
    }
    var handedTables: Set<String> = []
    var out: [LibraryRegistration] = []
    for (i, c) in cfgs.enumerated() {
        for site in c.callSites where !site.isIndirect && site.guardEffect == nil && target(site.callee, i) == nil {
            guard let library = model.library(of: site.callee) else { continue }
            if let rule = model.rule(for: site),
               rule.effect != nil || rule.threadEntry != nil || rule.callbackThread != nil || model.requiresGIL(rule.name) {
                continue
            }
            var handed: [(String, Int)] = []
            for a in site.arguments {
                for name in a.handedFunctions {
                    if let t = target(name, i), !handed.contains(where: { $0.1 == t }) { handed.append((name, t)) }
                }
            }
            var tabled: [(String, Int)] = []
            var tables: Set<String> = []
            for (_, table) in site.vtableArguments.sorted(by: { $0.key < $1.key }) {
                let found = members(table, from: i)
                // A callback handing its own table back (`git_odb_backend_data_alloc(be, size)`) registers nothing.
                if found.isEmpty || found.contains(where: { $0.1 == i }) { continue }
                tables.insert(table)
                for (name, t) in found where !handed.contains(where: { $0.1 == t }) && !tabled.contains(where: { $0.1 == t }) {
                    tabled.append((name, t))
                }
            }
            if !tabled.isEmpty {
                handedTables.formUnion(tables)
                // A table the rules say the library keeps is run by any of its callback-running calls; another
                // (an iterator's, a stream's) by calls given a table of the same kind, or on the same kind of
                // handle, like a function handed directly.
                var r = LibraryRegistration(registrar: site.callee, library: library, handleType: site.handleType,
                                            functions: tabled, location: site.location, inFunction: i, handleShared: true,
                                            tables: tables, libraryWide: tables.contains { keeper($0) != nil })
                // A call given the table after a handle (`git_odb_add_backend(odb, be, 1)`) is the likelier
                // registration than one that works on the table itself (`git_odb_backend_data_free(be, p)`).
                r.tableAfterHandle = site.vtableArguments.contains { $0.key > 0 && tables.contains($0.value) }
                out.append(r)
            }
            guard !handed.isEmpty else { continue }
            var shared = true
            if let first = site.arguments.first, let key = first.addressOf ?? first.storage {
                // A field of a local struct (`mc.parser` of `manifest_ctx mc`) is the function's own too.
                shared = !key.isLocal || key.isGlobal || c.parameters.contains(key.rootOnly)
            }
            out.append(LibraryRegistration(registrar: site.callee, library: library, handleType: site.handleType,
                                           functions: handed, location: site.location, inFunction: i, handleShared: shared))
        }
    }
    // The tables a library keeps reach it together: one no call hands over is handed back through another's
    // callback (SQLite's file methods, set by the VFS's xOpen), so the call that hands the first registers it.
    for k in out.indices where out[k].libraryWide {
        let library = out[k].library
        for (table, _) in byTable.sorted(by: { $0.key < $1.key })
        where !handedTables.contains(table) && keeper(table) == library {
            for (name, t) in members(table, from: out[k].inFunction) where !out[k].functions.contains(where: { $0.1 == t }) {
                out[k].functions.append((name, t))
            }
            out[k].tables.insert(table)
        }
    }
    return out
}

/// A struct's name from its USR (`c:@S@z_stream_s`, `c:@SA@ZSTD_customMem`): what rules and messages call it.
func structName(_ usr: String) -> String { String(usr.split(separator: "@").last ?? "") }

/// Whether a call of `driver` given a handle of `driverHandle` and the tables `driverTables` may run what `r`
/// registered: a call of the same library that is given a table of a kind `r` filled (the registering call
/// itself, when it runs callbacks), or a different call on the same kind of handle. For a library the rules
/// model, only its calls marked `runs-callbacks: true` do; a registration on no handle pairs with those alone.
func mayRun(_ driver: String, driverHandle: String?, driverTables: Set<String> = [], _ r: LibraryRegistration,
            model: APIModel) -> Bool {
    guard model.library(of: driver) == r.library else { return false }
    let marked = model.function(named: driver)?.runsCallbacks == true
    if model.isModeledLibraryCall(driver), !marked { return false }
    if !r.tables.isDisjoint(with: driverTables) { return true }
    guard driver != r.registrar else { return false }
    if r.libraryWide, marked { return true }
    guard let handle = r.handleType else { return marked }
    return driverHandle == handle
}

/// How `function` first takes the GIL, when that is with a saved thread state (a restore or an acquire: they
/// do not nest, so a caller that holds the GIL deadlocks): the first GIL-effect call met walking its blocks
/// from the entry, looking into the project's own helpers two levels deep. Nil when it first ensures
/// (`PyGILState_Ensure` nests), first releases, or takes no GIL.
func nonNestingAcquisition(_ function: Int, cfgs: [FunctionCFG], model: APIModel, target: (String, Int) -> Int?,
                           depth: Int = 0) -> String? {
    let cfg = cfgs[function]
    var seen: Set<Int> = [cfg.entry]
    var queue = [cfg.entry]
    var k = 0
    while k < queue.count {
        let b = queue[k]
        k += 1
        for element in cfg.blocks[b].elements {
            guard case .call(let site) = element else { continue }
            if let effect = site.guardEffect ?? model.rule(for: site)?.effect {
                switch effect {
                case .restore, .acquire: return site.shown
                case .ensure, .save, .release, .releaseGIL, .initialize, .finalize: return nil
                case .check, .noreturn: continue
                }
            }
            if depth < 2, !site.isIndirect, let t = target(site.callee, function), t != function,
               cfgs[t].callSites.contains(where: { s in s.guardEffect != nil || model.rule(for: s)?.effect != nil
                   || (!s.isIndirect && target(s.callee, t) != nil) }) {
                if let inner = nonNestingAcquisition(t, cfgs: cfgs, model: model, target: target, depth: depth + 1) {
                    return "\(site.shown) (calls \(inner))"
                }
                // The helper took or gave the GIL some other way: that decides.
                if cfgs[t].callSites.contains(where: { s in [.ensure, .save, .release].contains(model.rule(for: s)?.effect) }) {
                    return nil
                }
            }
        }
        let next: [Int]
        switch cfg.blocks[b].terminator {
        case .jump(let t): next = [t]
        case .branch(_, let t, let f, _, _): next = [t, f]
        case .switchOn(_, let cases, let d, _, _): next = cases.map(\.target) + [d]
        case .exit, .stop, .raise: next = []
        }
        for n in next where seen.insert(n).inserted { queue.append(n) }
    }
    return nil
}

/// The callback-running calls of the library models (`runs-callbacks: true`) that would run a registered
/// callback taking the GIL with a saved thread state: by callee.
func callbackHazards(_ registrations: [LibraryRegistration], cfgs: [FunctionCFG], model: APIModel,
                     target: (String, Int) -> Int?) -> [String: [CallbackHazard]] {
    let runners = model.callbackRunners
    guard !runners.isEmpty, !registrations.isEmpty else { return [:] }
    var acquisitions: [Int: String?] = [:]
    var out: [String: [CallbackHazard]] = [:]
    for r in registrations {
        for (name, index) in r.functions {
            if acquisitions[index] == nil {
                acquisitions[index] = .some(nonNestingAcquisition(index, cfgs: cfgs, model: model, target: target))
            }
            guard case .some(.some(let how)) = acquisitions[index] else { continue }
            for runner in runners where mayRun(runner, driverHandle: r.handleType, r, model: model) {
                guard !(out[runner] ?? []).contains(where: { $0.function == name && $0.handleType == r.handleType }) else { continue }
                out[runner, default: []].append(CallbackHazard(function: name, registrar: r.registrar, location: r.location,
                                                               handleType: r.handleType, acquisition: how))
            }
        }
    }
    return out
}

/// The registered functions a call made with the GIL released runs (by definition), each with the registration
/// and the call that runs it.
func callbacksRunWithoutGIL(_ registrations: [LibraryRegistration], released: [ReleasedLibraryCall],
                            model: APIModel) -> [(index: Int, registration: CallbackRegistration)] {
    guard !registrations.isEmpty, !released.isEmpty else { return [] }
    var out: [(Int, CallbackRegistration)] = []
    var done: Set<Int> = []
    // A call that blocks (the transfer itself) names the pairing best; then the first in the source.
    let ordered = released.sorted { a, b in
        let ab = model.function(named: a.callee)?.blocks == true, bb = model.function(named: b.callee)?.blocks == true
        return ab != bb ? ab : a.location < b.location
    }
    let preferred = registrations.filter(\.tableAfterHandle) + registrations.filter { !$0.tableAfterHandle }
    for call in ordered {
        // The call's own table first: it names the pairing best.
        let candidates = preferred.filter { $0.location == call.location } + preferred.filter { $0.location != call.location }
        for r in candidates where r.handleShared
            && mayRun(call.callee, driverHandle: call.handleType, driverTables: call.tables, r, model: model) {
            let direct = !r.tables.isDisjoint(with: call.tables)
            // A registration and a call of one function are paired along its paths by the path engine, which
            // does not follow tables.
            guard direct || r.inFunction != call.inFunction else { continue }
            for (name, index) in r.functions where done.insert(index).inserted {
                if r.location == call.location {
                    let table = r.tables.intersection(call.tables).sorted().first.map(structName)
                    out.append((index, CallbackRegistration(function: name, registrar: r.registrar + "()", location: r.location,
                                                            table: table)))
                } else {
                    out.append((index, CallbackRegistration(function: name, registrar: r.registrar + "()", location: r.location,
                                                            invokedBy: call.callee + "()", invokedAt: call.location)))
                }
            }
        }
    }
    return out
}
