import APIModel
import ClangSupport

/// A place a value or a GIL state can be stored in: a variable, a temporary, or a field/pointee path below one.
public struct StorageKey: Hashable, Sendable, CustomStringConvertible {
    public enum Root: Hashable, Sendable {
        case variable(Int)
        case temporary(Int)
        /// A variable that outlives every call (file scope, `static`, `extern`), by its USR: the same place in
        /// every function of the run.
        case global(String)
    }
    public var root: Root
    /// `->f`, `.f`, `*`, `[3]` steps below the root, in order.
    public var path: [String]
    /// True when the storage dies with the function: a local variable or temporary and no pointer step.
    public var isLocal: Bool
    /// The source text, for messages.
    public var text: String

    public var description: String { text }

    public static func == (a: StorageKey, b: StorageKey) -> Bool { a.root == b.root && a.path == b.path }
    public func hash(into h: inout Hasher) {
        h.combine(root)
        h.combine(path)
    }

    public var rootOnly: StorageKey {
        StorageKey(root: root, path: [], isLocal: isLocal, text: text)
    }

    public func isPrefix(of other: StorageKey) -> Bool {
        root == other.root && other.path.count >= path.count && Array(other.path.prefix(path.count)) == path
    }

    public var isGlobal: Bool {
        if case .global = root { return true }
        return false
    }

    public var isTemporary: Bool {
        if case .temporary = root { return true }
        return false
    }
}

public enum CompareOp: String, Sendable { case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=" }

/// Bit operations, kept so that flags built up in a variable (`flags |= MSG_DONTWAIT`) are known where a call
/// reads them. Only these: a value they combine with constants takes finitely many values around a loop, so
/// paths still meet (a counter's `i += 1` would give every iteration a state of its own).
public enum ArithmeticOp: String, Sendable {
    case or = "|", and = "&", xor = "^"

    public func apply(_ a: Int, _ b: Int) -> Int? {
        switch self {
        case .or: return a | b
        case .and: return a & b
        case .xor: return a ^ b
        }
    }
}

/// A side-effect-free expression, kept symbolic so that branch conditions can refine what a path knows.
public indirect enum Value: Hashable, Sendable {
    case constant(Int)
    case read(StorageKey)
    case addressOf(StorageKey)
    /// A value known to be non-zero (a string literal, a function's address).
    case nonZero
    case unknown
    case not(Value)
    case compare(CompareOp, Value, Value)
    case and(Value, Value)
    case or(Value, Value)
    case select(Value, Value, Value)
    case arithmetic(ArithmeticOp, Value, Value)

    /// Every key this value reads.
    /// A comparison or a logical combination: a value whose truth says something about other values.
    public var isCondition: Bool {
        switch self {
        case .not, .compare, .and, .or: return true
        default: return false
        }
    }

    public var keysRead: [StorageKey] {
        switch self {
        case .read(let k), .addressOf(let k): return [k]
        case .constant, .nonZero, .unknown: return []
        case .not(let v): return v.keysRead
        case .compare(_, let a, let b), .and(let a, let b), .or(let a, let b): return a.keysRead + b.keysRead
        case .select(let a, let b, let c): return a.keysRead + b.keysRead + c.keysRead
        case .arithmetic(_, let a, let b): return a.keysRead + b.keysRead
        }
    }
}

/// One argument at a call site.
public struct CallArgument: Sendable {
    public var value: Value
    /// The storage the argument expression names, when it is an lvalue (`s`, `self->st`, `*p`).
    public var storage: StorageKey?
    /// `x` when the argument is `&x`.
    public var addressOf: StorageKey? {
        if case .addressOf(let k) = value { return k }
        return nil
    }
    /// The functions the argument names: `worker` in `pthread_create(&t, NULL, worker, NULL)`, both of
    /// `ring ? ring_cb : plain_cb`. Empty when it names none.
    public var functionReferences: [String]
    /// Functions whose address this function stored, before the call, into what the argument names or points
    /// to (`spec.callback = fill; SDL_OpenAudio(&spec, NULL)`), with the field each went into ("" when the field
    /// is not known: an initializer list).
    public var storedFunctions: [(field: String, function: String)] = []
    public var text: String
    /// The USR of the function-pointer field or variable the argument reads (`ops->read`): the run's stores into
    /// it are what the argument may hand over (filled into `storedFunctions` once the whole run is lowered).
    public var pointerKey: String? = nil

