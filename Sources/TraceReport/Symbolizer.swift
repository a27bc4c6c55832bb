import Foundation

/// A loaded object of a traced process (a `module` record).
public struct LoadedModule: Sendable, Hashable {
    /// The load bias (dlpi_addr): offsets in the file are `address - base`. 0 for a non-PIE program.
    public var base: UInt64
    /// The lowest and the end of the highest segment.
    public var start: UInt64
    public var end: UInt64
    public var flags: ModuleFlags
    public var path: String

    public init(base: UInt64, end: UInt64, flags: ModuleFlags, path: String, start: UInt64? = nil) {
        self.base = base
        self.start = start ?? base
        self.end = end
        self.flags = flags
        self.path = path
    }

    public var name: String { (path as NSString).lastPathComponent }

    /// What the module is, for reports: user, interpreter, tracer or system.
    public var kind: String {
        if flags.contains(.tracer) { return "tracer" }
        if flags.contains(.interpreter) { return "interpreter" }
        if flags.contains(.user) { return "user" }
        if flags.contains(.system) { return "system" }
        return "user"
    }
}

/// One source-level frame for an address: with inlining, one address gives several (innermost first).
public struct SourceFrame: Sendable, Hashable {
    public var function: String?
    public var file: String?
    public var line: Int?

    public init(function: String?, file: String?, line: Int?) {
        self.function = function
        self.file = file
        self.line = line
    }
}

/// Turns module offsets into functions and source lines. `Addr2lineSymbolizer` runs binutils; tests use fakes.
public protocol Symbolizer {
    /// Code offsets (already inside the call instruction for return addresses) → frames, innermost first.
    func symbolize(modulePath: String, offsets: [UInt64]) -> [UInt64: [SourceFrame]]
    /// The data symbol (a global mutex) that contains `offset`, if the module's symbol table has one.
    func dataSymbol(modulePath: String, offset: UInt64) -> String?
}

/// Symbolizes nothing: `--no-symbolize`, or when no tool is available. Frames show module+offset.
public struct NoSymbolizer: Symbolizer {
    public init() {}
    public func symbolize(modulePath: String, offsets: [UInt64]) -> [UInt64: [SourceFrame]] { [:] }
    public func dataSymbol(modulePath: String, offset: UInt64) -> String? { nil }
}

/// `addr2line -a -f -C -i -e MODULE 0xOFFSET…`, one batch per module; `nm -C -S` for data symbols.
public final class Addr2lineSymbolizer: Symbolizer {
    private let addr2line: String
    private let nm: String?
    private var dataSymbols: [String: [(start: UInt64, size: UInt64, name: String)]] = [:]

    /// Finds the tools in `PATH`; nil when no addr2line is installed.
    public init?(searchPath: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") {
        let dirs = searchPath.split(separator: ":").map(String.init)
        func find(_ names: [String]) -> String? {
            for name in names {
                for dir in dirs where FileManager.default.isExecutableFile(atPath: dir + "/" + name) { return dir + "/" + name }
            }
            return nil
        }
        guard let tool = find(["addr2line", "llvm-addr2line", "eu-addr2line"]) else { return nil }
        addr2line = tool
        nm = find(["nm", "llvm-nm"])
    }

    public func symbolize(modulePath: String, offsets: [UInt64]) -> [UInt64: [SourceFrame]] {
        guard FileManager.default.isReadableFile(atPath: modulePath), !offsets.isEmpty else { return [:] }
        var result: [UInt64: [SourceFrame]] = [:]
        let unique = Array(Set(offsets)).sorted()
        for start in stride(from: 0, to: unique.count, by: 400) {
            let chunk = Array(unique[start..<min(start + 400, unique.count)])
            let args = ["-a", "-f", "-C", "-i", "-e", modulePath] + chunk.map { "0x" + String($0, radix: 16) }
            guard let output = captureOutput(addr2line, args) else { continue }
            for (offset, frames) in Self.parse(output) { result[offset] = frames }
        }
        return result
    }

