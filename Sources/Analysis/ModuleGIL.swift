import CLibClang
import ClangSupport
import Diagnostics

/// `missing-mod-gil`: a module whose init does not declare `Py_mod_gil` (multi-phase: its `PyModuleDef_Slot`
/// array; single-phase: `PyUnstable_Module_SetGIL()` on the module it returns). Importing it on a
/// free-threaded build turns the GIL back on for the whole process. The check reads the source tokens, not the
/// preprocessed tree: the declaration is usually inside `#ifdef Py_GIL_DISABLED` or a version test that the
/// headers linted with leave inactive, and it counts as present.
enum ModuleGIL {
    static func findings(_ topLevel: [Cursor], include: (String) -> Bool) -> [Diagnostic] {
        var out: [Diagnostic] = []
        var variables: [Cursor] = []
        var inits: [Cursor] = []
        // The kind first: a generated unit has tens of thousands of file-scope declarations.
        for c in topLevel {
            let kind = c.kind
            guard kind == CXCursor_VarDecl || kind == CXCursor_FunctionDecl, include(c.location.file) else { continue }
            if kind == CXCursor_VarDecl {
                variables.append(c)
            } else if c.isDefinition, c.spelling.hasPrefix("PyInit_") {
                inits.append(c)
            }
        }
        guard !inits.isEmpty else { return [] }
        var definitions: [String: Cursor] = [:]   // file-scope variables by name
        for v in variables { definitions[v.spelling] = v }
        for f in inits {
            // From the name on: the extent starts in the PyMODINIT_FUNC macro, which the tokenizer cannot range over.
            let tokens = f.tokens(from: clang_getCursorLocation(f.raw), to: f.rawExtentEnd)
            let module = String(f.spelling.dropFirst("PyInit_".count))
            if let i = tokens.firstIndex(of: "PyModuleDef_Init") {
                // Multi-phase: the definition it hands over, and that definition's slots.
                guard let def = tokens[(i + 1)...].prefix(6).first(where: { definitions[$0] != nil }).flatMap({ definitions[$0] }) else { continue }
                switch slotsArray(of: def, definitions) {
                case .declares: continue
                case .unknown: continue
                case .none:
                    out.append(finding(f, "module '\(module)' (multi-phase init) has no m_slots, so it does not declare Py_mod_gil: importing it on a free-threaded build re-enables the GIL; give it a slots array with {Py_mod_gil, Py_MOD_GIL_NOT_USED} once it is thread-safe"))
                case .lacks(let name):
                    out.append(finding(f, "module '\(module)' does not declare Py_mod_gil in its slots '\(name)': importing it on a free-threaded build re-enables the GIL; add {Py_mod_gil, Py_MOD_GIL_NOT_USED} once it is thread-safe"))
                }
            } else if tokens.contains(where: { $0 == "PyModule_Create" || $0 == "PyModule_Create2" }) {
                // Single-phase: PyUnstable_Module_SetGIL() on the module that is returned.
                let returned = Set(tokens.indices.filter { tokens[$0] == "return" && $0 + 1 < tokens.count }.map { tokens[$0 + 1] })
                let setOn = tokens.indices.filter { tokens[$0] == "PyUnstable_Module_SetGIL" && $0 + 2 < tokens.count }
                    .map { tokens[$0 + 2] }
                if !setOn.contains(where: returned.contains) {
                    out.append(finding(f, "module '\(module)' (single-phase init) never calls PyUnstable_Module_SetGIL() on the module it returns: importing it on a free-threaded build re-enables the GIL; call PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) once it is thread-safe"))
                }
            }
        }
        return out
    }

    private enum Slots { case declares, lacks(String), none, unknown }

    /// What a `PyModuleDef` variable's `m_slots` names: positional (the sixth member) or designated.
    private static func slotsArray(of def: Cursor, _ definitions: [String: Cursor]) -> Slots {
        let tokens = def.extentTokens.map(\.spelling)
        var name: String?
        if let d = tokens.firstIndex(of: "m_slots"), d + 2 < tokens.count, tokens[d + 1] == "=" {
            name = tokens[d + 2]
        } else if let list = def.children.last(where: { $0.kind == CXCursor_InitListExpr }) {
            let items = list.children.filter(\.isExpression)
            guard items.count > 5 else { return .none }
            let t = items[5].extentTokens.map(\.spelling)
            name = t.first(where: { definitions[$0] != nil }) ?? t.first
        } else {
            return .unknown
        }
        guard let name else { return .none }
        if name == "NULL" || name == "0" || name == "nullptr" { return .none }
        guard let slots = definitions[name] else { return .unknown }
        return slots.extentTokens.contains(where: { $0.spelling == "Py_mod_gil" }) ? .declares : .lacks(name)
    }

    static func info(_ id: RuleID) -> RuleInfo {
        RuleInfo(
            id: id.rawValue, severity: .warning,
            summary: "a module does not declare Py_mod_gil (free-threading mode: --free-threading or `free-threading: true`)",
            rationale: """
                On a free-threaded build (3.13t, 3.14t) importing an extension module that does not say it is safe \
                without the GIL turns the GIL back on for the whole process, with a RuntimeWarning. Multi-phase modules \
                declare it with a {Py_mod_gil, Py_MOD_GIL_NOT_USED} slot, single-phase ones with \
                PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) on the module their PyInit_ returns. Declare it once \
                the module's own state is protected (critical sections, PyMutex, per-module state).
                """,
            wrong: """
                static PyModuleDef_Slot slots[] = {
                    {Py_mod_exec, exec_module},
                    {0, NULL},
                };
                """,
            right: """
                static PyModuleDef_Slot slots[] = {
                    {Py_mod_exec, exec_module},
                #ifdef Py_mod_gil
                    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
                #endif
                    {0, NULL},
                };
                """)
    }

    private static func finding(_ f: Cursor, _ message: String) -> Diagnostic {
        let loc = f.location
        return Diagnostic(ruleId: RuleID.missingModGIL.rawValue, severity: RuleID.missingModGIL.info.severity,
                          file: loc.file, line: loc.line, column: loc.column, function: f.spelling, message: message)
    }
}
