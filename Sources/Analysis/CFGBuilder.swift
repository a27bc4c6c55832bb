import APIModel
import CLibClang
import ClangSupport

/// Lowers one function body from libclang's AST to a `FunctionCFG`.
///
/// Statements become blocks and edges (if/else, loops, switch with fallthrough, goto/labels, break/continue,
/// return). Expressions are flattened in evaluation order into `Element`s; `&&`, `||`, `?:` and GNU statement
/// expressions that have side effects become control flow of their own, so a release guarded by `ok && …`
/// or an `assert` that calls a noreturn function is followed exactly.
final class CFGBuilder {
    private let model: APIModel
    private let typeCache: TypeFacts
    private var blocks: [BasicBlock] = [BasicBlock()]
    private var current = 0
    private var labels: [String: Int] = [:]
    private var breakTargets: [Int] = []
    private var continueTargets: [Int] = []
    private var switchStack: [(cases: [SwitchCase], defaultTarget: Int?)] = []
    /// C++ RAII guards alive in each enclosing block scope, innermost last.
    /// `effect` nil: a GCC `__attribute__((cleanup(name)))` variable, whose cleanup function `name` is called
    /// with the variable's address at every scope exit.
    private var scopes: [[ScopedGuard]] = [[]]
    private typealias ScopedGuard = (key: StorageKey, effect: GILEffect?, location: SourceLocation, name: String)
    /// The guards alive at each label, and at each `goto` (with the block it leaves from): a goto out of a guard's
    /// scope runs the guard's destructor, emitted once the label's guards are known.
    private var labelGuards: [String: [ScopedGuard]] = [:]
    private var pendingGotos: [(block: Int, label: String, guards: [ScopedGuard], location: SourceLocation)] = []
    /// `scopes.count` at the targets of break and continue.
    private var breakScopeDepths: [Int] = []
    private var continueScopeDepths: [Int] = []
    private var variables: [UInt32: [(Cursor, Int)]] = [:]
    private var nextVariable = 0
    private var nextTemporary = 0
    private var parameterKeys: [StorageKey] = []
    /// Non-zero while lowering the arguments of a GIL call (`PyEval_RestoreThread(self->state)`).
    private var suppressDereferenceChecks = 0

    private let macros: MacroUses
    /// The lambdas met in the body, in source order, with the names their own CFGs get
    /// (`outer::lambda#1`): a lambda expression is a value here; its body is a function of its own.
    private(set) var lambdas: [(cursor: Cursor, name: String)] = []
    private var functionName = ""
    /// C++ `try` statements around the current point, innermost last: the block that dispatches to their
    /// `catch` handlers, and the guard-scope depth at the `try` (the guards an exception runs the destructors of).
    private var tryHandlers: [TryContext] = []
    /// Function addresses stored so far (in source order) into a local's fields or a place below a pointer:
    /// `cbs.on_audio = audio_cb` is (cbs, "on_audio", audio_cb); an initializer list stores with field "".
    private var functionStores: [(root: StorageKey, field: String, function: String)] = []
    /// Functions stored into function-pointer fields and variables, for calls made through them anywhere.
    private var pointerStores: [PointerStore] = []
    /// The result of the last call of each probe (`PQisBusy`) met so far, by the storage its first argument names.
    private var probeResults: [String: [StorageKey: StorageKey]] = [:]
    /// The object the constructor call being lowered builds (`Guard g;`, a member initializer), taken by that call.
    private var constructing: CallArgument?
    /// The variable the last constructor that locks a mutex (`std::lock_guard lk(m)`) was called on: it holds
    /// the mutex until its scope ends.
    private var lockingConstructorOf: StorageKey?
    /// The index variables of the `for` loops around the current point that count up (`i++`, `i += 1`).
    private var countingUp: [StorageKey] = []
    /// Locals that own a project object through a `std::unique_ptr` / `std::optional`: its destructor runs at the
    /// end of their scope only when they still hold it (`job.reset()` with the GIL held destroys it there).
    /// Each with a variable of its own that tells whether it still owns it (the owner's own facts do not survive
    /// the calls that take its address).
    private var nullableOwners: [StorageKey: StorageKey] = [:]
    /// For the `std::optional` ones: the class of the object they hold, whose constructor `emplace()` runs.
    private var emplacedClass: [StorageKey: String] = [:]
    /// For each of those loops, the arrays its body fills with GIL states at that index (`st[i] = Ensure()`):
    /// released in the same iteration, they pair up one by one.
    private var filledInLoop: [Set<String>] = []
    /// `this` in a C++ method: the root of its `this->field` places (`StateSlot.object`).
    static let thisKey = StorageKey(root: .variable(-1), path: [], isLocal: false, text: "this")
    /// Function-local `static` and `thread_local` objects whose class has a destructor of the project's.
    private(set) var staticObjects: [StaticObject] = []

    init(model: APIModel, typeFacts: TypeFacts, macros: MacroUses) {
        self.model = model
        self.typeCache = typeFacts
        self.macros = macros
    }

    /// The macro whose expansion produced `c`, when there is one.
    private func macroName(at c: Cursor) -> String? {
        let loc = c.location
        return macros.name(file: loc.file, offset: loc.offset)
    }

    /// `name` and `isStatic` default to the declaration's; a lambda is named by its enclosing function and is
    /// local to its file.
    func build(function: Cursor, body: Cursor, name: String? = nil, isStatic: Bool? = nil) -> FunctionCFG {
        functionName = name ?? function.spelling
        for child in function.children where child.kind == CXCursor_ParmDecl {
            parameterKeys.append(key(forDeclaration: child))
        }
        if function.kind == CXCursor_Constructor { lowerMemberInitializers(function) }
        lowerStatement(body)
        let afterBody = current
        resolveGotos()
        current = afterBody
        let end = body.extentEnd
        let closing = SourceLocation(file: end.file, line: end.line, column: max(1, end.column - 1), offset: end.offset)
        terminate(.exit(nil, closing, implicit: true))
        threadEmptyJumps()
        dropUnreachableBlocks()
        var cfg = FunctionCFG(name: functionName, location: function.location,
                              isStatic: isStatic ?? (function.storageClass == CX_SC_Static), blocks: blocks, entry: 0,
                              parameters: parameterKeys)
        cfg.pointerStores = pointerStores
        return cfg
    }

    /// A constructor's member-initializer list runs before its body: `obj(PyUnicode_FromString(s))` stores into
    /// the new object (a place the caller owns), `Base(args)` runs the base class's constructor.
    private func lowerMemberInitializers(_ constructor: Cursor) {
        var member: Cursor?
        for child in constructor.children {
            switch child.kind {
            case CXCursor_MemberRef:
                member = child
            case CXCursor_CompoundStmt:
                return
            default:
                guard child.isExpression else { member = nil; continue }
                let field = member.map { m in
                    StorageKey(root: Self.thisKey.root, path: ["->" + m.spelling], isLocal: false, text: "this->" + m.spelling)
                }
                if let field, isConstructorCall(child) {
                    constructing = objectArgument(addressOf: field)   // built in place
                    _ = lowerExpression(child)
                    constructing = nil
                    member = nil
                    continue
                }
                let value = lowerExpression(child, discarded: member == nil)
                if let field { emit(.assign(field, value, child.location)) }
                member = nil
            }
        }
    }

    // MARK: - Blocks

    /// Points every edge past blocks that hold nothing and only jump on. Nested `if`/`else if` chains leave one
    /// such join block per level; without this, paths reaching the end of an N-deep chain would be merged N
    /// times over (quadratic work on generated dispatch code).
    private func threadEmptyJumps() {
        // Each chain of empty jumps is walked once: it stops at the first block already resolved, and every
        // block on it takes the chain's end (a chain per block would be quadratic in a 10,000-deep `else if`).
        // A cycle of empty blocks (`for (;;) {}`) ends at the block where it closes, which becomes a self-loop.
        var resolved = Array(repeating: -1, count: blocks.count)
        var onChain = Array(repeating: false, count: blocks.count)
        for start in blocks.indices where resolved[start] < 0 {
            var chain: [Int] = []
            var b = start
            var end = start
            while true {
                if resolved[b] >= 0 { end = resolved[b]; break }
                guard !onChain[b], blocks[b].elements.isEmpty, case .jump(let next) = blocks[b].terminator, next != b
                else { end = b; break }
                onChain[b] = true
                chain.append(b)
                b = next
            }
            for c in chain { resolved[c] = end; onChain[c] = false }
            if resolved[start] < 0 { resolved[start] = end }
        }
        for b in blocks.indices { Self.retarget(&blocks[b]) { resolved[$0] } }
    }

    /// Points a block's edges (its terminator's and its calls' unwind edges) at `target(old)`.
    private static func retarget(_ block: inout BasicBlock, _ target: (Int) -> Int) {
        switch block.terminator {
        case .jump(let t):
            block.terminator = .jump(target(t))
        case .branch(let value, let t, let f, let location, let text):
            block.terminator = .branch(value, whenTrue: target(t), whenFalse: target(f), location, text: text)
        case .switchOn(let value, let cases, let d, let location, let text):
            let moved = cases.map { SwitchCase(low: $0.low, high: $0.high, target: target($0.target)) }
            block.terminator = .switchOn(value, cases: moved, defaultTarget: target(d), location, text: text)
        case .exit, .stop, .raise:
            break
        }
        for (k, e) in block.elements.enumerated() {
            guard case .call(var site) = e, site.unwind != nil || site.unwindEscape != nil || !site.unwindRoutes.isEmpty
            else { continue }
            site.unwind = site.unwind.map(target)
            for r in site.unwindRoutes.indices { site.unwindRoutes[r].pad = target(site.unwindRoutes[r].pad) }
            site.unwindEscape = site.unwindEscape.map(target)
            block.elements[k] = .call(site)
        }
    }

    /// Keeps only the blocks the entry reaches (through terminators and the unwind edges of calls), in their
    /// order, each in storage of its own size: the blocks emptied by `threadEmptyJumps` and the fresh block that
    /// follows every `return`, `break` or `goto` are most of a generated function's blocks, and every function of
    /// the run is kept until the project-wide analysis.
    private func dropUnreachableBlocks() {
        var number = Array(repeating: -1, count: blocks.count)
        var order: [Int] = []
        var stack = [0]
        number[0] = 0
        order.append(0)
        func reach(_ b: Int) {
            guard number[b] < 0 else { return }
            number[b] = order.count
            order.append(b)
            stack.append(b)
        }
        while let b = stack.popLast() {
            for e in blocks[b].elements {
                guard case .call(let site) = e else { continue }
                if let u = site.unwind { reach(u) }
                for r in site.unwindRoutes { reach(r.pad) }
                if let x = site.unwindEscape { reach(x) }
            }
            switch blocks[b].terminator {
            case .jump(let t): reach(t)
            case .branch(_, let t, let f, _, _): reach(t); reach(f)
            case .switchOn(_, let cases, let d, _, _): for c in cases { reach(c.target) }; reach(d)
            case .exit, .stop, .raise: break
            }
        }
        // Kept in their original order: a block's index still says which of two came first in the source.
        order.sort()
        for (k, b) in order.enumerated() { number[b] = k }
        var kept: [BasicBlock] = []
        kept.reserveCapacity(order.count)
        for b in order {
            var block = blocks[b]
            if block.elements.capacity > block.elements.count { block.elements = block.elements.map { $0 } }
            Self.retarget(&block) { number[$0] }
            kept.append(block)
        }
        blocks = kept
    }

