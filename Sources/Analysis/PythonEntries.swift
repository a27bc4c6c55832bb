import CLibClang
import ClangSupport
import Foundation

/// A function that Python calls with the GIL held: one named in a method table (`PyMethodDef`), a getter or
/// setter table (`PyGetSetDef`), a type's slots (`PyTypeObject`, `PyType_Slot`, the number/sequence/mapping/async
/// method tables, `PyBufferProcs`) or a module definition's functions and slots (`PyModuleDef`,
/// `PyModuleDef_Slot`), or assigned into a type slot (`Foo_Type.tp_iternext = foo_next;`). `PyMemberDef` is data.
public struct PythonEntryReference: Hashable, Sendable {
    /// The function's name, as call sites name it.
    public var name: String
    /// The translation unit the registration was seen in (a `static` function is that unit's own).
    public var unit: String
    /// Why the function starts as it does: "registered in PyMethodDef 'Worker_methods' at worker.c:23".
    public var origin: String
    /// How it starts: Python's entries with the GIL held; a library's thread callbacks known by their type
    /// (`TypedCallback`) without it, or at process exit.
    public var start: Start = .withGIL

    public enum Start: Hashable, Sendable { case withGIL, withoutGIL, atExit }
}

/// The record types whose function pointers CPython calls with the GIL held.
let pythonEntryTables: Set<String> = [
    "PyMethodDef", "PyGetSetDef", "PyTypeObject", "_typeobject", "PyHeapTypeObject", "_heaptypeobject",
    "PyType_Slot", "PyNumberMethods", "PySequenceMethods", "PyMappingMethods", "PyAsyncMethods", "PyBufferProcs",
    "PyModuleDef", "PyModuleDef_Slot",
]

/// The prefixes of the type-slot fields (`tp_new`, `nb_add`, `sq_item`, `mp_subscript`, `am_await`, `bf_getbuffer`).
let pythonSlotPrefixes = ["tp_", "nb_", "sq_", "mp_", "am_", "bf_"]

/// The registrations of Python entry points in a translation unit's own files (`include` accepts them by path):
/// function names in the initializers of file-scope or local tables of the types above, and functions assigned
/// into type-slot fields in function bodies.
func pythonEntryReferences(_ tu: TranslationUnit, topLevel: [Cursor], include: (String) -> Bool) -> [PythonEntryReference] {
    let unit = tu.root.spelling
    var out: [PythonEntryReference] = []
    var seen = Set<String>()

    func tableName(_ type: ClangType) -> String? {
        let canonical = type.canonical
        guard canonical.kind == CXType_Record || canonical.kind == CXType_ConstantArray
                || canonical.kind == CXType_IncompleteArray else { return nil }
        for spelling in [type.spelling, canonical.spelling] {
            let words = spelling.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init)
            if let hit = words.first(where: pythonEntryTables.contains) { return hit }
        }
        return nil
    }

    /// The functions an expression names anywhere inside it (casts, designated initializers, nested braces).
    func functionsNamed(in c: Cursor, _ found: inout [String]) {
        if c.kind == CXCursor_DeclRefExpr, let decl = c.referenced, decl.kind == CXCursor_FunctionDecl {
            found.append(decl.spelling)
            return
        }
        for child in c.children { functionsNamed(in: child, &found) }
    }

    func add(_ names: [String], _ origin: String) {
        for name in names where seen.insert("\(name)|\(origin)").inserted {
            out.append(PythonEntryReference(name: name, unit: unit, origin: origin))
        }
    }

    func place(_ c: Cursor) -> String {
        c.location.place
    }

    // Walking every body through libclang is costly: a body is walked only when its text names a table type or
    // assigns a slot field (`.tp_iternext =`, `->nb_add =`; not a read such as `Py_TYPE(o)->tp_free(o)`, which
    // generated code has in every function). A registration spelled entirely by a macro of another name is missed.
    let tables: [[UInt8]] = ["PyMethodDef", "PyGetSetDef", "PyType_Slot", "PyTypeObject", "PyModuleDef", "Methods",
                             "BufferProcs"].map { Array($0.utf8) }
    let slots: [[UInt8]] = pythonSlotPrefixes.map { Array($0.utf8) }
    func mayRegister(_ function: Cursor) -> Bool {
        function.withExtentText { text, start, end in
            guard end > start else { return true }
            func matches(_ needle: [UInt8], at i: Int) -> Bool {
                guard i + needle.count <= end else { return false }
                var k = 0
                while k < needle.count && text[i + k] == needle[k] { k += 1 }
                return k == needle.count
            }
            func isIdentifier(_ b: UInt8) -> Bool { b == 95 || (b >= 48 && b <= 57) || (b | 32 >= 97 && b | 32 <= 122) }
            /// A slot field assigned at `i`: the prefix after `.` or `->`, the rest of the name, then `=` (not `==`).
            func assignsSlot(at i: Int) -> Bool {
                guard i > start, text[i - 1] == 46 || text[i - 1] == 62 else { return false }
                var j = i
                while j < end, isIdentifier(text[j]) { j += 1 }
                while j < end, text[j] == 32 || text[j] == 9 || text[j] == 10 || text[j] == 13 { j += 1 }
                return j + 1 < end && text[j] == 61 && text[j + 1] != 61
            }
            var i = start
            while i < end {
                let byte = text[i]
                if byte == 80 || byte == 77 || byte == 66 {   // P, M, B: the table names
                    for needle in tables where needle[0] == byte && matches(needle, at: i) { return true }
                }
                if i + 3 <= end, text[i + 2] == 95 {   // `tp_`, `nb_`, ...
                    for needle in slots where needle[0] == byte && matches(needle, at: i) && assignsSlot(at: i) { return true }
                }
                i += 1
            }
            return false
        } ?? true
    }

    func visit(_ list: [Cursor]) {
        for child in list {
            if child.isInSystemHeader { continue }
            switch child.kind {
            case CXCursor_VarDecl:
                // Other variables' initializers register nothing (generated code has tables of thousands of
                // strings and numbers at file scope).
                if include(child.location.file), let table = tableName(child.type),
                   let initializer = child.children.last(where: \.isExpression) {
                    var names: [String] = []
                    functionsNamed(in: initializer, &names)
                    add(names, "registered in \(table) '\(child.spelling)' at \(place(child))")
                }
            case CXCursor_BinaryOperator:
                let kids = child.children.filter(\.isExpression)
                if kids.count == 2, kids[0].kind == CXCursor_MemberRefExpr,
                   pythonSlotPrefixes.contains(where: { kids[0].spelling.hasPrefix($0) }),
                   include(child.location.file) {
                    let parent = kids[0].referenced?.semanticParent?.spelling ?? ""
                    let words = parent.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init)
                    if words.contains(where: pythonEntryTables.contains) || parent.contains("unnamed") || parent.contains("anonymous") {
                        var names: [String] = []
                        functionsNamed(in: kids[1], &names)
                        add(names, "assigned to \(kids[0].spelling) at \(place(child))")
                        continue
                    }
                }
                visit(child.children)
            case CXCursor_FunctionDecl, CXCursor_CXXMethod, CXCursor_Constructor, CXCursor_Destructor:
                if child.isDefinition, include(child.location.file), mayRegister(child) { visit(child.children) }
            default:
                visit(child.children)
            }
        }
    }
    visit(topLevel)
    return out
}