    /// The functions this argument hands over: the one it names, else those stored into what it points to.
    public var handedFunctions: [String] {
        functionReferences.isEmpty ? storedFunctions.map(\.function) : functionReferences
    }
}

public struct CallSite: Sendable {
    public var callee: String
    /// How the user wrote it: `Py_DECREF()`, or the macro `Py_BEGIN_ALLOW_THREADS`, or
    /// `PyList_GET_ITEM (calls Py_TYPE())` for a call inside a macro of another name.
    public var shown: String
    public var location: SourceLocation
    public var arguments: [CallArgument]
    /// The temporary receiving the result; nil when the result is discarded.
    public var result: StorageKey?
    /// Declared noreturn in the source (`_Noreturn`, `__attribute__((noreturn))`).
    public var declaredNoReturn: Bool
    /// Called through a pointer or a member, not by the name of a declared function.
    public var isIndirect: Bool
    /// C++: the callee may throw (not `noexcept`, not a C function). Only such calls are followed into `unwind`.
    public var mayThrow: Bool = false
    /// A C++ method or a function declared in a namespace: a rule about the plain C function of the same name
    /// (`read`, `wait`, `send`) does not apply to it; only its qualified name does.
    public var isScoped: Bool = false
    /// What most calls leave unset (C++, pointers, loops), kept apart so that a plain C call stays small: every
    /// call of every function of a run is kept until the project-wide analysis (lxml's etree.c has 50,000).
    private var rare: RareBox?

    public init(callee: String, qualifiedCallee: String?, guardEffect: GILEffect?, shown: String, location: SourceLocation,
                arguments: [CallArgument], result: StorageKey?, declaredNoReturn: Bool, isIndirect: Bool, isScoped: Bool = false) {
        self.callee = callee
        self.shown = shown
        self.location = location
        self.arguments = arguments
        self.result = result
        self.declaredNoReturn = declaredNoReturn
        self.isIndirect = isIndirect
        self.isScoped = isScoped
        self.qualifiedCallee = qualifiedCallee
        self.guardEffect = guardEffect
    }

    /// The fields below, stored in `rare`.
    private struct Rare {
        var qualifiedCallee: String?
        var guardEffect: GILEffect?
        var unwind: Int?
        var unwindRoutes: [UnwindRoute] = []
        var unwindEscape: Int?
        var pointerKey: String?
        var throughPointer: String?
        var handleType: String?
        var vtableArguments: [Int: String] = [:]
        var probeResult: StorageKey?
        var object: CallArgument?
        var releasesCountingUp: String?
        var lock: MutexRef?
    }

    /// Shared between copies of the site until one of them changes a field (copy on write).
    private final class RareBox: @unchecked Sendable {
        var value: Rare
        init(_ value: Rare) { self.value = value }
    }

    private func read<T>(_ field: KeyPath<Rare, T>, or absent: T) -> T { rare.map { $0.value[keyPath: field] } ?? absent }

    /// Sets a field, allocating the box only for a value other than the field's absent one.
    private mutating func write<T>(_ field: WritableKeyPath<Rare, T>, _ value: T, absent: Bool) {
        if rare == nil {
            if absent { return }
            rare = RareBox(Rare())
        } else if !isKnownUniquelyReferenced(&rare!) {
            rare = RareBox(rare!.value)
        }
        rare!.value[keyPath: field] = value
    }