    private func newBlock() -> Int {
        blocks.append(BasicBlock())
        return blocks.count - 1
    }

    private func emit(_ element: Element) { blocks[current].elements.append(element) }

    /// Ends the current block; code after it (until a label) is unreachable and goes to a fresh block.
    private func terminate(_ terminator: Terminator) {
        blocks[current].terminator = terminator
        current = newBlock()
    }

    private func jump(to target: Int) {
        blocks[current].terminator = .jump(target)
        current = target
    }

    private func labelBlock(_ name: String) -> Int {
        if let b = labels[name] { return b }
        let b = newBlock()
        labels[name] = b
        return b
    }

    // MARK: - Statements

    private func lowerStatement(_ c: Cursor) {
        switch c.kind {
        case CXCursor_CompoundStmt:
            scopes.append([])
            for child in c.children { lowerStatement(child) }
            endGuards(downTo: scopes.count - 1, at: c.extentEnd)
            scopes.removeLast()
        case CXCursor_DeclStmt:
            for decl in c.children where decl.kind == CXCursor_VarDecl { lowerVarDecl(decl) }
        case CXCursor_VarDecl:
            lowerVarDecl(c)
        case CXCursor_IfStmt:
            lowerIf(c)
        case CXCursor_WhileStmt:
            lowerWhile(c)
        case CXCursor_DoStmt:
            lowerDo(c)
        case CXCursor_ForStmt:
            lowerFor(c)
        case CXCursor_SwitchStmt:
            lowerSwitch(c)
        case CXCursor_CaseStmt:
            lowerCase(c)
        case CXCursor_DefaultStmt:
            let target = newBlock()
            jump(to: target)
            if !switchStack.isEmpty { switchStack[switchStack.count - 1].defaultTarget = target }
            for child in c.children { lowerStatement(child) }
        case CXCursor_BreakStmt:
            if let target = breakTargets.last {
                endGuards(downTo: breakScopeDepths.last ?? 0, at: c.location)
                terminate(.jump(target))
            }
        case CXCursor_ContinueStmt:
            if let target = continueTargets.last {
                endGuards(downTo: continueScopeDepths.last ?? 0, at: c.location)
                terminate(.jump(target))
            }
        case CXCursor_CXXTryStmt:
            lowerTry(c)
        case CXCursor_ReturnStmt:
            let kids = c.children.filter(\.isExpression)
            let value = kids.first.map { lowerExpression($0) }
            endGuards(downTo: 0, at: c.location)
            terminate(.exit(value, c.location, implicit: false))
        case CXCursor_GotoStmt:
            let name = c.children.first(where: { $0.kind == CXCursor_LabelRef })?.spelling ?? ""
            let guards = scopes.flatMap { $0 }
            if guards.isEmpty {
                terminate(.jump(labelBlock(name)))
            } else {
                // Leaves through a block of its own, where the destructors of the scopes it leaves run.
                let exit = newBlock()
                pendingGotos.append((exit, name, guards, c.location))
                jump(to: exit)
                current = newBlock()
            }
        case CXCursor_IndirectGotoStmt:
            for child in c.children where child.isExpression { _ = lowerExpression(child) }
            terminate(.stop)
        case CXCursor_LabelStmt:
            labelGuards[c.spelling] = scopes.flatMap { $0 }
            jump(to: labelBlock(c.spelling))
            for child in c.children where child.kind != CXCursor_LabelRef { lowerStatement(child) }
        case CXCursor_NullStmt, CXCursor_GCCAsmStmt, CXCursor_AsmStmt, CXCursor_MSAsmStmt:
            break
        default:
            if c.isExpression {
                _ = lowerExpression(c, discarded: true)
            } else {
                for child in c.children where child.isExpression || child.isStatement { lowerStatement(child) }
            }
        }
    }

    /// Completes each `goto`: the guards alive at the jump but not at its label end there, innermost first.
    private func resolveGotos() {
        for pending in pendingGotos {
            let target = labelGuards[pending.label] ?? []
            current = pending.block
            for g in pending.guards.reversed() where !target.contains(where: { $0.location == g.location && $0.key == g.key }) {
                endGuard(g, at: pending.location)
            }
            jump(to: labelBlock(pending.label))
        }
        pendingGotos.removeAll()
    }

    /// Ends the guards of the scopes above `depth` (innermost first), as their destructors would.
    // MARK: - C++ exceptions

    /// `throw`: the destructors of the guards in scope run down to the innermost `try`, whose handlers are
    /// entered; with no `try` around, the exception leaves the function. What follows is unreachable.
    /// A `try` around the current point: the block that may enter any of its handlers (for an exception of
    /// unknown type), the guard-scope depth at the `try`, and each handler's entry with the type it catches
    /// (nil for `catch (...)`).
    private struct TryContext {
        var dispatch: Int
        var depth: Int
        var handlers: [(catches: String?, entry: Int)]
    }

    /// `thrown` known: the first handler, innermost `try` first, that catches it, else out of the function.
    /// Unknown (`throw;`, a dependent type): the innermost `try`'s handlers, any of them.
    private func raise(at location: SourceLocation, thrown: ThrownType? = nil) {
        if let thrown {
            if let (t, entry) = handler(catching: thrown) {
                endGuards(downTo: tryHandlers[t].depth, at: location)
                blocks[current].terminator = .jump(entry)
            } else {
                endGuards(downTo: 0, at: location)
                blocks[current].terminator = .raise(location, thrown: thrown)
            }
        } else if let t = tryHandlers.last {
            endGuards(downTo: t.depth, at: location)
            blocks[current].terminator = .jump(t.dispatch)
        } else {
            endGuards(downTo: 0, at: location)
            blocks[current].terminator = .raise(location, thrown: nil)
        }
        current = newBlock()
    }

    private func handler(catching thrown: ThrownType) -> (Int, Int)? {
        for t in tryHandlers.indices.reversed() {
            for h in tryHandlers[t].handlers where h.catches.map(thrown.contains) ?? true { return (t, h.entry) }
        }
        return nil
    }

    /// For a call that may throw inside a `try` with typed handlers: a route into each handler that may catch
    /// what the callee throws (up to the first `catch (...)`), each running the guards' destructors down to its
    /// `try`, and the block that runs them all and leaves the function when no handler catches it.
    private func unwindRoutes(at location: SourceLocation) -> ([UnwindRoute], escape: Int?) {
        guard tryHandlers.contains(where: { t in t.handlers.contains { $0.catches != nil } }) else { return ([], nil) }
        let saved = current
        defer { current = saved }
        var routes: [UnwindRoute] = []
        for t in tryHandlers.indices.reversed() {
            for h in tryHandlers[t].handlers {
                let pad = newBlock()
                current = pad
                endGuards(downTo: tryHandlers[t].depth, at: location)
                blocks[current].terminator = .jump(h.entry)
                routes.append(UnwindRoute(catches: h.catches, pad: pad))
                if h.catches == nil { return (routes, nil) }
            }
        }
        let escape = newBlock()
        current = escape
        endGuards(downTo: 0, at: location)
        blocks[current].terminator = .raise(location, thrown: nil)
        return (routes, escape)
    }

    /// Where an exception from a call at this point goes: a block of its own that runs the destructors of the
    /// guards in scope and enters the innermost `try`'s handlers or leaves the function; nil when there is
    /// neither a guard nor a `try` (the exception leaves the function at the call).
    private func unwindBlock(at location: SourceLocation) -> Int? {
        guard !tryHandlers.isEmpty || scopes.contains(where: { !$0.isEmpty }) else { return nil }
        let saved = current
        let pad = newBlock()
        current = pad
        raise(at: location)
        current = saved
        return pad
    }

    /// `try { body } catch (A) { ... } catch (...) { ... }`: the body's throws and throwing calls enter a
    /// dispatch block that may run any handler. Exception types are not matched: the handlers are taken to catch
    /// what the body throws (the project's own `catch (const std::exception &)` around its own throws); only a
    /// `throw;` in a handler sends it on outward.
    private func lowerTry(_ c: Cursor) {
        let kids = c.children
        guard let body = kids.first(where: { $0.kind == CXCursor_CompoundStmt }) else { return }
        let handlers = kids.filter { $0.kind == CXCursor_CXXCatchStmt }
        let dispatch = newBlock(), join = newBlock()
        let entries = handlers.map { _ in newBlock() }
        let caught = handlers.map { h in h.children.first(where: { $0.kind == CXCursor_VarDecl }).map { typeCache.catchName($0.type) } }
        tryHandlers.append(TryContext(dispatch: dispatch, depth: scopes.count, handlers: Array(zip(caught, entries))))
        lowerStatement(body)
        tryHandlers.removeLast()
        jump(to: join)
        current = dispatch
        if handlers.isEmpty {
            raise(at: c.location)   // no handler: the exception goes on to an enclosing try, or out of the function
        }
        for k in handlers.indices {
            if k < handlers.count - 1 {
                let next = newBlock()
                blocks[current].terminator = .branch(.unknown, whenTrue: entries[k], whenFalse: next, handlers[k].location, text: nil)
                current = next
            } else {
                jump(to: entries[k])
            }
        }
        for (handler, entry) in zip(handlers, entries) {
            current = entry
            lowerHandler(handler, join: join)
        }
        current = join
    }

    private func lowerHandler(_ handler: Cursor, join: Int) {
        scopes.append([])
        for child in handler.children {
            if child.kind == CXCursor_VarDecl { emit(.declare(key(forDeclaration: child))) } else { lowerStatement(child) }
        }
        endGuards(downTo: scopes.count - 1, at: handler.extentEnd)
        scopes.removeLast()
        jump(to: join)
    }

    private func endGuards(downTo depth: Int, at location: SourceLocation) {
        for scope in scopes[depth...].reversed() {
            for g in scope.reversed() { endGuard(g, at: location) }
        }
    }

