import CLibClang

/// Splits C and C++ source text into the tokens `clang_tokenize` gives for it (comments included, as single
/// tokens), read straight from the file's buffer. Messages quote short stretches of code (a condition, an
/// argument); asking libclang for those tokens one stretch at a time costs more than lexing them here.
/// Only for text written out in one file: a stretch that comes from a macro, or that holds a line splice,
/// is left to libclang (`nil`).
enum SourceLexer {
    /// Punctuators of three and two characters, as their bytes packed into an integer.
    private static let three: Set<UInt32> = Set([">>=", "<<=", "...", "->*", "<=>"].map(pack))
    private static let two: Set<UInt32> = Set(["->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
                                               "*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=", "##", "::", ".*"].map(pack))
    private static let literalPrefixes: Set<UInt32> = Set(["", "L", "u", "U", "u8"].map(pack))
    private static let rawPrefixes: Set<UInt32> = Set(["R", "LR", "uR", "UR", "u8R"].map(pack))

    private static func pack(_ s: String) -> UInt32 { pack(Array(s.utf8)[...]) }
    private static func pack(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
    private static func pack(_ bytes: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int) -> UInt32 {
        var v: UInt32 = 0
        for k in a..<b { v = v << 8 | UInt32(bytes[k]) }
        return v
    }

    @inline(__always) private static func isIdentifier(_ c: UInt8) -> Bool {
        (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 95 || c == 36 || c >= 0x80
    }

    /// The tokens that start, or whose preceding blank space starts, in `bytes[start..<end]` (the last may run
    /// past `end`), or nil when the text holds a backslash-newline.
    static func tokens(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> [String]? {
        var out: [String] = []
        var i = start
        let n = bytes.count
        func emit(_ a: Int, _ b: Int) {
            out.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[a..<b]), as: UTF8.self))
        }
        while i < end && i < n {
            // Like libclang, a token counts when the blank space before it starts in range.
            while i < n, bytes[i] == 32 || (bytes[i] >= 9 && bytes[i] <= 13) { i += 1 }
            guard i < n else { break }
            let c = bytes[i]
            if c == 92 { return nil }   // a line splice (or a stray backslash): libclang knows best
            let s = i
            if c == 47, i + 1 < n, bytes[i + 1] == 47 {             // line comment
                while i < n, bytes[i] != 10 { if bytes[i] == 92 { return nil }; i += 1 }
                if i > s, bytes[i - 1] == 13 { emit(s, i - 1) } else { emit(s, i) }
                continue
            }
            if c == 47, i + 1 < n, bytes[i + 1] == 42 {             // block comment
                i += 2
                while i + 1 < n, !(bytes[i] == 42 && bytes[i + 1] == 47) { i += 1 }
                i = min(n, i + 2)
                emit(s, i)
                continue
            }
            if c == 34 || c == 39 || (isIdentifier(c) && !(c >= 48 && c <= 57)) {
                // An identifier, or a literal with an encoding prefix (L"", u8'', R"(...)").
                while i < n, isIdentifier(bytes[i]) { i += 1 }
                let prefix = i - s <= 3 ? pack(bytes, s, i) : UInt32.max
                if i < n, bytes[i] == 34, rawPrefixes.contains(prefix) { return nil }   // raw strings: rare
                if i < n, bytes[i] == 34 || bytes[i] == 39, literalPrefixes.contains(prefix) {
                    let quote = bytes[i]
                    i += 1
                    while i < n, bytes[i] != quote, bytes[i] != 10 {
                        if bytes[i] == 92 { i += 1 }
                        i += 1
                    }
                    i = min(n, i + 1)
                }
                emit(s, i)
                continue
            }
            if (c >= 48 && c <= 57) || (c == 46 && i + 1 < n && bytes[i + 1] >= 48 && bytes[i + 1] <= 57) {
                // A preprocessing number: digits, letters, dots, digit separators, signed exponents.
                i += 1
                while i < n {
                    let d = bytes[i]
                    if (d == 43 || d == 45), [101, 69, 112, 80].contains(bytes[i - 1]) { i += 1; continue }
                    if isIdentifier(d) || d == 46 { i += 1; continue }
                    if d == 39, i + 1 < n, isIdentifier(bytes[i + 1]) { i += 1; continue }
                    break
                }
                emit(s, i)
                continue
            }
            if i + 3 <= n, three.contains(pack(bytes, i, i + 3)) { i += 3 }
            else if i + 2 <= n, two.contains(pack(bytes, i, i + 2)) { i += 2 }
            else { i += 1 }
            emit(s, i)
        }
        return out
    }
}

extension Cursor {
    /// `tokens(from:to:)`, lexed from the file's text when both ends expand in the same file and `to` is written
    /// there (not inside a macro); libclang's tokens otherwise. A start inside a macro counts from the macro's
    /// use, which is also where a reader looks (libclang reads such a range from the macro's definition, which
    /// can be a megabyte before the use in generated code). With `throughEnd`, a token that starts at `to` is
    /// included, as libclang does for a location made from a file offset (`clang_getLocationForOffset`).
    public func sourceTokens(from: CXSourceLocation, to: CXSourceLocation, throughEnd: Bool = false) -> [String] {
        if let tu {
            var f1: CXFile?, f2: CXFile?, s2: CXFile?
            var o1: UInt32 = 0, o2: UInt32 = 0, p2: UInt32 = 0
            clang_getExpansionLocation(from, &f1, nil, nil, &o1)
            clang_getExpansionLocation(to, &f2, nil, nil, &o2)
            clang_getSpellingLocation(to, &s2, nil, nil, &p2)
            if let f1, let f2, let s2, clang_File_isEqual(f1, f2) != 0, clang_File_isEqual(f2, s2) != 0, o2 == p2, o1 <= o2 {
                var size = 0
                if let base = clang_getFileContents(tu, f1, &size), Int(o2) <= size {
                    let buffer = UnsafeBufferPointer(start: UnsafeRawPointer(base).assumingMemoryBound(to: UInt8.self), count: size)
                    if let lexed = SourceLexer.tokens(buffer, from: Int(o1), to: Int(o2) + (throughEnd ? 1 : 0)) { return lexed }
                }
            }
        }
        return tokens(from: from, to: to)
    }

    /// Runs `body` on the text of the file the cursor's extent is written in, read from libclang's own buffer
    /// (no copy), with the extent's start and end offsets in it; nil when the extent does not start and end in
    /// one file.
    public func withExtentText<R>(_ body: (UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> R) -> R? {
        guard let tu else { return nil }
        let extent = clang_getCursorExtent(raw)
        var f1: CXFile?, f2: CXFile?
        var o1: UInt32 = 0, o2: UInt32 = 0
        clang_getExpansionLocation(clang_getRangeStart(extent), &f1, nil, nil, &o1)
        clang_getExpansionLocation(clang_getRangeEnd(extent), &f2, nil, nil, &o2)
        guard let f1, let f2, clang_File_isEqual(f1, f2) != 0, o1 <= o2 else { return nil }
        var size = 0
        guard let base = clang_getFileContents(tu, f1, &size), Int(o2) <= size else { return nil }
        return body(UnsafeBufferPointer(start: UnsafeRawPointer(base).assumingMemoryBound(to: UInt8.self), count: size),
                    Int(o1), Int(o2))
    }
}
