import APIModel
import CLibClang
import ClangSupport
import Diagnostics

/// Analyzes every function defined in a translation unit's own files (not in system headers).
public final class TranslationUnitAnalyzer {
    let model: APIModel
    let limits: PathExplorer.Limits

    public init(model: APIModel, limits: PathExplorer.Limits = .init()) {
        self.model = model
        self.limits = limits
    }

    public struct Result {
        public var diagnostics: [Diagnostic]
        public var functions: Int
    }

    /// Lowers every function defined in the files `include` accepts (by path) to a CFG. The CFGs are plain
    /// values: they outlive the translation unit, so a run can analyze all files' functions together.
    public func collect(_ tu: TranslationUnit, include: (String) -> Bool) -> [FunctionCFG] {
        collectUnit(tu, include: include).cfgs
    }

    /// The CFGs of `collect`, the functions the unit registers as Python entry points (method tables, type
    /// slots), which start with the GIL held when Python calls them, and the functions its file-scope
    /// initializers store into function pointers (`static struct hooks up = { up_get, up_put };`).
    public func collectUnit(_ tu: TranslationUnit, include: (String) -> Bool)
        -> (cfgs: [FunctionCFG], pythonEntries: [PythonEntryReference], pointerStores: [PointerStore], moduleFindings: [Diagnostic],
            staticObjects: [StaticObject]) {
        let facts = TypeFacts()
        let everything = tu.root.children
        var topLevel = everything.filter { !$0.isInSystemHeader }
        facts.shapes.callbackTypes = LibraryCallbackType.declared(everything, model: model)
        let macros = MacroUses(topLevel)
        // The other passes look at declarations only.
        topLevel.removeAll { clang_isPreprocessing($0.kind) != 0 }
        var cfgs: [FunctionCFG] = []
        var staticObjects: [StaticObject] = []
        var seen = Set<String>()
        func visit(_ list: [Cursor]) {
            for c in list {
                switch c.kind {
                case CXCursor_FunctionDecl, CXCursor_CXXMethod, CXCursor_Constructor, CXCursor_Destructor,
                     CXCursor_ConversionFunction, CXCursor_FunctionTemplate:
                    guard c.isDefinition, !c.isInSystemHeader else { continue }
                    let loc = c.location
                    guard include(loc.file), seen.insert("\(loc.file):\(loc.offset)").inserted else { continue }
                    guard let body = c.children.last(where: { $0.kind == CXCursor_CompoundStmt }) else { continue }
                    let builder = CFGBuilder(model: model, typeFacts: facts, macros: macros)
                    cfgs.append(builder.build(function: c, body: body))
                    staticObjects += builder.staticObjects
                    // Lambdas (and lambdas inside them) are functions of their own.
                    var pending = builder.lambdas
                    while !pending.isEmpty {
                        let (lambda, name) = pending.removeFirst()
                        guard let lambdaBody = lambda.children.last(where: { $0.kind == CXCursor_CompoundStmt }) else { continue }
                        let inner = CFGBuilder(model: model, typeFacts: facts, macros: macros)
                        cfgs.append(inner.build(function: lambda, body: lambdaBody, name: name, isStatic: true))
                        pending += inner.lambdas
                    }
                case CXCursor_Namespace, CXCursor_LinkageSpec, CXCursor_StructDecl, CXCursor_ClassDecl,
                     CXCursor_ClassTemplate, CXCursor_UnexposedDecl:
                    if !c.isInSystemHeader { visit(c.children) }
                default:
                    continue
                }
            }
        }
        visit(topLevel)
        let unit = tu.root.spelling
        for i in cfgs.indices { cfgs[i].unit = unit }
        staticObjects += StaticObject.fileScope(topLevel, include: include, facts: facts)
        let stores = FunctionPointers.fileScope(topLevel, include: include, shapes: facts.shapes)
        // Functions stored as a library's thread callback (`PaStreamCallback *const table[] = {...}`) start
        // without the GIL, as if handed to its registering call.
        let typed = facts.shapes.typedCallbacks.filter { include($0.location.file) }.map { t in
            PythonEntryReference(name: t.function, unit: unit,
                                 origin: "stored as a \(t.type.name) at \(t.location.place), the type of the callback \(t.type.registrar)() takes, which runs it \(t.type.note)",
                                 start: t.type.atExit ? .atExit : .withoutGIL)
        }
        return (cfgs, pythonEntryReferences(tu, topLevel: topLevel, include: include) + typed,
                stores, ModuleGIL.findings(topLevel, include: include), staticObjects)
    }

    /// Analyzes one translation unit on its own (summaries across its functions only).
    public func analyze(_ tu: TranslationUnit, include: (String) -> Bool) -> Result {
        let (cfgs, entries, stores, modules, objects) = collectUnit(tu, include: include)
        return Result(diagnostics: ProjectAnalyzer(model: model, limits: limits).analyze(cfgs, pythonEntries: entries,
                                                                                          pointerStores: stores,
                                                                                          staticObjects: objects) + modules,
                      functions: cfgs.count)
    }

    /// The CFG of one function, for `--dump-cfg`.
    public func cfg(of name: String, in tu: TranslationUnit) -> FunctionCFG? {
        let facts = TypeFacts()
        let macros = MacroUses(tu.projectTopLevel())
        func find(_ cursor: Cursor) -> FunctionCFG? {
            for c in cursor.children {
                if c.spelling == name, c.isDefinition,
                   let body = c.children.last(where: { $0.kind == CXCursor_CompoundStmt }) {
                    return CFGBuilder(model: model, typeFacts: facts, macros: macros).build(function: c, body: body)
                }
                if [CXCursor_Namespace, CXCursor_LinkageSpec, CXCursor_StructDecl, CXCursor_ClassDecl].contains(c.kind),
                   let hit = find(c) {
                    return hit
                }
            }
            return nil
        }
        return find(tu.root)
    }
}

extension FunctionCFG {
    /// Graphviz text of the blocks and edges.
    public var graphviz: String {
        var out = "digraph \"\(name)\" {\n  node [shape=box, fontname=monospace];\n"
        for (i, b) in blocks.enumerated() {
            var label = "B\(i)\\l"
            for e in b.elements {
                switch e {
                case .assign(let k, let v, _): label += "\(k?.text ?? "?") = \(v)\\l"
                case .call(let s): label += "call \(s.callee)(\(s.arguments.map(\.text).joined(separator: ", ")))\\l"
                case .pythonDereference(_, let t): label += "deref \(t)\\l"
                case .declare(let k): label += "declare \(k.text)\\l"
                }
            }
            let escaped = label.replacingOccurrences(of: "\"", with: "\\\"")
            out += "  B\(i) [label=\"\(escaped)\"];\n"
            switch b.terminator {
            case .jump(let t): out += "  B\(i) -> B\(t);\n"
            case .branch(_, let t, let f, _, let text):
                let txt = (text ?? "macro").replacingOccurrences(of: "\"", with: "\\\"")
                out += "  B\(i) -> B\(t) [label=\"\(txt)\"];\n  B\(i) -> B\(f) [label=\"!\", style=dashed];\n"
            case .switchOn(_, let cases, let d, _, _):
                for c in cases { out += "  B\(i) -> B\(c.target) [label=\"case \(c.low)\"];\n" }
                out += "  B\(i) -> B\(d) [label=\"default\"];\n"
            case .exit: out += "  B\(i) -> exit;\n"
            case .raise: out += "  B\(i) -> exit [label=\"throw\", style=dashed];\n"
            case .stop: break
            }
        }
        return out + "}\n"
    }
}