    private func endGuard(_ g: ScopedGuard, at location: SourceLocation) {
        guard let effect = g.effect else {
            var join: Int?
            if let owns = nullableOwners[g.key] {
                // Only while it still owns the object.
                let destroy = newBlock(), after = newBlock()
                blocks[current].terminator = .branch(.read(owns), whenTrue: destroy, whenFalse: after, location, text: nil)
                current = destroy
                join = after
            }
            defer { if let join { jump(to: join) } }
            emitDestructorCall(g.name, of: g.key, shown: "\(g.name)() (cleanup of '\(g.key.text)')", at: location)
            return
        }
        let undo: GILEffect = effect == .ensure ? .release : .restore
        emitGuardCall(g.key, undo, at: location, shown: "end of scope of '\(g.key.text)' (\(g.name))")
    }

    /// A destructor (or a C cleanup function) run on `key`: the object is its `this`, and its argument.
    private func emitDestructorCall(_ name: String, of key: StorageKey, shown: String, at location: SourceLocation) {
        let argument = objectArgument(addressOf: key)
        var site = CallSite(callee: name, qualifiedCallee: nil, guardEffect: nil, shown: shown, location: location,
                            arguments: [argument], result: nil, declaredNoReturn: false, isIndirect: false)
        site.object = argument
        emit(.call(site))
    }

    private func emitGuardCall(_ key: StorageKey, _ effect: GILEffect, at location: SourceLocation, shown: String) {
        let argument = CallArgument(value: .read(key), storage: key, functionReferences: [], text: key.text)
        emit(.call(CallSite(callee: "~guard", qualifiedCallee: nil, guardEffect: effect, shown: shown, location: location,
                            arguments: [argument], result: nil, declaredNoReturn: false, isIndirect: false)))
    }

    /// The RAII guard class a variable's type is, if the rules declare it.
    private func guardEffect(of decl: Cursor) -> (GILEffect, String)? {
        guard !model.guards.isEmpty else { return nil }
        let typeDecl = decl.type.canonical.declaration
        guard !typeDecl.isNull, let name = qualifiedName(typeDecl) ?? Optional(typeDecl.spelling),
              let effect = model.guards[name] else { return nil }
        return (effect, name)
    }

    /// `name` for `__attribute__((cleanup(name)))`.
    private func cleanupFunction(of decl: Cursor) -> String? {
        for attr in decl.children where attr.kind == CXCursor_UnexposedAttr {
            // Bounded: an attribute from a macro (Cython's CYTHON_UNUSED) can have a range that, read as
            // spelled, runs from the macro's definition to the end of the file.
            let tokens = attr.spelledTokens(from: attr.rawExtentStart, to: attr.rawExtentEnd)
            if let i = tokens.firstIndex(where: { $0 == "cleanup" || $0 == "__cleanup__" }), i + 2 < tokens.count,
               tokens[i + 1] == "(" {
                return tokens[i + 2]
            }
        }
        return nil
    }

    private func lowerVarDecl(_ decl: Cursor) {
        let key = key(forDeclaration: decl)
        if let (effect, name) = guardEffect(of: decl) {
            // Constructing the guard takes (or drops) the GIL; its destructor undoes it at every scope exit.
            for arg in decl.children where arg.isExpression {
                for k in arg.children where k.isExpression { _ = lowerExpression(k, discarded: true) }
            }
            emitGuardCall(key, effect, at: decl.location, shown: "'\(decl.spelling)' (\(name))")
            scopes[scopes.count - 1].append((key, effect, decl.location, name))
            return
        }
        if let cleanup = cleanupFunction(of: decl) {
            scopes[scopes.count - 1].append((key, nil, decl.location, cleanup))
        }
        var destructor: String?
        if let object = StaticObject(decl, facts: typeCache) {
            staticObjects.append(object)
        } else if decl.storageClass != CX_SC_Static, decl.storageClass != CX_SC_Extern {
            destructor = typeCache.projectDestructor(of: decl.type)
        }
        pointerStores += FunctionPointers.stores(declaration: decl, shapes: typeCache.shapes)
        guard decl.storageClass != CX_SC_Static, decl.storageClass != CX_SC_Extern else { return }
        let initializer = decl.children.last(where: { $0.isExpression })
        if let initializer {
            if stripped(initializer).kind == CXCursor_InitListExpr {
                for f in functionsInInitializer(initializer) { functionStores.append((key.rootOnly, "", f)) }
            }
            if isConstructorCall(initializer) {
                // Built in place: the constructor's `this` is the variable, which its value does not overwrite.
                emit(.declare(key))
                constructing = objectArgument(addressOf: key)
                lockingConstructorOf = nil
                _ = lowerExpression(initializer)
                constructing = nil
                if lockingConstructorOf == key, destructor == nil {
                    // A lock guard of the standard library: it unlocks where its scope ends.
                    scopes[scopes.count - 1].append((key, nil, decl.location, "~" + decl.type.canonical.declaration.spelling))
                }
            } else {
                let value = lowerExpression(initializer)
                emit(.assign(key, value, decl.location))
                keepProbeResult(value, in: key)
            }
        } else {
            emit(.declare(key))
        }
        if let destructor {
            // A C++ object of the function: its destructor runs where its scope ends (after a Py_FinalizeEx()
            // there, or with the GIL released by a guard declared after it). Not when its constructor throws.
            scopes[scopes.count - 1].append((key, nil, decl.location, destructor))
            if TypeFacts.ownsOneObject(decl.type.canonical.declaration) {
                let owns = StorageKey(root: .variable(nextVariable), path: [], isLocal: true, text: key.text + " (owns its object)")
                nextVariable += 1
                nullableOwners[key] = owns
                emit(.declare(owns))
                // `std::optional<T> x;` and `std::unique_ptr<T> p;` start empty.
                let defaulted = initializer.map { i in
                    stripped(i).kind == CXCursor_CallExpr && !stripped(i).children.contains(where: \.isExpression)
                } ?? true
                if defaulted { emit(.assign(owns, .constant(0), decl.location)) }
                let owner = decl.type.canonical.declaration
                if owner.spelling == "optional", let element = decl.type.canonical.firstTemplateArgument?.canonical.declaration {
                    emplacedClass[key] = element.spelling
                }
            }
        }
    }

    /// `busy = PQisBusy(conn)`: the probe's answer is read from the variable from here on (`if (busy) ...`), not
    /// from the call's temporary, which no branch tests.
    private func keepProbeResult(_ value: Value, in target: StorageKey) {
        guard !probeResults.isEmpty, case .read(let t) = value, t.isTemporary, target.isLocal, target.path.isEmpty else { return }
        for (probe, answers) in probeResults {
            for (handle, answer) in answers where answer == t { probeResults[probe]?[handle] = target }
        }
    }

    /// `Guard g;`, `Guard g(args)`, `Guard g = Guard(args)`: the initializer is the constructor's call itself.
    private func isConstructorCall(_ c: Cursor) -> Bool {
        let s = stripped(c)
        return s.kind == CXCursor_CallExpr && s.referenced?.kind == CXCursor_Constructor
    }

    /// The object of `p->m()` (the pointer `p`), of `o.m()` (`&o`), of `m()` inside another method (`this`).
    private func methodObject(_ base: Cursor?) -> CallArgument? {
        guard let base else {
            return CallArgument(value: .read(Self.thisKey), storage: Self.thisKey, functionReferences: [], text: "this")
        }
        let value = lowerExpression(base)
        let key = storageKey(base)
        if stripped(base).type.canonical.kind == CXType_Pointer {
            return CallArgument(value: value, storage: key, functionReferences: [], text: key?.text ?? "")
        }
        return key.map(objectArgument(addressOf:))
    }

    private func objectArgument(addressOf key: StorageKey) -> CallArgument {
        CallArgument(value: .addressOf(key), storage: nil, functionReferences: [], text: "&" + key.text)
    }

    private func lowerIf(_ c: Cursor) {
        let kids = c.children.filter { $0.isExpression || $0.isStatement || $0.kind == CXCursor_VarDecl }
        // C: cond, then, [else]. C++ may add an init statement or a condition variable before them.
        var parts = kids
        while parts.count > 3 { lowerStatement(parts.removeFirst()) }
        guard parts.count >= 2 else { return }
        if parts.count == 3, !parts[0].isExpression, parts[0].kind != CXCursor_VarDecl {
            // if (init; cond) then — no else
            lowerStatement(parts.removeFirst())
        }
        var condition = parts[0]
        if condition.kind == CXCursor_VarDecl {
            lowerVarDecl(condition)
            condition = condition.children.last(where: { $0.isExpression }) ?? condition
        }
        let thenBlock = newBlock(), elseBlock = newBlock(), join = newBlock()
        lowerCondition(condition, whenTrue: thenBlock, whenFalse: parts.count > 2 ? elseBlock : join)
        current = thenBlock
        lowerStatement(parts[1])
        jump(to: join)
        if parts.count > 2 {
            current = elseBlock
            lowerStatement(parts[2])
            jump(to: join)
        }
        current = join
    }

    private func lowerWhile(_ c: Cursor) {
        let kids = c.children.filter { $0.isExpression || $0.isStatement || $0.kind == CXCursor_VarDecl }
        guard kids.count >= 2 else { return }
        let head = newBlock(), body = newBlock(), exit = newBlock()
        jump(to: head)
        lowerCondition(kids[kids.count - 2], whenTrue: body, whenFalse: exit)
        current = body
        breakTargets.append(exit); continueTargets.append(head)
        breakScopeDepths.append(scopes.count); continueScopeDepths.append(scopes.count)
        lowerStatement(kids[kids.count - 1])
        breakTargets.removeLast(); continueTargets.removeLast()
        breakScopeDepths.removeLast(); continueScopeDepths.removeLast()
        jump(to: head)
        current = exit
    }

    private func lowerDo(_ c: Cursor) {
        let kids = c.children
        guard kids.count >= 2 else { return }
        let body = newBlock(), check = newBlock(), exit = newBlock()
        jump(to: body)
        breakTargets.append(exit); continueTargets.append(check)
        breakScopeDepths.append(scopes.count); continueScopeDepths.append(scopes.count)
        lowerStatement(kids[0])
        breakTargets.removeLast(); continueTargets.removeLast()
        breakScopeDepths.removeLast(); continueScopeDepths.removeLast()
        jump(to: check)
        lowerCondition(kids[1], whenTrue: body, whenFalse: exit)
        current = exit
    }

