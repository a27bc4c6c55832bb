import CLibClang
import Foundation

/// A file position, 1-based, in the file where the user sees it (macro uses resolve to the use site).
public struct SourceLocation: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var offset: Int

    public init(file: String, line: Int, column: Int, offset: Int = 0) {
        self.file = file
        self.line = line
        self.column = column
        self.offset = offset
    }

    /// The expansion location: for code produced by a macro, the place the macro was used.
    init(_ loc: CXSourceLocation) {
        var file: CXFile?
        var line: UInt32 = 0, column: UInt32 = 0, offset: UInt32 = 0
        clang_getExpansionLocation(loc, &file, &line, &column, &offset)
        self.file = file.map { FileNames.shared.name(of: $0) } ?? ""
        self.line = Int(line)
        self.column = Int(column)
        self.offset = Int(offset)
    }

    public static let unknown = SourceLocation(file: "", line: 0, column: 0)

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.file, a.line, a.column) < (b.file, b.line, b.column)
    }

    public var description: String { "\(file):\(line):\(column)" }

    /// `file.c:12`, the file without its directories: how messages name a place.
    public var place: String { "\(file.split(separator: "/").last.map(String.init) ?? file):\(line)" }
}

/// The normalized names of the files of the live translation units, by libclang file handle: building a
/// location's file name (a CXString, a Swift string, normalizing it) for every cursor was a tenth of the time
/// spent lowering functions. A handle belongs to one translation unit, so the table is emptied before any
/// translation unit is disposed (a later unit could get the same address for another file).
final class FileNames: @unchecked Sendable {
    static let shared = FileNames()
    private let lock = NSLock()
    private var names: [UnsafeMutableRawPointer: String] = [:]

    func name(of file: CXFile) -> String {
        lock.lock()
        if let known = names[file] {
            lock.unlock()
            return known
        }
        lock.unlock()
        let name = normalizedPath(string(clang_getFileName(file)))
        lock.lock()
        names[file] = name
        lock.unlock()
        return name
    }

    func forgetAll() {
        lock.lock()
        names.removeAll(keepingCapacity: true)
        lock.unlock()
    }
}

/// `path` with `.` and `dir/..` steps removed, lexically (as clang itself builds include paths): one header
/// reached as `src/../include/x.h` and as `include/x.h` is one file. A relative path stays relative.
public func normalizedPath(_ path: String) -> String {
    guard needsNormalizing(path) else { return path }
    let absolute = path.hasPrefix("/")
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        if part == "." { continue }
        if part == "..", let last = parts.last, last != ".." {
            parts.removeLast()
            continue
        }
        if part == "..", absolute { continue }
        parts.append(part)
    }
    let joined = parts.joined(separator: "/")
    return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
}

/// True when `path` has an empty, `.` or `..` component (a hidden directory such as `.cache` does not count).
private func needsNormalizing(_ path: String) -> Bool {
    var previous: UInt8 = 0
    var dots = 0
    var sawOther = false
    for byte in path.utf8 {
        if byte == UInt8(ascii: "/") {
            if previous == UInt8(ascii: "/") || (!sawOther && dots > 0 && dots <= 2) { return true }
            dots = 0
            sawOther = false
        } else if byte == UInt8(ascii: ".") {
            dots += 1
        } else {
            sawOther = true
        }
        previous = byte
    }
    return !sawOther && dots > 0 && dots <= 2
}

/// A thin value wrapper over CXCursor. Valid while its translation unit lives.
public struct Cursor {
    public let raw: CXCursor
    let tu: CXTranslationUnit?

    init(_ raw: CXCursor, tu: CXTranslationUnit?) {
        self.raw = raw
        self.tu = tu
    }