    /// `pybind11::object::attr` for C++ members and namespaced functions; nil for plain C functions.
    public var qualifiedCallee: String? {
        get { read(\.qualifiedCallee, or: nil) }
        set { write(\.qualifiedCallee, newValue, absent: newValue == nil) }
    }
    /// Set for the synthetic calls of a C++ RAII guard: its constructor (`ensure`/`save`) or the end of its scope
    /// (`release`/`restore`); the guard variable is the first argument.
    public var guardEffect: GILEffect? {
        get { read(\.guardEffect, or: nil) }
        set { write(\.guardEffect, newValue, absent: newValue == nil) }
    }
    /// C++: where an exception thrown by the callee goes — a block that runs the destructors of the guards in
    /// scope and then enters the enclosing `catch` handlers or leaves the function. Nil when nothing is in scope
    /// (the exception leaves the function at the call) and for C.
    public var unwind: Int? {
        get { read(\.unwind, or: nil) }
        set { write(\.unwind, newValue, absent: newValue == nil) }
    }
    /// C++: for an exception whose type the callee's summary knows: the handlers that may catch it, and the block
    /// that runs every guard's destructor and leaves the function when none does (nil: it leaves at the call).
    public var unwindRoutes: [UnwindRoute] {
        get { read(\.unwindRoutes, or: []) }
        set { write(\.unwindRoutes, newValue, absent: newValue.isEmpty) }
    }
    public var unwindEscape: Int? {
        get { read(\.unwindEscape, or: nil) }
        set { write(\.unwindEscape, newValue, absent: newValue == nil) }
    }
    /// A call through a function-pointer field or variable (`hooks.gil_get()`, `rt_enter()`): its USR, which the
    /// project's stores into it are keyed by (`PointerStore`).
    public var pointerKey: String? {
        get { read(\.pointerKey, or: nil) }
        set { write(\.pointerKey, newValue, absent: newValue == nil) }
    }
    /// How the pointer reads in the source (`up.gil_get`), with `pointerKey`.
    public var throughPointer: String? {
        get { read(\.throughPointer, or: nil) }
        set { write(\.throughPointer, newValue, absent: newValue == nil) }
    }
    /// For a call that locks or unlocks a mutex (rules: `locks:` / `unlocks:`): which one, when it is a global
    /// or a struct's field (`MutexRef`).
    public var lock: MutexRef? {
        get { read(\.lock, or: nil) }
        set { write(\.lock, newValue, absent: newValue == nil) }
    }
    /// The declared type of the callee's first parameter when it is a pointer to a library's own type
    /// (`CURLM *`, `XML_Parser`), as spelled in its declaration: calls given the same kind of handle in different
    /// functions may work on the same object (a callback set on it in one, the call that runs it in another).
    public var handleType: String? {
        get { read(\.handleType, or: nil) }
        set { write(\.handleType, newValue, absent: newValue == nil) }
    }
    /// For a library's function: the arguments it declares as a pointer to a struct of function pointers (a
    /// backend, an ops table: `git_odb_backend *`), by index, with the struct's USR. The project's stores into
    /// that struct's fields, anywhere in the run, are the callbacks the call hands over.
    public var vtableArguments: [Int: String] {
        get { read(\.vtableArguments, or: [:]) }
        set { write(\.vtableArguments, newValue, absent: newValue.isEmpty) }
    }
    /// For a call whose blocking condition reads an earlier call's result (`PQgetResult` after `PQisBusy`): the
    /// result of the last such call the lowering met given the same argument.
    public var probeResult: StorageKey? {
        get { read(\.probeResult, or: nil) }
        set { write(\.probeResult, newValue, absent: newValue == nil) }
    }
    /// C++: the object a method, constructor or destructor is called on: `&g` for `Guard g;` and for the end of
    /// `g`'s scope, `p` for `p->m()`, `&o` for `o.m()`, `this` for a method calling another of its class. Its
    /// fields are where the callee's `this->field` is (`StateSlot.object`).
    public var object: CallArgument? {
        get { read(\.object, or: nil) }
        set { write(\.object, newValue, absent: newValue == nil) }
    }
    /// A release of a GIL state read from an array at an index a loop around it counts up (`held[i]`, `i++`):
    /// the index variable's name. The states come out in the order they went in, not last-in, first-out.
    public var releasesCountingUp: String? {
        get { read(\.releasesCountingUp, or: nil) }
        set { write(\.releasesCountingUp, newValue, absent: newValue == nil) }
    }