    private func lowerFor(_ c: Cursor) {
        let kids = c.children
        guard let body = kids.last else { return }
        var initPart: Cursor?, condPart: Cursor?, incPart: Cursor?
        let heads = Array(kids.dropLast())
        if let (semi1, semi2) = forSemicolons(c) {
            for k in heads {
                let start = k.extentStart.offset
                if start < semi1 { initPart = k } else if start < semi2 { condPart = k } else { incPart = k }
            }
        } else {
            switch heads.count {
            case 3: initPart = heads[0]; condPart = heads[1]; incPart = heads[2]
            case 2: condPart = heads[0]; incPart = heads[1]
            case 1: condPart = heads[0]
            default: break
            }
        }
        if let initPart { lowerStatement(initPart) }
        let head = newBlock(), bodyBlock = newBlock(), step = newBlock(), exit = newBlock()
        jump(to: head)
        if let condPart {
            lowerCondition(condPart, whenTrue: bodyBlock, whenFalse: exit)
        } else {
            jump(to: bodyBlock)
        }
        current = bodyBlock
        breakTargets.append(exit); continueTargets.append(step)
        breakScopeDepths.append(scopes.count); continueScopeDepths.append(scopes.count)
        let up = incPart.flatMap(countsUp)
        if let up { countingUp.append(up); filledInLoop.append([]) }
        lowerStatement(body)
        if up != nil { countingUp.removeLast(); filledInLoop.removeLast() }
        breakTargets.removeLast(); continueTargets.removeLast()
        breakScopeDepths.removeLast(); continueScopeDepths.removeLast()
        jump(to: step)
        if let incPart { _ = lowerExpression(incPart, discarded: true) }
        jump(to: head)
        current = exit
    }

    /// `a[i]` with `i` the index of a loop around this point that counts up: the array as written, the index
    /// variable and the loop's level in `countingUp`.
    private func countingElement(_ c: Cursor) -> (array: String, index: StorageKey, level: Int)? {
        let s = stripped(c)
        let parts = s.children.filter(\.isExpression)
        guard s.kind == CXCursor_ArraySubscriptExpr, parts.count == 2, let index = storageKey(parts[1]),
              let level = countingUp.lastIndex(of: index) else { return nil }
        return (text(of: parts[0]), index, level)
    }

    /// `st[i] = PyGILState_Ensure()` inside a loop counting `i` up.
    private func noteFilledInLoop(_ place: Cursor, _ value: Cursor) {
        let v = stripped(value)
        guard v.kind == CXCursor_CallExpr, model.function(named: v.spelling)?.effect == .ensure,
              let element = countingElement(place) else { return }
        filledInLoop[element.level].insert(element.array)
    }

    /// The variable a loop's increment counts up: `i++`, `++i`, `i += 1`.
    private func countsUp(_ increment: Cursor) -> StorageKey? {
        let c = stripped(increment)
        let kids = c.children.filter(\.isExpression)
        if c.kind == CXCursor_UnaryOperator, let operand = kids.first, unaryOperator(c, operand).hasSuffix("++") {
            return storageKey(operand).flatMap { $0.path.isEmpty ? $0 : nil }
        }
        if c.kind == CXCursor_CompoundAssignOperator, kids.count == 2, binaryOperator(c, kids) == "+=", kids[1].integerValue == 1 {
            return storageKey(kids[0]).flatMap { $0.path.isEmpty ? $0 : nil }
        }
        return nil
    }

    /// File offsets of the two `;` inside `for ( … )`, when the statement is written out (not inside a macro).
    private func forSemicolons(_ c: Cursor) -> (Int, Int)? {
        // The head alone (up to where the body starts) is enough, and keeps nested loops linear; when that
        // range cannot be read (a body from a macro), the whole statement is.
        if let body = c.children.last,
           let head = semicolons(in: tokensWithOffsets(from: c.rawExtentStart, to: body.rawExtentStart, in: c)) {
            return head
        }
        return semicolons(in: c.extentTokens)
    }

    private func semicolons(in tokens: [(spelling: String, offset: Int)]) -> (Int, Int)? {
        guard tokens.count >= 4, tokens[0].spelling == "for" else { return nil }
        var depth = 0
        var semis: [Int] = []
        for token in tokens.dropFirst() {
            switch token.spelling {
            case "(", "[", "{": depth += 1
            case ")", "]", "}":
                depth -= 1
                if depth == 0 { return semis.count == 2 ? (semis[0], semis[1]) : nil }
            case ";" where depth == 1: semis.append(token.offset)
            default: break
            }
        }
        return nil
    }

    private func lowerSwitch(_ c: Cursor) {
        let kids = c.children.filter { $0.isExpression || $0.isStatement || $0.kind == CXCursor_VarDecl }
        guard kids.count >= 2 else { return }
        let condition = kids[kids.count - 2]
        let value = lowerExpression(condition)
        let dispatch = current
        let exit = newBlock()
        current = newBlock()  // code before the first case label is unreachable
        switchStack.append(([], nil))
        breakTargets.append(exit)
        breakScopeDepths.append(scopes.count)
        lowerStatement(kids[kids.count - 1])
        breakTargets.removeLast()
        breakScopeDepths.removeLast()
        let info = switchStack.removeLast()
        jump(to: exit)
        blocks[dispatch].terminator = .switchOn(value, cases: info.cases, defaultTarget: info.defaultTarget ?? exit,
                                                condition.location, text: text(of: condition))
        current = exit
    }

    private func lowerCase(_ c: Cursor) {
        let kids = c.children
        let target = newBlock()
        jump(to: target)
        let constants = kids.filter(\.isExpression)
        // `case 1:` has [value, body]; GNU `case 1 ... 3:` has [low, high, body].
        var body: Cursor? = kids.last
        var low: Int?, high: Int?
        if kids.count >= 3, constants.count >= 2, let a = kids[0].integerValue, let b = kids[1].integerValue {
            low = a; high = b; body = kids[2]
        } else if let first = kids.first, let v = first.integerValue {
            low = v; high = v
            body = kids.count > 1 ? kids[kids.count - 1] : nil
        }
        if let low, let high, !switchStack.isEmpty {
            switchStack[switchStack.count - 1].cases.append(SwitchCase(low: low, high: high, target: target))
        }
        if let body { lowerStatement(body) }
    }

    // MARK: - Conditions

    private func lowerCondition(_ raw: Cursor, whenTrue: Int, whenFalse: Int) {
        let c = stripped(raw)
        switch c.kind {
        case CXCursor_BinaryOperator:
            let kids = c.children
            if kids.count == 2 {
                switch binaryOperator(c, kids) {
                case "&&":
                    let mid = newBlock()
                    lowerCondition(kids[0], whenTrue: mid, whenFalse: whenFalse)
                    current = mid
                    lowerCondition(kids[1], whenTrue: whenTrue, whenFalse: whenFalse)
                    return
                case "||":
                    let mid = newBlock()
                    lowerCondition(kids[0], whenTrue: whenTrue, whenFalse: mid)
                    current = mid
                    lowerCondition(kids[1], whenTrue: whenTrue, whenFalse: whenFalse)
                    return
                case ",":
                    _ = lowerExpression(kids[0], discarded: true)
                    lowerCondition(kids[1], whenTrue: whenTrue, whenFalse: whenFalse)
                    return
                default: break
                }
            }
        case CXCursor_UnaryOperator:
            let kids = c.children
            if kids.count == 1, unaryOperator(c, kids[0]) == "!" {
                lowerCondition(kids[0], whenTrue: whenFalse, whenFalse: whenTrue)
                return
            }
        case CXCursor_ConditionalOperator:
            let kids = c.children
            if kids.count == 3 {
                let a = newBlock(), b = newBlock()
                lowerCondition(kids[0], whenTrue: a, whenFalse: b)
                current = a
                lowerCondition(kids[1], whenTrue: whenTrue, whenFalse: whenFalse)
                current = b
                lowerCondition(kids[2], whenTrue: whenTrue, whenFalse: whenFalse)
                return
            }
        default:
            break
        }
        let value = lowerExpression(c)
        blocks[current].terminator = .branch(value, whenTrue: whenTrue, whenFalse: whenFalse, c.location,
                                             text: macroName(at: c) != nil ? nil : text(of: c))
        current = newBlock()
    }

    // MARK: - Expressions

    /// Lowers `c`, emitting its side effects into the current block (and new blocks where it branches),
    /// and returns its value.
    private func lowerExpression(_ c: Cursor, discarded: Bool = false) -> Value {
        switch c.kind {
        case CXCursor_IntegerLiteral, CXCursor_CharacterLiteral, CXCursor_CXXBoolLiteralExpr:
            return c.integerValue.map(Value.constant) ?? .unknown
        case CXCursor_StringLiteral, CXCursor_ObjCStringLiteral:
            return .nonZero
        case CXCursor_CXXNullPtrLiteralExpr, CXCursor_GNUNullExpr:
            // `nullptr`, and `NULL` in C++ (GCC's `__null`).
            return .constant(0)
        case CXCursor_FloatingLiteral, CXCursor_ImaginaryLiteral:
            return .unknown
        case CXCursor_ParenExpr:
            guard let inner = c.children.first else { return .unknown }
            return lowerExpression(inner, discarded: discarded)
        case CXCursor_CStyleCastExpr, CXCursor_CXXStaticCastExpr, CXCursor_CXXFunctionalCastExpr,
             CXCursor_CXXConstCastExpr, CXCursor_CXXReinterpretCastExpr:
            guard let inner = c.children.last(where: \.isExpression) else { return .unknown }
            let toVoid = c.type.canonical.kind == CXType_Void
            return lowerExpression(inner, discarded: discarded || toVoid)
        case CXCursor_UnexposedExpr:
            let kids = c.children.filter(\.isExpression)
            if kids.count == 1 { return lowerExpression(kids[0], discarded: discarded) }
            for k in kids { _ = lowerExpression(k, discarded: true) }
            return c.integerValue.map(Value.constant) ?? .unknown
        case CXCursor_DeclRefExpr:
            guard let decl = c.referenced else { return .unknown }
            switch decl.kind {
            case CXCursor_EnumConstantDecl: return .constant(decl.enumConstantValue)
            case CXCursor_VarDecl, CXCursor_ParmDecl: return .read(key(forDeclaration: decl))
            case CXCursor_FunctionDecl, CXCursor_CXXMethod: return .nonZero
            default: return .unknown
            }
        case CXCursor_MemberRefExpr, CXCursor_ArraySubscriptExpr:
            checkPythonDereference(c)
            lowerSubexpressionsOfPlace(c)
            if let key = storageKey(c) { return .read(key) }
            return .unknown
        case CXCursor_CallExpr:
            return lowerCall(c, discarded: discarded)
        case CXCursor_BinaryOperator:
            return lowerBinary(c, discarded: discarded)
        case CXCursor_CompoundAssignOperator:
            let kids = c.children
            guard kids.count == 2 else { return .unknown }
            lowerSubexpressionsOfPlace(kids[0])
            let operand = lowerExpression(kids[1])
            let target = storageKey(kids[0])
            // `flags |= MSG_DONTWAIT`: the new value from the old one.
            var value = Value.unknown
            let spelled = binaryOperator(c, kids)
            if let target, spelled.hasSuffix("="), let arithmetic = ArithmeticOp(rawValue: String(spelled.dropLast())) {
                value = .arithmetic(arithmetic, .read(target), operand)
            }
            emit(.assign(target, value, c.location))
            return target.map(Value.read) ?? .unknown
        case CXCursor_UnaryOperator:
            return lowerUnary(c)
        case CXCursor_CXXThrowExpr:
            let operand = c.children.first(where: \.isExpression)
            if let operand { _ = lowerExpression(operand, discarded: true) }
            raise(at: c.location, thrown: operand.flatMap { typeCache.thrownType($0.type) })
            return .unknown
        case CXCursor_UnaryExpr:
            // sizeof / alignof: the operand is not evaluated.
            return c.integerValue.map(Value.constant) ?? .unknown
        case CXCursor_ConditionalOperator:
            return lowerConditionalValue(c)
        case CXCursor_LambdaExpr:
            // Creating the closure runs nothing of its body (init-captures aside, which are rare and ignored).
            _ = lambdaName(c)
            return .nonZero
        case CXCursor_StmtExpr:
            guard let body = c.children.first(where: { $0.kind == CXCursor_CompoundStmt }) else { return .unknown }
            let statements = body.children
            guard let last = statements.last else { return .unknown }
            for s in statements.dropLast() { lowerStatement(s) }
            if last.isExpression { return lowerExpression(last, discarded: discarded) }
            lowerStatement(last)
            return .unknown
        default:
            for child in c.children where child.isExpression || child.isStatement {
                if child.isExpression { _ = lowerExpression(child, discarded: true) } else { lowerStatement(child) }
            }
            return c.integerValue.map(Value.constant) ?? .unknown
        }
    }