    public var kind: CXCursorKind { clang_getCursorKind(raw) }
    public var isNull: Bool { clang_Cursor_isNull(raw) != 0 }
    public var spelling: String { string(clang_getCursorSpelling(raw)) }
    public var location: SourceLocation { SourceLocation(clang_getCursorLocation(raw)) }
    public var extentStart: SourceLocation { SourceLocation(clang_getRangeStart(clang_getCursorExtent(raw))) }
    public var extentEnd: SourceLocation { SourceLocation(clang_getRangeEnd(clang_getCursorExtent(raw))) }
    public var isInSystemHeader: Bool { clang_Location_isInSystemHeader(clang_getCursorLocation(raw)) != 0 }
    public var isDefinition: Bool { clang_isCursorDefinition(raw) != 0 }
    /// The defining declaration of what this declares (a class's body), nil when the unit has none.
    public var definition: Cursor? {
        let d = clang_getCursorDefinition(raw)
        return clang_Cursor_isNull(d) != 0 ? nil : Cursor(d, tu: tu)
    }
    public var hash: UInt32 { clang_hashCursor(raw) }
    /// The Unified Symbol Resolution: the same for every declaration of one entity, across translation units.
    public var usr: String { string(clang_getCursorUSR(raw)) }
    public var type: ClangType { ClangType(clang_getCursorType(raw)) }
    public var resultType: ClangType { ClangType(clang_getCursorResultType(raw)) }
    public var storageClass: CX_StorageClass { clang_Cursor_getStorageClass(raw) }
    /// A C++ method declared `static` (called without an object).
    public var isStaticMethod: Bool { clang_CXXMethod_isStatic(raw) != 0 }
    public var isExpression: Bool { clang_isExpression(kind) != 0 }
    public var isStatement: Bool { clang_isStatement(kind) != 0 }
    public var isDeclaration: Bool { clang_isDeclaration(kind) != 0 }
    /// An `inline namespace` (libstdc++'s `std::_V2`, `std::__cxx11`; libc++'s `std::__1`).
    public var isInlineNamespace: Bool { clang_Cursor_isInlineNamespace(raw) != 0 }

    /// Direct children in source order.
    public var children: [Cursor] {
        // Called for nearly every node the lowering looks at: collected in place, with no object to allocate.
        struct Collect { var tu: CXTranslationUnit?; var items: [Cursor] }
        var collect = Collect(tu: tu, items: [])
        withUnsafeMutablePointer(to: &collect) { context in
            _ = clang_visitChildren(raw, { child, _, data in
                let c = data!.assumingMemoryBound(to: Collect.self)
                c.pointee.items.append(Cursor(child, tu: c.pointee.tu))
                return CXChildVisit_Continue
            }, context)
        }
        return collect.items
    }

    /// The only child that is an expression, or nil when there are none or several (the visit stops at the
    /// second): `stripped` asks it of every parenthesis and implicit conversion.
    public var onlyExpressionChild: Cursor? {
        struct Find { var found: CXCursor?; var count: Int }
        var find = Find(found: nil, count: 0)
        withUnsafeMutablePointer(to: &find) { context in
            _ = clang_visitChildren(raw, { child, _, data in
                guard clang_isExpression(clang_getCursorKind(child)) != 0 else { return CXChildVisit_Continue }
                let f = data!.assumingMemoryBound(to: Find.self)
                f.pointee.count += 1
                f.pointee.found = child
                return f.pointee.count > 1 ? CXChildVisit_Break : CXChildVisit_Continue
            }, context)
        }
        guard find.count == 1, let raw = find.found else { return nil }
        return Cursor(raw, tu: tu)
    }

    public var referenced: Cursor? {
        let r = clang_getCursorReferenced(raw)
        return clang_Cursor_isNull(r) != 0 ? nil : Cursor(r, tu: tu)
    }

    public var semanticParent: Cursor? {
        let r = clang_getCursorSemanticParent(raw)
        return clang_Cursor_isNull(r) != 0 ? nil : Cursor(r, tu: tu)
    }

    public func isEqual(_ other: Cursor) -> Bool { clang_equalCursors(raw, other.raw) != 0 }

    /// The integer value of a constant expression, when clang can fold it.
    ///
    /// `clang_Cursor_Evaluate` is only asked about integer-typed expressions built from literals, enumerators,
    /// `const` variables, `sizeof`, casts and operators: libclang 14 crashes on some others (a C++ braced
    /// initializer with a nested list, `{"double", {0}, 'R'}`), and nothing else can be an integer constant.
    public var integerValue: Int? {
        var budget = 64
        guard ClangType.isIntegral(type.canonical.kind), isFoldable(&budget) else { return nil }
        guard let result = clang_Cursor_Evaluate(raw) else { return nil }
        defer { clang_EvalResult_dispose(result) }
        guard clang_EvalResult_getKind(result) == CXEval_Int else { return nil }
        return Int(clang_EvalResult_getAsLongLong(result))
    }