    /// The arguments and the object: what the call reads and may write through.
    public var operands: [CallArgument] { object.map { arguments + [$0] } ?? arguments }
}

public enum Element: Sendable {
    /// `target = value`; target nil when the left side is not a tracked place (then what it may alias is forgotten).
    case assign(StorageKey?, Value, SourceLocation)
    /// Boxed: a call site is several times the size of the other elements, which an unboxed case would make
    /// every element of every block take.
    indirect case call(CallSite)
    /// `p->field` where `p` points to a Python object.
    case pythonDereference(SourceLocation, String)
    /// A variable comes into scope without a value.
    case declare(StorageKey)
}

public struct SwitchCase: Sendable {
    public var low: Int
    public var high: Int
    public var target: Int
}

public enum Terminator: Sendable {
    case jump(Int)
    /// `text` is nil for conditions inside macro expansions, which get no path note.
    case branch(Value, whenTrue: Int, whenFalse: Int, SourceLocation, text: String?)
    case switchOn(Value, cases: [SwitchCase], defaultTarget: Int, SourceLocation, text: String)
    /// Leaves the function; `implicit` when control falls off the closing brace.
    case exit(Value?, SourceLocation, implicit: Bool)
    /// The path ends here without leaving the function normally (noreturn call, unreachable, computed goto).
    case stop
    /// C++: an exception leaves the function here (a `throw` no handler of the function catches), of this type
    /// when it is known.
    case raise(SourceLocation, thrown: ThrownType?)
}

/// C++: the type of a thrown exception, as the names a handler can catch it by: its own (a class's USR, else the
/// type's spelling) and then its base classes', transitively.
public typealias ThrownType = [String]

/// C++: where an exception of a known type thrown by a call goes: the first route whose handler catches it
/// (`catches` nil for `catch (...)`), in the order of the handlers of the `try` statements around the call,
/// innermost first. Each route's block runs the destructors of the guards in scope down to its `try`.
public struct UnwindRoute: Sendable {
    public var catches: String?
    public var pad: Int
}

public struct BasicBlock: Sendable {
    public var elements: [Element] = []
    public var terminator: Terminator = .stop
}

/// A function lowered to basic blocks of GIL-relevant elements.
public struct FunctionCFG: Sendable {
    public var name: String
    public var location: SourceLocation
    /// `static` in C: other files' calls of the same name mean another function.
    public var isStatic: Bool
    public var blocks: [BasicBlock]
    public var entry: Int
    /// Storage released (or restored) somewhere in the function: a state stored in a non-local place that the
    /// function itself also releases is owned by the function, so a path that leaves it held is a leak.
    public var parameters: [StorageKey]
    /// The translation unit the function was lowered from (its main file's spelling): a `static` function
    /// defined in a header belongs to every unit that includes it, and calls from those units reach it.
    public var unit: String = ""
    /// Functions this function stores into function-pointer fields and variables (`hooks.release = py_release;`).
    public var pointerStores: [PointerStore] = []

    /// Every call site in the function.
    public var callSites: [CallSite] {
        blocks.flatMap { b in b.elements.compactMap { if case .call(let s) = $0 { return s } else { return nil } } }
    }
}

extension APIModel {
    /// The rule for a call: by its qualified name (`std::mutex::lock`), else by its plain name, unless it is a
    /// C++ method or a namespaced function (`Socket::send` is not POSIX `send`).
    public func rule(for site: CallSite) -> FunctionRule? {
        if let q = site.qualifiedCallee, let rule = function(named: q) { return rule }
        return site.isScoped ? nil : function(named: site.callee)
    }
}

/// A mutex as the lock-order check names it: `key` is the same for every place that names the lock (a field's
/// or a global's USR), `text` how this place spells it (`&q->mu`).
public struct MutexRef: Hashable, Sendable {
    public var key: String
    public var text: String
    /// A lock (else an unlock).
    public var locks: Bool
}