    private func lowerBinary(_ c: Cursor, discarded: Bool) -> Value {
        let kids = c.children
        guard kids.count == 2 else { return .unknown }
        let op = binaryOperator(c, kids)
        switch op {
        case "=":
            lowerSubexpressionsOfPlace(kids[0])
            let target = storageKey(kids[0])
            let stored = functionReferences(kids[1])
            if let target, !target.path.isEmpty {
                let field = target.path.last.map { String($0.drop(while: { $0 == "-" || $0 == ">" || $0 == "." })) } ?? ""
                for f in stored { functionStores.append((target.rootOnly, field, f)) }
            }
            if !stored.isEmpty, let slot = stripped(kids[0]).referenced {
                if let key = FunctionPointers.key(ofCallee: slot) { pointerStores += stored.map { PointerStore(key: key, function: $0) } }
                typeCache.shapes.noteStored(stored, as: slot.type, at: c.location)
            }
            let value = lowerExpression(kids[1])
            emit(.assign(target, value, c.location))
            if let target { keepProbeResult(value, in: target) }
            if !countingUp.isEmpty { noteFilledInLoop(kids[0], kids[1]) }
            return target.map(Value.read) ?? value
        case "&&", "||":
            if !hasSideEffects(kids[1]) {
                let a = lowerExpression(kids[0]), b = lowerExpression(kids[1])
                return op == "&&" ? .and(a, b) : .or(a, b)
            }
            let result = newTemporary("(\(op))")
            let t = newBlock(), f = newBlock(), join = newBlock()
            lowerCondition(c, whenTrue: t, whenFalse: f)
            current = t
            emit(.assign(result, .constant(1), c.location))
            jump(to: join)
            current = f
            emit(.assign(result, .constant(0), c.location))
            jump(to: join)
            current = join
            return .read(result)
        case ",":
            // `a, b, c` nests to the left: walk the spine instead of recursing once per operand.
            var rights = [kids[1]]
            var left = kids[0]
            while true {
                let inner = stripped(left)
                guard inner.kind == CXCursor_BinaryOperator else { break }
                let k = inner.children
                guard k.count == 2, binaryOperator(inner, k) == "," else { break }
                rights.append(k[1])
                left = k[0]
            }
            _ = lowerExpression(left, discarded: true)
            for r in rights.dropFirst().reversed() { _ = lowerExpression(r, discarded: true) }
            return lowerExpression(kids[1], discarded: discarded)
        case "==", "!=", "<", "<=", ">", ">=":
            let a = lowerExpression(kids[0]), b = lowerExpression(kids[1])
            return .compare(CompareOp(rawValue: op)!, a, b)
        default:
            return lowerOtherBinary(c, kids, op)
        }
    }

    /// Arithmetic and the other operators (kept out of `lowerBinary`, whose frame deep expressions stack up).
    @inline(never)
    private func lowerOtherBinary(_ c: Cursor, _ kids: [Cursor], _ op: String) -> Value {
        let a = lowerExpression(kids[0]), b = lowerExpression(kids[1])
        if let v = c.integerValue { return .constant(v) }
        if let arithmetic = ArithmeticOp(rawValue: op) { return .arithmetic(arithmetic, a, b) }
        return .unknown
    }

    private func lowerUnary(_ c: Cursor) -> Value {
        guard let operand = c.children.first else { return .unknown }
        switch unaryOperator(c, operand) {
        case "!":
            return .not(lowerExpression(operand))
        case "&":
            lowerSubexpressionsOfPlace(operand)
            if let key = storageKey(operand) { return .addressOf(key) }
            return .nonZero
        case "*":
            checkPythonDereference(c)
            lowerSubexpressionsOfPlace(c)
            if let key = storageKey(c) { return .read(key) }
            return .unknown
        case "++", "--":
            lowerSubexpressionsOfPlace(operand)
            if stripped(operand).kind == CXCursor_MemberRefExpr { checkPythonDereference(stripped(operand)) }
            emit(.assign(storageKey(operand), .unknown, c.location))
            return .unknown
        case "-":
            let v = lowerExpression(operand)
            if case .constant(let n) = v { return .constant(-n) }
            return .unknown
        case "+":
            return lowerExpression(operand)
        default:
            _ = lowerExpression(operand)
            return .unknown
        }
    }

    private func lowerConditionalValue(_ c: Cursor) -> Value {
        let kids = c.children
        guard kids.count == 3 else {
            for k in kids { _ = lowerExpression(k, discarded: true) }
            return .unknown
        }
        if !hasSideEffects(kids[1]) && !hasSideEffects(kids[2]) {
            let cond = lowerExpression(kids[0])
            return .select(cond, lowerExpression(kids[1]), lowerExpression(kids[2]))
        }
        let result = newTemporary("(?:)")
        let a = newBlock(), b = newBlock(), join = newBlock()
        lowerCondition(kids[0], whenTrue: a, whenFalse: b)
        current = a
        emit(.assign(result, lowerExpression(kids[1]), kids[1].location))
        jump(to: join)
        current = b
        emit(.assign(result, lowerExpression(kids[2]), kids[2].location))
        jump(to: join)
        current = join
        return .read(result)
    }