    /// True when every node of the expression is one an integer constant expression can be made of (at most
    /// `budget` nodes are looked at).
    private func isFoldable(_ budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch kind {
        case CXCursor_IntegerLiteral, CXCursor_CharacterLiteral, CXCursor_CXXBoolLiteralExpr:
            return true
        case CXCursor_UnaryExpr:
            // sizeof / alignof: the operand is not evaluated, only its type.
            return ClangType.isIntegral(type.canonical.kind)
        case CXCursor_DeclRefExpr:
            guard let decl = referenced else { return false }
            if decl.kind == CXCursor_EnumConstantDecl { return true }
            let declType = decl.type
            return decl.kind == CXCursor_VarDecl && clang_isConstQualifiedType(declType.raw) != 0
                && ClangType.isIntegral(declType.canonical.kind)
        case CXCursor_ParenExpr, CXCursor_UnaryOperator, CXCursor_BinaryOperator, CXCursor_ConditionalOperator,
             CXCursor_CStyleCastExpr, CXCursor_CXXStaticCastExpr, CXCursor_CXXFunctionalCastExpr, CXCursor_UnexposedExpr:
            guard ClangType.isIntegral(type.canonical.kind) else { return false }
            var operands = 0
            for child in children where child.isExpression {
                operands += 1
                guard child.isFoldable(&budget) else { return false }
            }
            return operands > 0
        default:
            return false
        }
    }

    public var enumConstantValue: Int { Int(clang_getEnumConstantDeclValue(raw)) }

    /// clang's own rendering of the node, independent of macros.
    public var prettyPrinted: String {
        let policy = clang_getCursorPrintingPolicy(raw)
        defer { clang_PrintingPolicy_dispose(policy) }
        return string(clang_getCursorPrettyPrinted(raw, policy))
    }

    /// Spellings of the tokens that start at or after `from` and before `to` (expansion locations).
    public func tokens(from: CXSourceLocation, to: CXSourceLocation) -> [String] {
        guard let tu else { return [] }
        let range = clang_getRange(from, to)
        var tokens: UnsafeMutablePointer<CXToken>?
        var count: UInt32 = 0
        clang_tokenize(tu, range, &tokens, &count)
        guard let tokens else { return [] }
        defer { clang_disposeTokens(tu, tokens, count) }
        return (0..<Int(count)).map { string(clang_getTokenSpelling(tu, tokens[$0])) }
    }

    /// Tokens from `from` up to and including the token at `to`, read where the code is spelled: for code that
    /// comes from a macro, in the macro's definition (or the macro argument) rather than at its use.
    public func spelledTokens(from: CXSourceLocation, to: CXSourceLocation) -> [String] {
        guard let tu else { return [] }
        var f1: CXFile?, f2: CXFile?
        var o1: UInt32 = 0, o2: UInt32 = 0
        clang_getSpellingLocation(from, &f1, nil, nil, &o1)
        clang_getSpellingLocation(to, &f2, nil, nil, &o2)
        guard let f1, let f2, clang_File_isEqual(f1, f2) != 0, o1 <= o2, o2 - o1 < 4096 else { return [] }
        let range = clang_getRange(clang_getLocationForOffset(tu, f1, o1), clang_getLocationForOffset(tu, f2, o2 + 1))
        var tokens: UnsafeMutablePointer<CXToken>?
        var count: UInt32 = 0
        clang_tokenize(tu, range, &tokens, &count)
        guard let tokens else { return [] }
        defer { clang_disposeTokens(tu, tokens, count) }
        return (0..<Int(count)).map { string(clang_getTokenSpelling(tu, tokens[$0])) }
    }

    /// Tokens with their file offsets over this cursor's extent.
    public var extentTokens: [(spelling: String, offset: Int)] {
        guard let tu else { return [] }
        var tokens: UnsafeMutablePointer<CXToken>?
        var count: UInt32 = 0
        clang_tokenize(tu, clang_getCursorExtent(raw), &tokens, &count)
        guard let tokens else { return [] }
        defer { clang_disposeTokens(tu, tokens, count) }
        return (0..<Int(count)).map {
            (string(clang_getTokenSpelling(tu, tokens[$0])),
             SourceLocation(clang_getTokenLocation(tu, tokens[$0])).offset)
        }
    }

    public var rawExtentStart: CXSourceLocation { clang_getRangeStart(clang_getCursorExtent(raw)) }
    public var rawExtentEnd: CXSourceLocation { clang_getRangeEnd(clang_getCursorExtent(raw)) }

    /// True when the cursor's own location comes from a macro expansion.
    public var isInMacroExpansion: Bool {
        let loc = clang_getCursorLocation(raw)
        var f1: CXFile?, f2: CXFile?
        var o1: UInt32 = 0, o2: UInt32 = 0
        clang_getExpansionLocation(loc, &f1, nil, nil, &o1)
        clang_getSpellingLocation(loc, &f2, nil, nil, &o2)
        return o1 != o2 || (f1 != f2)
    }
}

/// A wrapper over CXType.
public struct ClangType {
    public let raw: CXType
    init(_ raw: CXType) { self.raw = raw }

