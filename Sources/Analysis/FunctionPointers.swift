import APIModel
import CLibClang
import ClangSupport

/// A function stored into a function pointer the project may call through: a struct field
/// (`hooks.gil_get = up_get;`, `static struct gil_hooks up = { up_get, up_put };`, `{ .release = up_put }`) or a
/// variable (`static enter_fn rt_enter = rt_gil_enter;`). `key` is the USR of the field or variable, the same in
/// every translation unit, so a call through `up.gil_get()` in one file meets the store made in another.
public struct PointerStore: Hashable, Sendable {
    public var key: String
    public var function: String

    public init(key: String, function: String) {
        self.key = key
        self.function = function
    }
}

/// The variables declared at file or namespace scope (`extern "C"` blocks included) in the files `include`
/// accepts, from a unit's top-level cursors outside system headers.
func fileScopeVariables(_ topLevel: [Cursor], include: (String) -> Bool) -> [Cursor] {
    var out: [Cursor] = []
    func visit(_ list: [Cursor], depth: Int) {
        for c in list where !c.isInSystemHeader {
            switch c.kind {
            case CXCursor_VarDecl:
                if include(c.location.file) { out.append(c) }
            case CXCursor_Namespace, CXCursor_LinkageSpec, CXCursor_UnexposedDecl:
                if depth < 16 { visit(c.children, depth: depth + 1) }
            default:
                continue
            }
        }
    }
    visit(topLevel, depth: 0)
    return out
}

enum FunctionPointers {
    /// The functions an expression names: `f`, `&f`, `(fn_t)f`, and each branch of `c ? f : g`.
    static func functions(in raw: Cursor, depth: Int = 0) -> [String] {
        guard depth < 16 else { return [] }
        var c = raw
        while [CXCursor_ParenExpr, CXCursor_UnexposedExpr, CXCursor_CStyleCastExpr, CXCursor_UnaryOperator,
               CXCursor_CXXStaticCastExpr, CXCursor_CXXReinterpretCastExpr, CXCursor_CXXFunctionalCastExpr].contains(c.kind),
              let inner = c.children.last(where: \.isExpression) {
            if c.kind == CXCursor_UnaryOperator, c.unaryOperatorSpelling != "&" { return [] }
            c = inner
        }
        switch c.kind {
        case CXCursor_DeclRefExpr:
            guard let decl = c.referenced, decl.kind == CXCursor_FunctionDecl else { return [] }
            return [decl.spelling]
        case CXCursor_ConditionalOperator:
            let parts = c.children.filter(\.isExpression)
            guard parts.count == 3 else { return [] }
            return functions(in: parts[1], depth: depth + 1) + functions(in: parts[2], depth: depth + 1)
        default:
            return []
        }
    }

    /// What the initializer walk needs to know about types, computed once per type in a translation unit: the
    /// fields of a struct, and whether a value of the type can hold a function's address anywhere inside it
    /// (generated code has tables of thousands of strings and numbers, whose initializers store no function).
    final class TypeShapes {
        private var holds: [String: Bool] = [:]
        private var fieldLists: [String: [Cursor]] = [:]
        /// The unit's library callback types (`LibraryCallbackType.declared`), by type name: set before the walk.
        var callbackTypes: [String: LibraryCallbackType] = [:]
        /// What the walks found stored into a slot of one of `callbackTypes` (a table of `PaStreamCallback *`).
        var typedCallbacks: [TypedCallback] = []

        /// Notes `functions` stored into a slot of `type` when the type is one of the unit's library callback types.
        func noteStored(_ functions: [String], as type: ClangType, at location: SourceLocation) {
            guard !callbackTypes.isEmpty, !functions.isEmpty, let name = LibraryCallbackType.name(of: type),
                  let kind = callbackTypes[name] else { return }
            typedCallbacks += functions.map { TypedCallback(function: $0, type: kind, location: location) }
        }

        func fields(_ record: ClangType) -> [Cursor] {
            let key = record.spelling
            if let known = fieldLists[key] { return known }
            let list = record.declaration.children.filter { $0.kind == CXCursor_FieldDecl }
            fieldLists[key] = list
            return list
        }