    private func lowerCall(_ c: Cursor, discarded: Bool) -> Value {
        let kids = c.children
        let calleeDecl = c.referenced
        var callee = c.spelling
        var argumentCursors = Array(kids.dropFirst())
        var indirect = calleeDecl == nil || calleeDecl.map { $0.kind != CXCursor_FunctionDecl } ?? true
        var qualifiedCallee = calleeDecl.flatMap(qualifiedName)
        let isConstructor = calleeDecl?.kind == CXCursor_Constructor
        var object: CallArgument?
        var objectCursor: Cursor?
        if isConstructor {
            argumentCursors = kids
            indirect = false
            object = constructing
            constructing = nil
        } else if let first = kids.first {
            let target = stripped(first)
            if target.kind == CXCursor_MemberRefExpr {
                // A call through a struct member (`hooks.gil_get()`) or a C++ method: the member names it.
                callee = target.spelling
                indirect = calleeDecl?.kind != CXCursor_CXXMethod
                if let element = emplacedElement(target) { qualifiedCallee = element }
                let base = target.children.first(where: \.isExpression)
                objectCursor = base
                if calleeDecl?.kind == CXCursor_CXXMethod, !(calleeDecl?.isStaticMethod ?? false) {
                    object = methodObject(base)
                } else if let base {
                    _ = lowerExpression(base, discarded: true)
                }
            } else if target.kind != CXCursor_DeclRefExpr {
                _ = lowerExpression(first, discarded: true)
            }
            if let decl = calleeDecl, decl.kind == CXCursor_CXXMethod, callee.hasPrefix("operator"),
               target.kind != CXCursor_MemberRefExpr {
                // An overloaded operator used as one (`cb()`, `a + b`): a direct call of that method. libclang
                // lists the operator's own reference among the operands; it is not an argument.
                indirect = false
                argumentCursors.removeAll { k in
                    let s = stripped(k)
                    return s.kind == CXCursor_DeclRefExpr && s.referenced.map { $0.isEqual(decl) } == true
                }
            }
        }
        if let decl = calleeDecl, decl.kind == CXCursor_CXXMethod, callee.hasPrefix("operator"), decl.isInSystemHeader,
           let q = qualifiedCallee {
            // A library class's operator (`std::function::operator()`): not the project's functor of that name.
            callee = q
        }
        if kids.isEmpty { argumentCursors = [] }
        var arguments: [CallArgument] = []
        let known = model.function(named: callee)
        // A C library's function (not Python's, which needs the GIL): the calls that can hand callbacks over.
        let library = indirect ? nil : model.library(of: callee)
        let libraryCall = library != nil && !model.requiresGIL(callee)
        let effectful = known?.effect != nil
        if effectful { suppressDereferenceChecks += 1 }
        defer { if effectful { suppressDereferenceChecks -= 1 } }
        for a in argumentCursors where a.isExpression {
            let value = lowerExpression(a)
            let inner = stripped(a)
            var argument = CallArgument(value: value, storage: storageKey(inner), functionReferences: functionReferences(a),
                                        text: known != nil ? text(of: a) : "")
            if argument.functionReferences.isEmpty, !functionStores.isEmpty,
               let root = (argument.addressOf ?? argument.storage)?.rootOnly {
                argument.storedFunctions = functionStores.filter { $0.root == root }.map { ($0.field, $0.function) }
            }
            if libraryCall, argument.functionReferences.isEmpty, let key = functionPointerRead(inner) { argument.pointerKey = key }
            arguments.append(argument)
        }
        if isConstructor, let decl = calleeDecl, let name = qualifiedCallee, let overload = nonBlockingOverload(decl, argumentCursors) {
            // Names the overload, so that rules about the class's locking constructor do not apply to it.
            qualifiedCallee = name + "(" + overload + ")"
        }
        let noReturn = calleeDecl.map { typeCache.isNoReturn($0) } ?? false
        let result: StorageKey? = discarded || c.type.canonical.kind == CXType_Void ? nil : newTemporary(callee + "()")
        var shown = callee + "()"
        if let macro = macroName(at: c), macro != callee {
            shown = macro.first.map { $0.isLetter || $0 == "_" } == true ? "\(macro) (calls \(callee)())" : shown
            if model.function(named: callee)?.effect != nil, macro.hasPrefix("Py_"), !macro.dropFirst(3).contains(where: \.isLowercase) {
                shown = macro  // Py_BEGIN_ALLOW_THREADS, Py_BLOCK_THREADS, ...
            }
        }
        var site = CallSite(callee: callee, qualifiedCallee: qualifiedCallee, guardEffect: nil,
                            shown: shown, location: c.location, arguments: arguments, result: result,
                            declaredNoReturn: noReturn, isIndirect: indirect,
                            isScoped: qualifiedCallee != nil && calleeDecl.map { $0.kind != CXCursor_FieldDecl } ?? false)
        if indirect, let key = FunctionPointers.key(ofCallee: calleeDecl) {
            site.pointerKey = key
            site.throughPointer = kids.first.map { text(of: $0) } ?? callee
        }
        if libraryCall, known?.effect == nil, !arguments.isEmpty, let decl = calleeDecl,
           let first = decl.type.parameter(0), first.isPointer {
            let spelling = first.spelling
            let generic = ["void *", "const void *", "char *", "const char *", "unsigned char *", "const unsigned char *"]
            if !generic.contains(spelling) { site.handleType = spelling }
        }
        if libraryCall, known?.effect == nil, let decl = calleeDecl {
            for i in arguments.indices {
                guard let parameter = decl.type.parameter(i), let usr = typeCache.shapes.callbackTable(parameter) else { continue }
                site.vtableArguments[i] = usr
            }
        }
        site.object = object
        if let rule = model.rule(for: site), let slot = rule.locks ?? rule.unlocks {
            let expressions = argumentCursors.filter(\.isExpression)
            let cursor: Cursor?
            switch slot {
            case .argument(let n): cursor = n < expressions.count ? expressions[n] : nil
            case .object: cursor = objectCursor
            }
            if let cursor, let key = lockIdentity(cursor) { site.lock = MutexRef(key: key, text: String(text(of: cursor).drop(while: { $0 == "&" })), locks: rule.locks != nil) }
            if rule.locks != nil, isConstructor, let o = object?.addressOf { lockingConstructorOf = o }
        }
        if let o = object?.addressOf, let owns = nullableOwners[o], callee == "reset" || callee == "release",
           // No argument but the default one (at line 0), or nullptr.
           argumentCursors.allSatisfy({ $0.location.line == 0 || stripped($0).kind == CXCursor_CXXNullPtrLiteralExpr || !$0.isExpression }) {
            // `job.reset()`, `job.release()`: it no longer owns anything; the owned object is destroyed (or handed
            // on) here.
            if callee == "reset", let d = scopes.joined().last(where: { $0.key == o && $0.effect == nil })?.name {
                emitDestructorCall(d, of: o, shown: "\(d)() (by '\(o.text).reset()')", at: c.location)
            }
            emit(.assign(owns, .constant(0), c.location))
        }
        if callee == "emplace", let o = object?.addressOf, let owns = nullableOwners[o], let element = emplacedClass[o] {
            // `gil.emplace()` on a `std::optional<GilGuard>`: the guard's constructor runs on the optional's object,
            // which the optional owns from here on.
            var ctor = CallSite(callee: element, qualifiedCallee: nil, guardEffect: nil, shown: "\(element)() (by '\(o.text).emplace()')",
                                location: c.location, arguments: [], result: nil, declaredNoReturn: false, isIndirect: false)
            ctor.object = objectArgument(addressOf: o)
            emit(.call(ctor))
            emit(.assign(owns, .constant(1), c.location))
            return .unknown
        }
        if !countingUp.isEmpty, known?.effect == .release, let first = argumentCursors.first(where: \.isExpression) {
            // `PyGILState_Release(held[i])` in a loop where `i` counts up: the states go first-in, first-out.
            if let element = countingElement(first), !filledInLoop[element.level].contains(element.array) {
                site.releasesCountingUp = element.index.text
            }
        }
        if let decl = calleeDecl, typeCache.mayThrow(decl) {
            site.mayThrow = true
            site.unwind = unwindBlock(at: c.location)
            (site.unwindRoutes, site.unwindEscape) = unwindRoutes(at: c.location)
            if tryHandlers.isEmpty { site.unwindEscape = site.unwind }   // its pad leaves the function
        }
        if !indirect, !model.probes.isEmpty, !probeResults.isEmpty || model.probes.contains(callee) {
            func named(_ a: CallArgument) -> StorageKey? { a.storage ?? a.value.keysRead.first }
            if let probe = known?.blockCondition?.probe, let n = known?.blockCondition?.argument, n < arguments.count,
               let key = named(arguments[n]) {
                site.probeResult = probeResults[probe]?[key]
                // The answer covers one call: a second PQgetResult() may wait for the next result.
                probeResults[probe]?[key] = nil
            }
            if model.probes.contains(callee), let first = arguments.first, let key = named(first) {
                probeResults[callee, default: [:]][key] = result
            }
        }
        emit(.call(site))
        return result.map(Value.read) ?? .unknown
    }

    /// Which mutex a lock expression names, the same in every function and file: a field's USR for a mutex in
    /// a struct (`&q->mu` and `&g_q.mu` are one lock when `q` may point to `g_q`: every object's field of that
    /// type counts as one lock), a variable's for a global or static. Nil for locals and parameters.
    private func lockIdentity(_ raw: Cursor) -> String? {
        var c = stripped(raw)
        while [CXCursor_UnaryOperator, CXCursor_ParenExpr, CXCursor_UnexposedExpr, CXCursor_CStyleCastExpr].contains(c.kind),
              let inner = c.children.last(where: \.isExpression) {
            if c.kind == CXCursor_UnaryOperator, c.unaryOperatorSpelling != "&" { return nil }
            c = stripped(inner)
        }
        guard let decl = c.referenced else { return nil }
        switch (c.kind, decl.kind) {
        case (CXCursor_MemberRefExpr, CXCursor_FieldDecl):
            return decl.usr.isEmpty ? nil : decl.usr
        case (CXCursor_DeclRefExpr, CXCursor_VarDecl):
            let global = decl.storageClass == CX_SC_Static || decl.storageClass == CX_SC_Extern
                || decl.semanticParent.map { [CXCursor_TranslationUnit, CXCursor_Namespace].contains($0.kind) } == true
            return global && !decl.usr.isEmpty ? decl.usr : nil
        default:
            return nil
        }
    }

    /// Constructors that take no lock and start nothing, whatever the rules say about the class's constructor:
    /// the default one, copy and move (`std::unique_lock<std::mutex> b(std::move(a))`), and the overloads
    /// selected by a `std::defer_lock` / `std::try_to_lock` / `std::adopt_lock` tag.
    private func nonBlockingOverload(_ constructor: Cursor, _ arguments: [Cursor]) -> String? {
        let expressions = arguments.filter(\.isExpression)
        if expressions.isEmpty { return "default" }
        let ownClass = constructor.semanticParent
        for a in expressions {
            let declaration = stripped(a).type.canonical.declaration
            guard !declaration.isNull else { continue }
            if ["defer_lock_t", "try_to_lock_t", "adopt_lock_t"].contains(declaration.spelling) { return declaration.spelling }
            if let ownClass, declaration.isEqual(ownClass) { return "copy" }
        }
        return nil
    }

    /// `std::thread::thread` for `pool.emplace_back(fn, arg)` on a container of `std::thread`: emplacing
    /// constructs the element in place from the arguments, so the call is read as that constructor's.
    private func emplacedElement(_ member: Cursor) -> String? {
        guard ["emplace_back", "emplace_front"].contains(member.spelling),
              let base = member.children.first(where: \.isExpression) else { return nil }
        var container = stripped(base).type.canonical
        if container.kind == CXType_Pointer { container = container.pointee.canonical }
        guard let element = container.firstTemplateArgument?.canonical.declaration else { return nil }
        guard !element.isNull, element.kind == CXCursor_ClassDecl || element.kind == CXCursor_StructDecl,
              let name = qualifiedName(element) else { return nil }
        return name + "::" + element.spelling
    }

    /// The name of a lambda's own CFG, registering the lambda when it is met for the first time.
    private func lambdaName(_ c: Cursor) -> String {
        if let known = lambdas.first(where: { $0.cursor.isEqual(c) }) { return known.name }
        let name = "\(functionName)::lambda#\(lambdas.count + 1)"
        lambdas.append((c, name))
        return name
    }

    /// The functions an argument names: `worker`, `&worker`, `(void *(*)(void *))worker`, a lambda written in
    /// place, a local variable initialized with one (`auto fn = [] { ... }; std::thread t(fn);`, `void *(*fn)(void *)
    /// = worker;`), or each branch of a conditional (`ring ? ring_cb : plain_cb`), which the builder does not
    /// know to be exclusive.
    private func functionReferences(_ a: Cursor, depth: Int = 0) -> [String] {
        let c = stripped(a)
        var inner = c
        while inner.kind == CXCursor_ParenExpr || inner.kind == CXCursor_CStyleCastExpr || inner.kind == CXCursor_UnexposedExpr,
              let k = inner.children.last(where: \.isExpression) {
            inner = stripped(k)
        }
        if inner.kind == CXCursor_ConditionalOperator, depth < 8 {
            let branches = inner.children.filter(\.isExpression)
            guard branches.count == 3 else { return [] }
            var out: [String] = []
            for b in branches.dropFirst() {
                for f in functionReferences(b, depth: depth + 1) where !out.contains(f) { out.append(f) }
            }
            return out
        }
        if let f = functionReference(a) { return [f] }
        // A function-pointer variable of this function given functions before this point (`case 3: entry =
        // worker_c; break; … pthread_create(&t, NULL, entry, arg)`): any of them.
        if inner.kind == CXCursor_DeclRefExpr, let decl = inner.referenced, decl.kind == CXCursor_VarDecl,
           decl.type.canonical.kind == CXType_Pointer, !pointerStores.isEmpty {
            let usr = decl.usr
            var out: [String] = []
            for s in pointerStores where s.key == usr && !out.contains(s.function) { out.append(s.function) }
            return out
        }
        return []
    }

    private func functionReference(_ a: Cursor) -> String? {
        func unwrapped(_ a: Cursor) -> Cursor? {
            var c = stripped(a)
            while c.kind == CXCursor_CStyleCastExpr || c.kind == CXCursor_UnaryOperator || c.kind == CXCursor_ParenExpr
                    || c.kind == CXCursor_UnexposedExpr || c.kind == CXCursor_CXXFunctionalCastExpr
                    || c.kind == CXCursor_CXXStaticCastExpr {
                guard let inner = c.children.last(where: \.isExpression) else { return nil }
                c = stripped(inner)
            }
            return c
        }
        guard let c = unwrapped(a) else { return nil }
        if c.kind == CXCursor_LambdaExpr { return lambdaName(c) }
        guard c.kind == CXCursor_DeclRefExpr, let decl = c.referenced else { return nil }
        if decl.kind == CXCursor_VarDecl, let initializer = decl.children.last(where: \.isExpression),
           let value = unwrapped(initializer) {
            if value.kind == CXCursor_LambdaExpr { return lambdaName(value) }
            // A function-pointer local initialized with a function (`void *(*fn)(void *) = worker;`).
            if value.kind == CXCursor_DeclRefExpr, let f = value.referenced, f.kind == CXCursor_FunctionDecl {
                return f.spelling
            }
        }
        guard decl.kind == CXCursor_FunctionDecl || decl.kind == CXCursor_CXXMethod else { return nil }
        return decl.spelling
    }