    public var kind: CXTypeKind { raw.kind }
    public var spelling: String { string(clang_getTypeSpelling(raw)) }
    public var canonical: ClangType { ClangType(clang_getCanonicalType(raw)) }
    public var pointee: ClangType { ClangType(clang_getPointeeType(raw)) }
    /// The element type of an array type.
    public var element: ClangType { ClangType(clang_getArrayElementType(raw)) }
    public var isPointer: Bool { canonical.kind == CXType_Pointer }
    /// A pointer to a function (`void (*)(void *)`, `archive_read_callback *`), through typedefs.
    public var isFunctionPointer: Bool {
        let c = canonical
        guard c.kind == CXType_Pointer else { return false }
        let pointee = c.pointee.canonical.kind
        return pointee == CXType_FunctionProto || pointee == CXType_FunctionNoProto
    }
    /// The type of the first template argument (`std::thread` for `std::vector<std::thread>`), if any.
    public var firstTemplateArgument: ClangType? {
        clang_Type_getNumTemplateArguments(raw) > 0 ? ClangType(clang_Type_getTemplateArgumentAsType(raw, 0)) : nil
    }
    public var declaration: Cursor { Cursor(clang_getTypeDeclaration(raw), tu: nil) }
    /// The declared type of a function type's parameter at `index`, nil past the last one (or for a function
    /// declared without a prototype).
    public func parameter(_ index: Int) -> ClangType? {
        let n = clang_getNumArgTypes(raw)
        guard n > index else { return nil }
        return ClangType(clang_getArgType(raw, UInt32(index)))
    }
    public func isSame(as other: ClangType) -> Bool { clang_equalTypes(raw, other.raw) != 0 }
    /// Integer, character, boolean and enumeration types: those of an integer constant expression.
    public static func isIntegral(_ kind: CXTypeKind) -> Bool {
        (kind.rawValue >= CXType_Bool.rawValue && kind.rawValue <= CXType_Int128.rawValue) || kind == CXType_Enum
    }
    public var isFunctionNoReturn: Bool { spelling.contains("__attribute__((noreturn))") }
}

extension Cursor {
    public var kindSpelling: String { string(clang_getCursorKindSpelling(kind)) }

    /// An indented outline of the subtree, for `gilcheck dump-ast`.
    public func dump(depth: Int = 0, into out: inout String) {
        let loc = location
        out += String(repeating: "  ", count: depth)
            + "\(kindSpelling) '\(spelling)' <\(loc.line):\(loc.column)> type='\(type.spelling)'\n"
        for child in children { child.dump(depth: depth + 1, into: &out) }
    }
}

// MARK: - Operators (libclang 17+)

/// The spellings of libclang's binary and unary operator kinds, indexed by the kind's raw value, read once.
/// Index 0 is the invalid kind, which libclang cannot spell (it would index its table at -1).
private let binaryOperatorSpellings: [String] = [""] + (1...Int(CXBinaryOperator_Comma.rawValue)).map {
    string(clang_getBinaryOperatorKindSpelling(CXBinaryOperatorKind(rawValue: UInt32($0))))
}
private let unaryOperatorSpellings: [String] = [""] + (1...Int(CXUnaryOperator_Coawait.rawValue)).map {
    string(clang_getUnaryOperatorKindSpelling(CXUnaryOperatorKind(rawValue: UInt32($0))))
}

extension Cursor {
    /// The operator of a binary or compound-assignment expression as written in C ("=", "&&", "+=", ","), or
    /// "" when this is not one. Exact inside macro expansions too: it comes from the AST, not from tokens.
    public var binaryOperatorSpelling: String {
        let kind = clang_getCursorBinaryOperatorKind(raw)
        guard kind != CXBinaryOperator_Invalid, Int(kind.rawValue) < binaryOperatorSpellings.count else { return "" }
        return binaryOperatorSpellings[Int(kind.rawValue)]
    }

    /// The kind of a unary operator expression, or `nil` when this is not one.
    public var unaryOperatorKind: CXUnaryOperatorKind? {
        let kind = clang_getCursorUnaryOperatorKind(raw)
        return kind == CXUnaryOperator_Invalid ? nil : kind
    }

    /// The operator of a unary expression as written ("!", "&", "*", "-", "++", "--"), or "".
    public var unaryOperatorSpelling: String {
        guard let kind = unaryOperatorKind, Int(kind.rawValue) < unaryOperatorSpellings.count else { return "" }
        return unaryOperatorSpellings[Int(kind.rawValue)]
    }
}
