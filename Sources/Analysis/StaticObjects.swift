import CLibClang
import ClangSupport

/// A C++ object of static or thread storage duration whose class has a destructor the project defines: the
/// destructor runs at process exit (after `Py_FinalizeEx()`: Python's own main finalizes before the C runtime
/// destroys statics, and so does an embedding program that finalizes), or when each thread that used a
/// `thread_local` one exits (after its last release of the GIL).
public struct StaticObject: Hashable, Sendable {
    public var destructor: String
    public var variable: String
    public var location: SourceLocation
    public var perThread: Bool
    /// The function a function-local static is declared in; nil at namespace scope.
    public var function: String?

    /// The object `decl` declares, when it has such a storage duration and such a destructor.
    init?(_ decl: Cursor, facts: TypeFacts) {
        guard decl.kind == CXCursor_VarDecl, decl.storageClass != CX_SC_Extern || decl.isDefinition else { return nil }
        let perThread = clang_getCursorTLSKind(decl.raw) != CXTLS_None
        let parent = decl.semanticParent?.kind
        let atFileScope = parent == CXCursor_TranslationUnit || parent == CXCursor_Namespace
            || parent == CXCursor_StructDecl || parent == CXCursor_ClassDecl
        guard perThread || decl.storageClass == CX_SC_Static || atFileScope,
              let destructor = facts.projectDestructor(of: decl.type) else { return nil }
        self.destructor = destructor
        self.variable = decl.spelling
        self.location = decl.location
        self.perThread = perThread
        let functionKinds = [CXCursor_FunctionDecl, CXCursor_CXXMethod, CXCursor_Constructor, CXCursor_Destructor,
                             CXCursor_FunctionTemplate]
        function = decl.semanticParent.flatMap { functionKinds.contains($0.kind) ? $0.spelling : nil }
    }

    /// Why the destructor runs without the GIL, for messages.
    var origin: String {
        perThread
            ? "it destroys the thread_local '\(variable)' (\(location.place)) when a thread that used it exits, after that thread's last release of the GIL"
            : "it destroys '\(variable)' (\(location.place)), which has static storage duration, at process exit: after Py_FinalizeEx(), which Python's own main and an embedding program that finalizes run first"
    }

    /// The namespace-scope objects of a unit (file-scope variables, static data members), from its top-level
    /// cursors outside system headers.
    static func fileScope(_ topLevel: [Cursor], include: (String) -> Bool, facts: TypeFacts) -> [StaticObject] {
        fileScopeVariables(topLevel, include: include).compactMap { StaticObject($0, facts: facts) }
    }
}