    /// The functions named anywhere inside an initializer list (`{ .rate = 44100, .callback = fill }`).
    private func functionsInInitializer(_ c: Cursor, depth: Int = 0) -> [String] {
        guard depth < 8 else { return [] }
        var out: [String] = []
        for k in c.children where k.isExpression {
            if stripped(k).kind == CXCursor_InitListExpr {
                out += functionsInInitializer(stripped(k), depth: depth + 1)
            } else {
                out += functionReferences(k)
            }
        }
        return out
    }

    /// `ns::Class::method` for declarations inside namespaces or classes; nil for plain C functions. Inline
    /// namespaces are left out: `std::condition_variable_any` (libstdc++'s `std::_V2::`, libc++'s `std::__1::`).
    private func qualifiedName(_ decl: Cursor) -> String? {
        var parts = [decl.spelling]
        var parent = decl.semanticParent
        while let p = parent, [CXCursor_Namespace, CXCursor_ClassDecl, CXCursor_StructDecl, CXCursor_ClassTemplate]
            .contains(p.kind) {
            if !p.spelling.isEmpty, !p.isInlineNamespace { parts.insert(p.spelling, at: 0) }
            parent = p.semanticParent
        }
        return parts.count > 1 ? parts.joined(separator: "::") : nil
    }

    // MARK: - Places

    /// Lowers calls hidden inside an lvalue (`a[f()]`, `get()->x`) without reading the place itself.
    private func lowerSubexpressionsOfPlace(_ raw: Cursor) {
        let c = stripped(raw)
        switch c.kind {
        case CXCursor_DeclRefExpr: return
        case CXCursor_MemberRefExpr, CXCursor_ArraySubscriptExpr, CXCursor_UnaryOperator:
            for k in c.children where k.isExpression {
                let s = stripped(k)
                if s.kind == CXCursor_DeclRefExpr || s.kind == CXCursor_IntegerLiteral { continue }
                if s.kind == CXCursor_MemberRefExpr || s.kind == CXCursor_ArraySubscriptExpr
                    || s.kind == CXCursor_UnaryOperator {
                    lowerSubexpressionsOfPlace(s)
                } else {
                    _ = lowerExpression(s, discarded: true)
                }
            }
        default:
            _ = lowerExpression(c, discarded: true)
        }
    }

    /// The storage an lvalue expression names, when it is a variable with a fixed path of fields and derefs.
    func storageKey(_ raw: Cursor) -> StorageKey? {
        let c = stripped(raw)
        switch c.kind {
        case CXCursor_DeclRefExpr:
            guard let decl = c.referenced, decl.kind == CXCursor_VarDecl || decl.kind == CXCursor_ParmDecl else { return nil }
            return key(forDeclaration: decl)
        case CXCursor_CXXThisExpr:
            return Self.thisKey
        case CXCursor_MemberRefExpr:
            guard let base = c.children.first(where: \.isExpression) else {
                // A member named alone in a method: `this->` is implied.
                guard c.referenced?.kind == CXCursor_FieldDecl else { return nil }
                var key = Self.thisKey
                key.path.append("->" + c.spelling); key.text += "->" + c.spelling
                return key
            }
            guard var key = storageKey(base) else { return nil }
            let arrow = stripped(base).type.canonical.kind == CXType_Pointer
            if arrow {
                key.path.append("->" + c.spelling); key.isLocal = false; key.text += "->" + c.spelling
            } else if key.path.last == "*" {
                key.path[key.path.count - 1] = "->" + c.spelling
                key.text = String(key.text.dropFirst()) + "->" + c.spelling
            } else {
                key.path.append("." + c.spelling); key.text += "." + c.spelling
            }
            return key
        case CXCursor_UnaryOperator:
            guard let operand = c.children.first, unaryOperator(c, operand) == "*", var key = storageKey(operand) else { return nil }
            key.path.append("*"); key.isLocal = false; key.text = "*" + key.text
            return key
        case CXCursor_ArraySubscriptExpr:
            let kids = c.children
            guard kids.count == 2, var key = storageKey(kids[0]), let index = kids[1].integerValue else { return nil }
            if stripped(kids[0]).type.canonical.kind == CXType_Pointer { key.isLocal = false }
            key.path.append("[\(index)]"); key.text += "[\(index)]"
            return key
        default:
            return nil
        }
    }

    private func key(forDeclaration decl: Cursor) -> StorageKey {
        if decl.kind == CXCursor_VarDecl, decl.storageClass == CX_SC_Static || decl.storageClass == CX_SC_Extern
            || !isFunctionKind(decl.semanticParent?.kind) {
            let usr = decl.usr
            if !usr.isEmpty { return StorageKey(root: .global(usr), path: [], isLocal: false, text: decl.spelling) }
        }
        let h = decl.hash
        var id: Int?
        if let list = variables[h] {
            id = list.first(where: { $0.0.isEqual(decl) })?.1
        }
        if id == nil {
            id = nextVariable
            nextVariable += 1
            variables[h, default: []].append((decl, id!))
        }
        let parentKind = decl.semanticParent?.kind
        let local = decl.kind == CXCursor_ParmDecl
            || (decl.storageClass != CX_SC_Static && decl.storageClass != CX_SC_Extern
                && (parentKind == CXCursor_FunctionDecl || parentKind == CXCursor_CXXMethod
                    || parentKind == CXCursor_Constructor || parentKind == CXCursor_Destructor
                    || parentKind == CXCursor_FunctionTemplate || parentKind == CXCursor_LambdaExpr))
        return StorageKey(root: .variable(id!), path: [], isLocal: local, text: decl.spelling)
    }

    private func isFunctionKind(_ kind: CXCursorKind?) -> Bool {
        guard let kind else { return false }
        return [CXCursor_FunctionDecl, CXCursor_CXXMethod, CXCursor_Constructor, CXCursor_Destructor,
                CXCursor_FunctionTemplate, CXCursor_LambdaExpr].contains(kind)
    }

    private func newTemporary(_ text: String) -> StorageKey {
        nextTemporary += 1
        return StorageKey(root: .temporary(nextTemporary), path: [], isLocal: true, text: text)
    }

    // MARK: - Helpers

    /// Emits a check for touching a Python object's shared state: any field of a plain `PyObject *` /
    /// `PyVarObject *`, or the reference count, type, size or item array of any object struct. The C fields of
    /// an extension's own object struct (`self->db`) and the immutable payload of a bytes object
    /// (`PyBytes_AS_STRING`) are commonly and safely read without the GIL.
    private func checkPythonDereference(_ c: Cursor) {
        guard suppressDereferenceChecks == 0, let base = c.children.first(where: \.isExpression) else { return }
        let baseType = stripped(base).type.canonical
        guard baseType.kind == CXType_Pointer else { return }
        let pointee = baseType.pointee
        guard typeCache.isPythonObject(pointee) else { return }
        let plainObject = ["struct _object", "PyObject", "PyVarObject"].contains(pointee.canonical.spelling)
        if c.kind == CXCursor_MemberRefExpr {
            let field = c.spelling
            guard plainObject || ["ob_refcnt", "ob_type", "ob_size", "ob_item"].contains(field) else { return }
        } else if !plainObject {
            return
        }
        emit(.pythonDereference(c.location, text(of: c)))
    }

    /// Skips parentheses and implicit conversions.
    /// The USR of the function-pointer field or variable an expression reads (`ops->read`, `self->ops->write`,
    /// `(cb_t)table.close`, `default_hook`), whose stores in the run say which functions it may hold.
    private func functionPointerRead(_ c: Cursor) -> String? {
        var e = c
        while e.kind == CXCursor_CStyleCastExpr || e.kind == CXCursor_ParenExpr || e.kind == CXCursor_UnexposedExpr,
              let inner = e.children.last(where: \.isExpression) {
            e = inner
        }
        guard e.kind == CXCursor_MemberRefExpr || e.kind == CXCursor_DeclRefExpr, let decl = e.referenced,
              decl.kind == CXCursor_FieldDecl || decl.kind == CXCursor_VarDecl, decl.type.isFunctionPointer else { return nil }
        return FunctionPointers.key(ofCallee: decl)
    }

    func stripped(_ c: Cursor) -> Cursor {
        var c = c
        while c.kind == CXCursor_ParenExpr || c.kind == CXCursor_UnexposedExpr {
            guard let only = c.onlyExpressionChild else { break }
            c = only
        }
        return c
    }

    private func hasSideEffects(_ c: Cursor) -> Bool {
        switch c.kind {
        case CXCursor_CallExpr, CXCursor_StmtExpr, CXCursor_CompoundAssignOperator: return true
        case CXCursor_UnaryExpr: return false
        case CXCursor_BinaryOperator:
            let kids = c.children
            if binaryOperator(c, kids) == "=" { return true }
            return kids.contains(where: hasSideEffects)
        case CXCursor_UnaryOperator:
            if let operand = c.children.first, ["++", "--"].contains(unaryOperator(c, operand)) { return true }
            return c.children.contains(where: hasSideEffects)
        default:
            return c.children.contains(where: hasSideEffects)
        }
    }

    /// The operator of a binary or compound-assignment expression, from the AST (exact inside macros too).
    func binaryOperator(_ c: Cursor, _ kids: [Cursor]) -> String { c.binaryOperatorSpelling }

    /// The operator of a unary expression: "!", "&", "*", "-", "+", "~", "++" or "--" (pre or post).
    func unaryOperator(_ c: Cursor, _ operand: Cursor) -> String { c.unaryOperatorSpelling }

    /// Where an expression's first token is (libclang's cursor location of a member access is the member name).
    private func beginLocation(_ c: Cursor) -> CXSourceLocation {
        // Outside macros the extent starts at the first token; asking for it directly keeps long operator chains
        // (generated sums thousands of terms deep) linear instead of walking down the left spine at every level.
        if !c.isInMacroExpansion { return clang_getRangeStart(clang_getCursorExtent(c.raw)) }
        switch c.kind {
        case CXCursor_MemberRefExpr, CXCursor_ArraySubscriptExpr, CXCursor_CallExpr, CXCursor_BinaryOperator,
             CXCursor_CompoundAssignOperator, CXCursor_ConditionalOperator, CXCursor_UnexposedExpr:
            if let first = c.children.first(where: { $0.isExpression }) { return beginLocation(first) }
        case CXCursor_UnaryOperator:
            // Postfix operators start with their operand.
            if let operand = c.children.first,
               clang_equalLocations(clang_getCursorLocation(c.raw), clang_getCursorLocation(operand.raw)) != 0 {
                return beginLocation(operand)
            }
        default:
            break
        }
        return clang_getCursorLocation(c.raw)
    }

