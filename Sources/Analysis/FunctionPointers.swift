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
            let element = canonical.element
            for item in list.children where item.isExpression {
                out += stores(initializer: item, type: element, shapes: shapes, depth: depth + 1)
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
                for f in functions(in: value) where !usr.isEmpty { out.append(PointerStore(key: usr, function: f)) }
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
            return usr.isEmpty ? [] : functions(in: initializer).map { PointerStore(key: usr, function: $0) }
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