        /// The USR of the struct a parameter is or points to when the struct has function-pointer fields of its
        /// own (a table of callbacks a library calls: `git_odb_backend`, `sqlite3_io_methods`, `z_stream`'s
        /// allocators, `ZSTD_customMem`); nil otherwise.
        func callbackTable(_ parameter: ClangType) -> String? {
            let canonical = parameter.canonical
            // Given by address (`z_stream *`), or by value (`ZSTD_customMem`, which the context copies).
            let record = canonical.kind == CXType_Pointer ? canonical.pointee.canonical : canonical
            guard record.kind == CXType_Record else { return nil }
            let key = record.spelling
            if let known = tables[key] { return known }
            // A struct this unit only declares (`git_odb_backend` where only <git2/odb.h> is included) may be
            // one: the run's stores into its fields, made where it is defined, decide.
            let definition = clang_getCursorDefinition(record.declaration.raw)
            let incomplete = clang_Cursor_isNull(definition) != 0
            let hasCallbacks = incomplete || fields(record).contains { $0.type.isFunctionPointer }
            let usr = hasCallbacks ? record.declaration.usr : ""
            tables[key] = usr.isEmpty ? .some(nil) : usr
            return usr.isEmpty ? nil : usr
        }
        private var tables: [String: String?] = [:]

        /// A function pointer or `void *` (where a function may be stored with a cast), or a struct or array
        /// with one inside.
        func mayHoldFunction(_ type: ClangType, depth: Int = 0) -> Bool {
            let canonical = type.canonical
            switch canonical.kind {
            case CXType_Pointer:
                return canonical.isFunctionPointer || canonical.pointee.canonical.kind == CXType_Void
            case CXType_ConstantArray, CXType_IncompleteArray:
                return depth < 8 && mayHoldFunction(canonical.element, depth: depth + 1)
            case CXType_Record:
                guard depth < 8 else { return false }
                let key = canonical.spelling
                if let known = holds[key] { return known }
                holds[key] = false   // a struct that points to itself holds what its other fields hold
                let answer = fields(canonical).contains { mayHoldFunction($0.type, depth: depth + 1) }
                holds[key] = answer
                return answer
            default:
                return false
            }
        }
    }

    /// The stores an initializer of a variable of `type` makes into function-pointer fields: positional and
    /// designated members of struct initializers, nested structs and arrays of structs.
    static func stores(initializer raw: Cursor, type: ClangType, shapes: TypeShapes, depth: Int = 0) -> [PointerStore] {
        guard depth < 8, shapes.mayHoldFunction(type) else { return [] }
        var list = raw
        while list.kind == CXCursor_UnexposedExpr || list.kind == CXCursor_ParenExpr,
              let inner = list.children.last(where: \.isExpression) {
            list = inner
        }
        guard list.kind == CXCursor_InitListExpr else { return [] }
        let canonical = type.canonical
        var out: [PointerStore] = []
        if canonical.kind == CXType_ConstantArray || canonical.kind == CXType_IncompleteArray {
            let element = type.element
            for item in list.children where item.isExpression {
                if element.canonical.kind == CXType_Pointer {
                    // A table of callbacks (`PaStreamCallback *const table[] = {a, b}`): of a library's type or not.
                    shapes.noteStored(functions(in: item), as: element, at: item.location)
                } else {
                    out += stores(initializer: item, type: element, shapes: shapes, depth: depth + 1)
                }
            }
            return out
        }
        guard canonical.kind == CXType_Record else { return [] }
        let fields = shapes.fields(canonical)
        var next = 0
        for item in list.children where item.isExpression {
            var field: Cursor?
            var value = item
            // `.name = value`: a designator (an unexposed expression holding the member reference and the value).
            if item.kind == CXCursor_UnexposedExpr, let designator = item.children.last(where: { $0.kind == CXCursor_MemberRef }),
               let named = designator.referenced, let position = fields.firstIndex(where: { $0.isEqual(named) }) {
                field = fields[position]
                next = position + 1
                if let v = item.children.last(where: \.isExpression) { value = v }
            } else if next < fields.count {
                field = fields[next]
                next += 1
            }
            guard let field else { continue }
            let fieldType = field.type.canonical
            if fieldType.kind == CXType_Record || fieldType.kind == CXType_ConstantArray {
                out += stores(initializer: value, type: field.type, shapes: shapes, depth: depth + 1)
            } else if fieldType.kind == CXType_Pointer {
                let usr = field.usr
                let named = functions(in: value)
                for f in named where !usr.isEmpty { out.append(PointerStore(key: usr, function: f)) }
                shapes.noteStored(named, as: field.type, at: value.location)
            }
        }
        return out
    }

    /// The stores a variable's initializer makes: into the variable itself when it is a function pointer, into
    /// its fields when it is a struct or an array of them.
    static func stores(declaration decl: Cursor, shapes: TypeShapes) -> [PointerStore] {
        let declared = decl.type
        guard shapes.mayHoldFunction(declared), let initializer = decl.children.last(where: \.isExpression) else { return [] }
        if declared.canonical.kind == CXType_Pointer {
            let usr = decl.usr
            let named = functions(in: initializer)
            shapes.noteStored(named, as: declared, at: decl.location)
            return usr.isEmpty ? [] : named.map { PointerStore(key: usr, function: $0) }
        }
        return stores(initializer: initializer, type: declared, shapes: shapes)
    }