    private func text(of c: Cursor) -> String {
        if let macro = macroName(at: c) { return macro + "(...)" }
        let start = c.rawExtentStart, end = c.rawExtentEnd
        // Only the first 60 characters are shown: stop joining once past them. A long condition (a generated
        // `if` over a statement expression) is first tokenized over its first 256 bytes only; when those give
        // more than 61 characters, joining the whole extent would have stopped at the same token.
        if let head = firstBytes(256, from: start, to: end, of: c) {
            let lexed = c.sourceTokens(from: start, to: head, throughEnd: true)
            let flat = joinTokens(Array(lexed.dropLast()), upTo: 61)
            if flat.count > 61 { return String(flat.prefix(57)) + "..." }
        }
        let flat = joinTokens(c.sourceTokens(from: start, to: end), upTo: 61)
        return flat.count > 60 ? String(flat.prefix(57)) + "..." : flat
    }

    /// The location `count` bytes after `start`, when `[start, end)` is written out in one file (not produced
    /// by a macro) and is more than twice that long.
    private func firstBytes(_ count: Int, from start: CXSourceLocation, to end: CXSourceLocation, of c: Cursor)
        -> CXSourceLocation? {
        guard let tu = clang_Cursor_getTranslationUnit(c.raw) else { return nil }
        var f1: CXFile?, f2: CXFile?, f3: CXFile?
        var o1: UInt32 = 0, o2: UInt32 = 0, o3: UInt32 = 0
        clang_getExpansionLocation(start, &f1, nil, nil, &o1)
        clang_getSpellingLocation(start, &f2, nil, nil, &o2)
        clang_getExpansionLocation(end, &f3, nil, nil, &o3)
        guard let f1, let f2, let f3, clang_File_isEqual(f1, f2) != 0, o1 == o2, clang_File_isEqual(f1, f3) != 0,
              o3 > o1, Int(o3 - o1) > 2 * count else { return nil }
        return clang_getLocationForOffset(tu, f1, o1 + UInt32(count))
    }
}

/// Tokens of `[from, to)` with their file offsets (expansion locations): spellings and offsets only, without
/// the file name of each token.
func tokensWithOffsets(from: CXSourceLocation, to: CXSourceLocation, in c: Cursor) -> [(spelling: String, offset: Int)] {
    guard let tu = clang_Cursor_getTranslationUnit(c.raw) else { return [] }
    var tokens: UnsafeMutablePointer<CXToken>?
    var count: UInt32 = 0
    clang_tokenize(tu, clang_getRange(from, to), &tokens, &count)
    guard let tokens else { return [] }
    defer { clang_disposeTokens(tu, tokens, count) }
    return (0..<Int(count)).map { i in
        var offset: UInt32 = 0
        clang_getExpansionLocation(clang_getTokenLocation(tu, tokens[i]), nil, nil, nil, &offset)
        let s = clang_getTokenSpelling(tu, tokens[i])
        defer { clang_disposeString(s) }
        return (clang_getCString(s).map { String(cString: $0) } ?? "", Int(offset))
    }
}

/// Facts about types and declarations, cached across the functions of one translation unit.
final class TypeFacts {
    /// Which types can hold a function's address (for the stores that initializers make).
    let shapes = FunctionPointers.TypeShapes()
    private var destructors: [String: String?] = [:]
    private var thrownTypes: [String: ThrownType] = [:]

    /// The name a handler catches by: a class's USR (through references and cv-qualifiers), else the type's
    /// canonical spelling without `const`.
    func catchName(_ type: ClangType) -> String {
        var t = type
        if t.kind == CXType_LValueReference || t.kind == CXType_RValueReference { t = t.pointee }
        let c = t.canonical
        if c.kind == CXType_Record {
            let usr = c.declaration.usr
            if !usr.isEmpty { return usr }
        }
        return c.spelling.replacingOccurrences(of: "const ", with: "").replacingOccurrences(of: " const", with: "")
    }

    /// What `throw expr` throws, by the names its handlers may catch it by: the class and its public and
    /// private bases, transitively (an inaccessible base catches nothing in C++, a fine point ignored). Nil
    /// for a dependent type.
    func thrownType(_ type: ClangType) -> ThrownType? {
        let c = type.canonical
        guard c.kind != CXType_Unexposed, c.kind != CXType_Invalid else { return nil }
        let name = catchName(c)
        if let known = thrownTypes[name] { return known }
        var names = [name]
        if c.kind == CXType_Record {
            for base in c.declaration.definition?.children ?? [] where base.kind == CXCursor_CXXBaseSpecifier {
                for n in thrownType(base.type) ?? [] where !names.contains(n) { names.append(n) }
            }
        }
        thrownTypes[name] = names
        return names
    }

    /// The standard library's owners of one object (`std::unique_ptr<T>`, `std::optional<T>`), which destroy it
    /// with themselves unless they were emptied.
    static func ownsOneObject(_ declaration: Cursor) -> Bool {
        declaration.isInSystemHeader && ["unique_ptr", "optional"].contains(declaration.spelling)
    }

    /// The name of the destructor a C++ class declares, when the project defines it (outside system headers,
    /// where the run can lower it): `~PyRef`. Nil for C types, implicit destructors and the standard library's.
    func projectDestructor(of type: ClangType) -> String? {
        let canonical = type.canonical
        guard canonical.kind == CXType_Record else { return nil }
        let key = canonical.spelling
        if let known = destructors[key] { return known }
        destructors[key] = .some(nil)   // a type that contains itself through a member ends here
        var found: String?
        let declaration = canonical.declaration
        let own = declaration.children.first(where: { $0.kind == CXCursor_Destructor })
        if let d = own, !d.isInSystemHeader {
            if let definition = d.definition, !definition.isInSystemHeader { found = d.spelling }
        } else if declaration.isInSystemHeader {
            // A smart pointer that owns one object destroys it with itself.
            if TypeFacts.ownsOneObject(declaration), let element = canonical.firstTemplateArgument {
                found = projectDestructor(of: element)
            }
        } else if own == nil {
            // The implicit destructor of a class of the project destroys its members: the first whose class has a
            // destructor of the project's stands for them (`struct Job { std::string name; PyRef callback; }`).
            let definition = declaration.definition ?? declaration
            for field in definition.children where field.kind == CXCursor_FieldDecl {
                if let d = projectDestructor(of: field.type) { found = d; break }
            }
        }
        destructors[key] = .some(found)
        return found
    }
    private var pythonObject: [String: Bool] = [:]
    private var noReturnByName: [String: Bool] = [:]

    /// True for `PyObject` and every struct that starts with `ob_base` (PyObject_HEAD).
    func isPythonObject(_ type: ClangType) -> Bool {
        let canonical = type.canonical
        let name = canonical.spelling
        if let known = pythonObject[name] { return known }
        var result = name == "struct _object" || name == "PyObject" || name == "struct _longobject"
        if !result, canonical.kind == CXType_Record {
            let decl = canonical.declaration
            if let first = decl.children.first(where: { $0.kind == CXCursor_FieldDecl }) {
                result = first.spelling == "ob_base"
            }
        }
        pythonObject[name] = result
        return result
    }

    /// A function of the project's own code that is not declared `noexcept` / `throw()`: an exception may come
    /// out of a call of it (followed only where its summary says it throws, which only C++ code can).
    func mayThrow(_ decl: Cursor) -> Bool {
        guard decl.kind == CXCursor_FunctionDecl || decl.kind == CXCursor_CXXMethod || decl.kind == CXCursor_Constructor
                || decl.kind == CXCursor_FunctionTemplate,
              !decl.isInSystemHeader else { return false }
        let spec = CXCursor_ExceptionSpecificationKind(rawValue: UInt32(bitPattern: clang_getCursorExceptionSpecificationType(decl.raw)))
        return ![CXCursor_ExceptionSpecificationKind_BasicNoexcept, CXCursor_ExceptionSpecificationKind_ComputedNoexcept,
                 CXCursor_ExceptionSpecificationKind_DynamicNone, CXCursor_ExceptionSpecificationKind_NoThrow].contains(spec)
    }

    func isNoReturn(_ decl: Cursor) -> Bool {
        // Keyed by name: every declaration of a C function agrees on whether it returns.
        let name = decl.spelling
        if let known = noReturnByName[name] { return known }
        var result = decl.type.isFunctionNoReturn
        // System headers spell noreturn as an attribute of the type; `_Noreturn` in the project's own code
        // is a declaration attribute that libclang 14 leaves unexposed, so read its tokens.
        if !result && !decl.isInSystemHeader {
            for child in decl.children where child.kind == CXCursor_UnexposedAttr {
                let start = child.extentStart, end = child.extentEnd
                guard start.file == end.file, end.offset >= start.offset, end.offset - start.offset < 48 else { continue }
                // Spellings only, from a bounded range: an attribute that comes from a macro has an extent whose
                // tokenization can reach far into the header that defines it.
                let tokens = child.spelledTokens(from: child.rawExtentStart, to: child.rawExtentEnd)
                if tokens.contains("_Noreturn") || tokens.contains("noreturn") || tokens.contains("__noreturn__") {
                    result = true
                }
            }
        }
        noReturnByName[name] = result
        return result
    }
}

private let noSpaceBefore: Set<String> = [")", "]", ",", ";", "->", ".", "++", "--"]
private let noSpaceAfter: Set<String> = ["(", "[", "!", "~", "->", ".", "&", "*"]

/// Source text from tokens, spaced the way people write C (`o->ob_refcnt`, `f(a, b)`, `x == 1`).
func joinTokens(_ tokens: [String], upTo limit: Int = .max) -> String {
    var out = ""
    var characters = 0
    var previous = ""
    for t in tokens {
        if characters > limit { break }
        let glue = out.isEmpty || noSpaceBefore.contains(t) || noSpaceAfter.contains(previous)
            || ((t == "(" || t == "[") && (previous.first.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ")" } ?? false))
        out += (glue ? "" : " ") + t
        characters += t.count + (glue ? 0 : 1)
        previous = t
    }
    return out
}

/// Where macros are used in a translation unit: libclang reports code from a macro at the macro's use.
final class MacroUses {
    private var uses: [String: [Int: String]] = [:]

    /// `topLevel`: the unit's top-level cursors outside system headers (only the project's code is lowered:
    /// uses in system headers are never asked for).
    init(_ topLevel: [Cursor]) {
        for c in topLevel where c.kind == CXCursor_MacroExpansion {
            let loc = c.location
            uses[loc.file, default: [:]][loc.offset] = c.spelling
        }
    }

    func name(file: String, offset: Int) -> String? { uses[file]?[offset] }
}
