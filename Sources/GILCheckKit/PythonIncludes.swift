import Foundation

/// Finds the directories that hold Python.h, so that users need not pass them.
public enum PythonIncludes {
    /// `GILCHECK_PYTHON_INCLUDE` (colon-separated); else `python3-config --includes`; else sysconfig;
    /// else the newest /usr/include/python3.*.
    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        if let value = environment["GILCHECK_PYTHON_INCLUDE"], !value.isEmpty {
            return value.split(separator: ":").map(String.init)
        }
        if let out = run(["python3-config", "--includes"]) {
            let dirs = out.split(whereSeparator: { $0 == " " || $0 == "\n" })
                .filter { $0.hasPrefix("-I") }.map { String($0.dropFirst(2)) }
            let unique = dirs.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            if unique.contains(where: hasPythonH) { return unique }
        }
        if let out = run(["python3", "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"]) {
            let dir = out.trimmingCharacters(in: .whitespacesAndNewlines)
            if hasPythonH(dir) { return [dir] }
        }
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/include")) ?? [])
            .filter { $0.hasPrefix("python3") }.sorted().reversed()
        for c in candidates where hasPythonH("/usr/include/" + c) { return ["/usr/include/" + c] }
        return []
    }

    static func hasPythonH(_ dir: String) -> Bool {
        FileManager.default.fileExists(atPath: dir + "/Python.h")
    }

    private static func run(_ argv: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
