import CLibClang
import Foundation

/// A parser error or warning that libclang reported for a translation unit.
public struct ParserDiagnostic: Sendable, Equatable {
    public enum Severity: String, Sendable { case note, warning, error, fatal }
    public var severity: Severity
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
}

public enum ClangError: Error, CustomStringConvertible, Equatable {
    case parseFailed(file: String, code: Int)

    public var description: String {
        switch self {
        case .parseFailed(let file, let code):
            return "\(file): libclang could not parse the file (CXErrorCode \(code))"
        }
    }
}

/// Owns a libclang index. One per thread: an index and its translation units are never shared between threads.
public final class ClangIndex {
    let raw: CXIndex

    public init() {
        raw = clang_createIndex(0, 0)
    }

    deinit { clang_disposeIndex(raw) }

    /// Parses `path` with `arguments` (compiler flags, without the file name).
    public func parse(path: String, arguments: [String]) throws -> TranslationUnit {
        var arguments = arguments
        if let resources = LibClangProcess.bundledResourceDirectory,
           !arguments.contains(where: { $0 == "-resource-dir" || $0.hasPrefix("-resource-dir=") }) {
            arguments = ["-resource-dir", resources] + arguments
        }
        var tu: CXTranslationUnit?
        let options = CXTranslationUnit_KeepGoing.rawValue | CXTranslationUnit_DetailedPreprocessingRecord.rawValue
        let code: CXErrorCode = withCStrings(arguments) { argv in
            clang_parseTranslationUnit2(raw, path, argv, Int32(arguments.count), nil, 0, options, &tu)
        }
        guard code == CXError_Success, let tu else {
            throw ClangError.parseFailed(file: path, code: Int(code.rawValue))
        }
        return TranslationUnit(raw: tu, index: self)
    }
}

/// A parsed translation unit; cursors taken from it are valid while it lives.
public final class TranslationUnit {
    let raw: CXTranslationUnit
    let index: ClangIndex

    init(raw: CXTranslationUnit, index: ClangIndex) {
        self.raw = raw
        self.index = index
    }

    deinit {
        FileNames.shared.forgetAll()
        clang_disposeTranslationUnit(raw)
    }

    public var root: Cursor { Cursor(clang_getTranslationUnitCursor(raw), tu: raw) }

    /// The top-level cursors written outside system headers: declarations, definitions and macro uses, in
    /// source order. Generated code has hundreds of thousands of top-level cursors, most of them macro uses in
    /// headers: the passes over a unit share this one list instead of each visiting the root.
    public func projectTopLevel() -> [Cursor] {
        root.children.filter { !$0.isInSystemHeader }
    }

    /// Every file the translation unit included, directly or not (paths as clang opened them, normalized).
    public var includedFiles: [String] {
        final class Box { var files: [String] = [] }
        let box = Box()
        withExtendedLifetime(box) {
            clang_getInclusions(raw, { file, _, depth, data in
                guard depth > 0, let file, let data else { return }
                Unmanaged<Box>.fromOpaque(data).takeUnretainedValue().files.append(normalizedPath(string(clang_getFileName(file))))
            }, Unmanaged.passUnretained(box).toOpaque())
        }
        return box.files
    }

    public var diagnostics: [ParserDiagnostic] {
        let count = clang_getNumDiagnostics(raw)
        var result: [ParserDiagnostic] = []
        for i in 0..<count {
            guard let diag = clang_getDiagnostic(raw, i) else { continue }
            defer { clang_disposeDiagnostic(diag) }
            let severity: ParserDiagnostic.Severity
            switch clang_getDiagnosticSeverity(diag) {
            case CXDiagnostic_Fatal: severity = .fatal
            case CXDiagnostic_Error: severity = .error
            case CXDiagnostic_Warning: severity = .warning
            case CXDiagnostic_Note: severity = .note
            default: continue
            }
            let loc = SourceLocation(clang_getDiagnosticLocation(diag))
            result.append(ParserDiagnostic(severity: severity, file: loc.file, line: loc.line, column: loc.column,
                                           message: string(clang_getDiagnosticSpelling(diag))))
        }
        return result
    }
}

/// Converts and frees a CXString.
func string(_ s: CXString) -> String {
    defer { clang_disposeString(s) }
    guard let c = clang_getCString(s) else { return "" }
    return String(cString: c)
}

func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let duplicated = strings.map { strdup($0) }
    defer { duplicated.forEach { free($0) } }
    let pointers = duplicated.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