    /// Parses `-a -f -i` output: an `0x…` address line, then function/file:line pairs (innermost first).
    static func parse(_ output: String) -> [UInt64: [SourceFrame]] {
        var result: [UInt64: [SourceFrame]] = [:]
        var current: UInt64?
        var pendingFunction: String?
        for line in output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("0x"), let value = UInt64(line.dropFirst(2), radix: 16), pendingFunction == nil {
                current = value
                result[value] = []
                continue
            }
            guard let address = current else { continue }
            if let function = pendingFunction {
                pendingFunction = nil
                var location = line
                if let paren = location.range(of: " (discriminator") { location = String(location[..<paren.lowerBound]) }
                var file: String?
                var lineNumber: Int?
                if let colon = location.lastIndex(of: ":") {
                    let f = String(location[..<colon])
                    if f != "??" && !f.isEmpty { file = f }
                    if let n = Int(location[location.index(after: colon)...]), n > 0 { lineNumber = n }
                }
                if file == nil { lineNumber = nil }
                let name = function == "??" ? nil : function
                if name != nil || file != nil {
                    result[address, default: []].append(SourceFrame(function: name, file: file, line: lineNumber))
                }
            } else if !line.isEmpty {
                pendingFunction = line
            }
        }
        return result
    }

    public func dataSymbol(modulePath: String, offset: UInt64) -> String? {
        if dataSymbols[modulePath] == nil {
            var table: [(start: UInt64, size: UInt64, name: String)] = []
            if let nm, FileManager.default.isReadableFile(atPath: modulePath),
               let output = captureOutput(nm, ["-C", "-S", "--defined-only", modulePath]) {
                for line in output.split(separator: "\n") {
                    // "0000000000004040 0000000000000028 B log_mutex"
                    let parts = line.split(separator: " ", maxSplits: 3)
                    guard parts.count == 4, let start = UInt64(parts[0], radix: 16), let size = UInt64(parts[1], radix: 16),
                          "bBdDgGsS".contains(parts[2]) else { continue }
                    table.append((start, size, String(parts[3])))
                }
            }
            dataSymbols[modulePath] = table.sorted { $0.start < $1.start }
        }
        let table = dataSymbols[modulePath] ?? []
        for symbol in table where symbol.start <= offset && offset < symbol.start + max(symbol.size, 1) {
            return offset == symbol.start ? symbol.name : "\(symbol.name)+0x\(String(offset - symbol.start, radix: 16))"
        }
        return nil
    }
}

/// A frame of a reported stack.
public struct StackFrame: Codable, Sendable, Hashable {
    /// The address as recorded (a return address for call sites), `0x…`.
    public var pc: String
    public var function: String?
    public var file: String?
    public var line: Int?
    /// The module's path, when the address lies in a known module.
    public var module: String?
    /// Offset of the address in its module, `0x…`.
    public var offset: String?
    /// user, interpreter, system or tracer.
    public var moduleKind: String?
    /// True when this frame was inlined into the frame that follows it (same address).
    public var inlined: Bool?

    public init(pc: String, function: String? = nil, file: String? = nil, line: Int? = nil, module: String? = nil,
                offset: String? = nil, moduleKind: String? = nil, inlined: Bool? = nil) {
        self.pc = pc
        self.function = function
        self.file = file
        self.line = line
        self.module = module
        self.offset = offset
        self.moduleKind = moduleKind
        self.inlined = inlined
    }

    public var hasSourceLocation: Bool { file != nil && (line ?? 0) > 0 }

    /// `module+0xoffset`, or the bare pc.
    public var binaryLocation: String {
        if let module, let offset { return (module as NSString).lastPathComponent + "+" + offset }
        return pc
    }

    /// `file:line` (relative to `base` when inside it), else `module+0xoffset`.
    public func location(relativeTo base: String? = nil) -> String {
        if let file, let line, line > 0 { return displayPath(file, relativeTo: base) + ":\(line)" }
        return binaryLocation
    }
}

/// A path relative to `base` when it lies inside it.
func displayPath(_ path: String, relativeTo base: String?) -> String {
    guard let base, !base.isEmpty else { return path }
    let prefix = base.hasSuffix("/") ? base : base + "/"
    return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
}

func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

/// Maps the addresses of each process to modules and symbols, with one symbolizer batch per module.
final class AddressResolver {
    private let symbolizer: any Symbolizer
    private var modules: [UInt32: [LoadedModule]] = [:]
    private var cache: [String: [UInt64: [SourceFrame]]] = [:]

