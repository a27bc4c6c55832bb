import Foundation

/// `compile_commands.json`, as CMake (`CMAKE_EXPORT_COMPILE_COMMANDS`), Meson and Bear write it: a JSON array of
/// `{ "directory", "file", "arguments": [...] }` or `{ "directory", "file", "command": "..." }`.
public struct CompilationDatabase: Sendable {
    public struct Entry: Sendable, Equatable {
        /// The source file, absolute.
        public var file: String
        /// The working directory of the compile command.
        public var directory: String
        /// The flags libclang gets: the compiler, `-c`, `-o`, the source file and dependency-file flags
        /// removed; relative include paths (and forced includes, sysroots) made absolute against `directory`.
        public var arguments: [String]
    }

    public var path: String
    public var entries: [Entry]

    /// Reads `path`, a compile_commands.json file or a directory that holds one.
    public static func load(_ path: String) throws -> CompilationDatabase {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LintError.compilationDatabase("\(path) does not exist; -p takes a build directory or its compile_commands.json")
        }
        let file = isDirectory.boolValue ? (path as NSString).appendingPathComponent("compile_commands.json") : path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw LintError.compilationDatabase(isDirectory.boolValue
                ? "\(path) has no compile_commands.json (CMake writes one with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON; Bear with `bear -- make`)"
                : "\(file) cannot be read")
        }
        return try parse(data, path: file)
    }

    public static func parse(_ data: Data, path: String) throws -> CompilationDatabase {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            let why = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
            throw LintError.compilationDatabase("\(path): not valid JSON: \(why.replacingOccurrences(of: "\n", with: " "))")
        }
        guard let array = json as? [Any] else {
            throw LintError.compilationDatabase("\(path): expected a JSON array of compile commands")
        }
        let base = absolutize((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent)
        var entries: [Entry] = []
        var seen = Set<String>()
        for (i, item) in array.enumerated() {
            guard let object = item as? [String: Any] else {
                throw LintError.compilationDatabase("\(path): entry \(i + 1) is not an object")
            }
            guard let directory = object["directory"] as? String, let file = object["file"] as? String else {
                throw LintError.compilationDatabase("\(path): entry \(i + 1) needs \"directory\" and \"file\" strings")
            }
            let argv: [String]
            if let arguments = object["arguments"] as? [Any] {
                guard let strings = arguments as? [String] else {
                    throw LintError.compilationDatabase("\(path): entry \(i + 1): \"arguments\" must be an array of strings")
                }
                argv = strings
            } else if let command = object["command"] as? String {
                guard let split = ShellWords.split(command) else {
                    throw LintError.compilationDatabase("\(path): entry \(i + 1): unbalanced quotes in \"command\"")
                }
                argv = split
            } else {
                throw LintError.compilationDatabase("\(path): entry \(i + 1) needs \"arguments\" (an array) or \"command\" (a string)")
            }
            let dir = absolutize(directory, against: base)
            let source = absolutize(file, against: dir)
            // Several configurations of one file: the first entry wins.
            guard seen.insert(source).inserted else { continue }
            entries.append(Entry(file: source, directory: dir,
                                 arguments: cleanArguments(argv, file: file, source: source, directory: dir)))
        }
        return CompilationDatabase(path: path, entries: entries)
    }

    /// Flags whose value is a path, written either as two words (`-I dir`) or joined (`-Idir`).
    static let pathFlags = ["-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-isysroot", "--sysroot",
                            "-F", "-iprefix", "-iwithprefix", "-include-pch", "-cxx-isystem"]
    /// Dependency-file and output flags that take a value.
    static let droppedWithValue: Set<String> = ["-o", "-MF", "-MT", "-MQ", "-MJ", "--serialize-diagnostics",
                                                "-working-directory"]
    static let dropped: Set<String> = ["-c", "-S", "-E", "-M", "-MM", "-MD", "-MMD", "-MP", "-MG", "-Werror",
                                       "-pedantic-errors", "-fno-canonical-system-headers", "-pipe", "-save-temps"]
    /// Launchers that come before the compiler itself.
    static let launchers: Set<String> = ["ccache", "sccache", "distcc", "icecc"]

    static func cleanArguments(_ argv: [String], file: String, source: String, directory: String) -> [String] {
        var words = argv
        while let first = words.first, launchers.contains((first as NSString).lastPathComponent) { words.removeFirst() }
        if !words.isEmpty { words.removeFirst() }  // the compiler
        var out: [String] = []
        var i = 0
        while i < words.count {
            let w = words[i]
            defer { i += 1 }
            if w == file || absolutize(w, against: directory) == source { continue }
            if dropped.contains(w) || w.hasPrefix("-Werror=") { continue }
            if droppedWithValue.contains(w) { i += 1; continue }
            if w.hasPrefix("-o") || w.hasPrefix("-MF") || w.hasPrefix("-MT") || w.hasPrefix("-MQ") { continue }
            if w == "--" { continue }
            if let flag = pathFlags.first(where: { w == $0 }), i + 1 < words.count {
                out += [flag, absolutize(words[i + 1], against: directory)]
                i += 1
                continue
            }
            if let flag = pathFlags.sorted(by: { $0.count > $1.count }).first(where: { w.hasPrefix($0) && w.count > $0.count }) {
                var value = String(w.dropFirst(flag.count))
                if value.hasPrefix("=") && flag == "--sysroot" { value.removeFirst() }
                out.append(flag + (flag == "--sysroot" ? "=" : "") + absolutize(value, against: directory))
                continue
            }
            out.append(w)
        }
        // No `-working-directory`: libclang applies it with chdir(), to the whole process and every worker.
        return out
    }
}

/// POSIX shell word splitting for compile commands: single quotes, double quotes with backslash escapes,
/// backslash outside quotes. No expansion.
enum ShellWords {
    static func split(_ text: String) -> [String]? {
        var words: [String] = []
        var current = ""
        var inWord = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            switch c {
            case " ", "\t", "\n":
                if inWord { words.append(current); current = ""; inWord = false }
            case "'":
                inWord = true
                guard let end = chars.firstIndex(of: "'") else { return nil }
                current += String(chars[chars.startIndex..<end])
                chars = chars[(end + 1)...]
            case "\"":
                inWord = true
                var closed = false
                while let d = chars.popFirst() {
                    if d == "\"" { closed = true; break }
                    if d == "\\", let next = chars.first, ["\"", "\\", "$", "`", "\n"].contains(next) {
                        chars.removeFirst()
                        if next != "\n" { current.append(next) }
                    } else {
                        current.append(d)
                    }
                }
                if !closed { return nil }
            case "\\":
                inWord = true
                if let next = chars.popFirst(), next != "\n" { current.append(next) }
            default:
                inWord = true
                current.append(c)
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