    /// The stores made by the initializers of file-scope variables in the files `include` accepts, from the
    /// unit's top-level cursors outside system headers.
    static func fileScope(_ topLevel: [Cursor], include: (String) -> Bool, shapes: TypeShapes = TypeShapes()) -> [PointerStore] {
        fileScopeVariables(topLevel, include: include).flatMap { stores(declaration: $0, shapes: shapes) }
    }

    /// The USR a call through a pointer names: the field of `hooks.gil_get()` / `p->release(tok)`, or the
    /// variable of `rt_enter()`. Nil for calls through parameters and computed pointers.
    static func key(ofCallee decl: Cursor?) -> String? {
        guard let decl else { return nil }
        switch decl.kind {
        case CXCursor_FieldDecl:
            let usr = decl.usr
            return usr.isEmpty ? nil : usr
        case CXCursor_VarDecl:
            let usr = decl.usr
            return usr.isEmpty ? nil : usr
        default:
            return nil
        }
    }
}

/// A function-pointer type a library declares for the callback of a call that the rules say runs it on a
/// thread of the library's own (`callback-thread`): PortAudio's `PaStreamCallback`, JACK's `JackProcessCallback`.
/// A function stored into a variable, table or field of that type is that library's callback, wherever the
/// project hands it over (a table of stream callbacks the configuration code picks from).
public struct LibraryCallbackType: Hashable, Sendable {
    /// The type's name (`PaStreamCallback`).
    public var name: String
    /// The call whose callback parameter has the type (`Pa_OpenStream`).
    public var registrar: String
    /// When the library calls it, for messages ("on PortAudio's audio thread").
    public var note: String
    /// The callback runs at process exit, after finalization (`callback-at-exit`).
    public var atExit: Bool

    /// The name a type of a callback slot goes by, through `const` and one level of pointer (`PaStreamCallback
    /// *const`, `const JackXRunCallback`): nil for a type that is not a single name (`int (*)(void *)`, `struct
    /// ops *`).
    public static func name(of type: ClangType) -> String? {
        let words = type.spelling.split(whereSeparator: { $0 == " " || $0 == "*" })
            .filter { $0 != "const" && $0 != "volatile" && $0 != "restrict" }
        guard words.count == 1, let word = words.first, word.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
              word.first.map({ !$0.isNumber }) == true else { return nil }
        return String(word)
    }

    /// The callback types of the library calls a unit declares (`root` is every top-level cursor, system headers
    /// included: that is where a library's header declares them). A type that a call of the rules without a
    /// callback thread also takes for that argument is left out: its callbacks may run on the caller's thread.
    public static func declared(_ root: [Cursor], model: APIModel) -> [String: LibraryCallbackType] {
        var found: [String: LibraryCallbackType] = [:]
        // Modelled calls without a callback thread: looked at only once a unit declares a registrar (most units
        // include Python.h alone, whose hundreds of modelled calls would otherwise each have their parameters read).
        var others: [ClangType] = []
        for c in root where c.kind == CXCursor_FunctionDecl {
            let callee = c.spelling
            guard let rule = model.function(named: callee) else { continue }
            let type = c.type
            guard let slot = rule.callbackThread else {
                others.append(type)
                continue
            }
            guard var parameter = type.parameter(slot.argument) else { continue }
            if let field = slot.field {
                // `SDL_OpenAudio(&spec, NULL)`: the type of the field the callback is set in.
                let record = parameter.canonical.kind == CXType_Pointer ? parameter.canonical.pointee.canonical : parameter.canonical
                guard let f = record.declaration.children.first(where: { $0.kind == CXCursor_FieldDecl && $0.spelling == field }) else { continue }
                parameter = f.type
            }
            guard parameter.canonical.isFunctionPointer, let name = name(of: parameter), found[name] == nil else { continue }
            found[name] = LibraryCallbackType(name: name, registrar: callee, note: rule.callbackNote ?? "on a thread of its own",
                                              atExit: rule.callbackAtExit)
        }
        guard !found.isEmpty else { return found }
        for type in others {
            for i in 0..<max(0, Int(clang_getNumArgTypes(type.raw))) {
                if let p = type.parameter(i), p.canonical.isFunctionPointer, let name = name(of: p) { found[name] = nil }
            }
        }
        return found
    }
}

/// A function stored into a slot of a library's callback type (`LibraryCallbackType`).
public struct TypedCallback: Hashable, Sendable {
    public var function: String
    public var type: LibraryCallbackType
    public var location: SourceLocation
}