    init(symbolizer: any Symbolizer) { self.symbolizer = symbolizer }

    func setModules(_ list: [LoadedModule], pid: UInt32) { modules[pid] = list }

    /// The module holding `address`: the narrowest range that contains it (a non-PIE program's range starts at 0).
    func module(pid: UInt32, address: UInt64) -> LoadedModule? {
        var best: LoadedModule?
        for m in modules[pid] ?? [] where m.start <= address && address < m.end {
            if best == nil || m.end - m.start < best!.end - best!.start { best = m }
        }
        return best
    }

    /// Symbolizes many addresses at once: (pid, address, isReturnAddress).
    func prefetch(_ items: [(UInt32, UInt64, Bool)]) {
        var wanted: [String: Set<UInt64>] = [:]
        for (pid, address, isReturn) in items where address != 0 {
            guard let m = module(pid: pid, address: address) else { continue }
            let offset = lookupOffset(m, address, isReturn)
            if cache[m.path]?[offset] == nil { wanted[m.path, default: []].insert(offset) }
        }
        for (path, offsets) in wanted {
            let resolved = symbolizer.symbolize(modulePath: path, offsets: Array(offsets))
            for offset in offsets { cache[path, default: [:]][offset] = resolved[offset] ?? [] }
        }
    }

    private func lookupOffset(_ m: LoadedModule, _ address: UInt64, _ isReturn: Bool) -> UInt64 {
        // A return address points after the call; one byte back lands inside the call instruction.
        let a = isReturn && address > m.base ? address - 1 : address
        return a - m.base
    }

    /// The frames for one address (several when inlined), innermost first.
    func frames(pid: UInt32, address: UInt64, isReturnAddress: Bool = true) -> [StackFrame] {
        guard let m = module(pid: pid, address: address) else { return [StackFrame(pc: hex(address))] }
        let offset = lookupOffset(m, address, isReturnAddress)
        if cache[m.path]?[offset] == nil { prefetch([(pid, address, isReturnAddress)]) }
        let source = cache[m.path]?[offset] ?? []
        let base = StackFrame(pc: hex(address), module: m.path, offset: hex(address - m.base), moduleKind: m.kind)
        if source.isEmpty { return [base] }
        return source.enumerated().map { i, s in
            var f = base
            f.function = s.function
            f.file = s.file
            f.line = s.line
            if i < source.count - 1 { f.inlined = true }
            return f
        }
    }

    /// A native stack (return addresses, innermost first), without the tracer's own frames on top.
    func stack(pid: UInt32, addresses: [UInt64]) -> [StackFrame] {
        var list = addresses.filter { $0 != 0 }
        // Frames down to the innermost call into the tracer's hook are the hook and the real function it wraps
        // (a GIL wait inside PyGILState_Ensure): the user's frame is the one that called the hook.
        if let hook = list.prefix(48).lastIndex(where: { module(pid: pid, address: $0)?.flags.contains(.tracer) == true }) {
            list.removeFirst(hook + 1)
        }
        return list.flatMap { frames(pid: pid, address: $0) }
    }

    /// `function at file:line`-style short text for one address, for messages.
    func describe(pid: UInt32, address: UInt64, isReturnAddress: Bool = true, base: String?) -> String {
        guard address != 0 else { return "an unknown place" }
        let f = frames(pid: pid, address: address, isReturnAddress: isReturnAddress)
        let innermost = f.first { $0.hasSourceLocation } ?? f[0]
        return innermost.location(relativeTo: base)
    }

    /// The function name at an address (a thread's start routine).
    func functionName(pid: UInt32, address: UInt64) -> String? {
        frames(pid: pid, address: address, isReturnAddress: false).last?.function
    }

    func lockName(pid: UInt32, lock: UInt64) -> String {
        if lock == TraceFormat.gilLock { return "the GIL" }
        if let m = module(pid: pid, address: lock), let symbol = symbolizer.dataSymbol(modulePath: m.path, offset: lock - m.base) {
            return "mutex '\(symbol)'"
        }
        return "mutex \(hex(lock))"
    }
}
