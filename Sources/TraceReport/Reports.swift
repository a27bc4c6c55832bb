import Diagnostics
import Foundation

/// The output formats of `gilcheck trace`.
public enum TraceOutputFormat: String, CaseIterable, Sendable {
    case text, json, sarif, chrome, html

    public func render(_ report: TraceRunReport) -> String {
        switch self {
        case .text: return TraceTextReport().render(report)
        case .json: return TraceJSONReport().render(report)
        case .sarif: return TraceSARIFReport().render(report)
        case .chrome: return ChromeTraceReport().render(report)
        case .html: return TraceHTMLReport().render(report)
        }
    }
}

// MARK: - Text

/// clang-style: `file:line: error: message [rule-id]`, the thread, the stack, notes; then statistics.
public struct TraceTextReport {
    public var maxFrames = 24
    public var maxSites = 20

    public init() {}

    public func render(_ report: TraceRunReport) -> String {
        let a = report.analysis
        let base = report.baseDirectory
        var out = ""
        for w in a.warnings { out += "gilcheck: warning: \(w)\n" }
        for f in a.findings {
            let place = f.location.map { $0.location(relativeTo: base) } ?? "process \(f.pid)"
            let times = f.count > 1 ? " (\(f.count) times)" : ""
            out += "\(place): \(f.severity.rawValue): \(f.message)\(times) [\(f.ruleId)]\n"
            out += "  in \(f.thread.name)" + (a.processes.count > 1 ? ", process \(f.pid)" : "") + "\n"
            out += frames(f.stack, base: base, indent: "    ")
            for n in f.notes { out += "  note: \(n)\n" }
            for r in f.related {
                out += "  \(r.message):\n"
                out += r.stack.isEmpty ? "    (no stack)\n" : frames(r.stack, base: base, indent: "    ")
            }
            out += "\n"
        }
        out += statistics(a)
        out += "\n"
        if !report.command.isEmpty || report.termination != nil {
            out += "program: \(shellQuoted(report.command))"
            if let t = report.termination { out += ": \(t.description)" }
            out += "\n"
        }
        // Other processes of the run that did not end well (a crashed forked child, a failing subprocess).
        let root = a.rootProcessIndex
        for (i, p) in a.processes.enumerated() where i != root {
            guard let end = p.end, end.signal != nil || (end.status ?? 0) != 0 else { continue }
            let origin = p.forked == true ? "forked from \(p.ppid)" : "child of \(p.ppid)"
            out += "process \(p.pid) (\(origin)\(p.command.isEmpty ? "" : ", " + shellQuoted(p.command))): \(end.description)\n"
        }
        let errors = a.findings.filter { $0.severity == .error }.count
        let warnings = a.findings.filter { $0.severity == .warning }.count
        if report.nothingTraced {
            out += "nothing was traced (see the warning above)\n"
        } else if a.findings.isEmpty {
            out += "no GIL faults found\n"
        } else {
            var parts: [String] = []
            if errors > 0 { parts.append("\(errors) error\(errors == 1 ? "" : "s")") }
            if warnings > 0 { parts.append("\(warnings) warning\(warnings == 1 ? "" : "s")") }
            out += parts.joined(separator: " and ") + " found\n"
        }
        let e = a.events
        out += "\(e.recorded) event\(e.recorded == 1 ? "" : "s") recorded in \(e.logFiles) log\(e.logFiles == 1 ? "" : "s")"
        out += a.processes.count > 1 ? " (\(a.processes.count) processes)" : ""
        out += ", \(e.dropped) dropped"
        if e.tornRecords > 0 { out += "; \(e.tornRecords) log\(e.tornRecords == 1 ? "" : "s") ended in a partly written record (ignored)" }
        out += "\n"
        return out
    }

    func frames(_ stack: [StackFrame], base: String?, indent: String) -> String {
        if stack.isEmpty { return indent + "(no stack)\n" }
        var out = ""
        for (i, f) in stack.prefix(maxFrames).enumerated() {
            out += indent + "#\(i) " + describe(f, base: base) + "\n"
        }
        if stack.count > maxFrames { out += indent + "... \(stack.count - maxFrames) more frames\n" }
        return out
    }

    func describe(_ f: StackFrame, base: String?) -> String {
        var text: String
        if let function = f.function {
            text = function
            if f.hasSourceLocation { text += " at " + f.location(relativeTo: base) } else { text += " (\(f.binaryLocation))" }
        } else {
            text = f.location(relativeTo: base)
        }
        if f.inlined == true { text += " (inlined)" }
        return text
    }

    func statistics(_ a: TraceAnalysis) -> String {
        var out = ""
        let threads = a.threads.filter { $0.acquisitions + $0.nestedAcquisitions > 0 || $0.heldMs > 0 }
        if !threads.isEmpty {
            out += "GIL use by thread:\n"
            out += "  " + pad("acquisitions", 12) + pad("held", 11) + pad("waited", 11) + pad("longest", 11) + "  thread\n"
            for t in threads {
                out += "  " + pad("\(t.acquisitions)", 12) + pad(formatDuration(t.heldMs), 11) + pad(formatDuration(t.waitedMs), 11)
                    + pad(formatDuration(t.longestHoldMs), 11) + "  " + t.name + (a.processes.count > 1 ? ", process \(t.pid)" : "") + "\n"
            }
        }
        if !a.sites.isEmpty {
            if let rate = a.sampleRate {
                out += "GIL acquisition sites (hold and wait times: p50 / p99 / max; sampled: every wait of 1 ms or more and"
                    + " every long hold recorded, 1 in \(rate) of the others; counts and percentiles are estimates,"
                    + " --exact-timeline records all):\n"
            } else {
                out += "GIL acquisition sites (hold and wait times: p50 / p99 / max):\n"
            }
            out += "  " + pad("count", 8) + pad("hold", 30) + pad("wait", 30) + "  site\n"
            for s in a.sites.prefix(maxSites) {
                func summary(_ d: DurationSummary) -> String {
                    d.count == 0 ? "-" : "\(formatDuration(d.p50)) / \(formatDuration(d.p99)) / \(formatDuration(d.max))"
                }
                let hold = summary(s.hold), wait = summary(s.wait)
                out += "  " + pad("\(s.acquisitions)", 8) + pad(hold, 30) + pad(wait, 30) + "  \(s.site) \(s.api)\n"
            }
            if a.sites.count > maxSites { out += "  ... \(a.sites.count - maxSites) more sites (--format json lists all)\n" }
        }
        return out
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}

func shellQuoted(_ argv: [String]) -> String {
    argv.map { arg in
        if !arg.isEmpty, arg.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }) { return arg }
        return "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}

// MARK: - JSON

/// The JSON report (version 1, documented in docs/trace-json-schema.md).
public struct TraceJSONReport {
    public init() {}

    struct Document: Encodable {
        var version = 1
        var tool: Tool
        var command: [String]
        var termination: TerminationJSON?
        var exitStatus: Int32
        var findings: [TraceFinding]
        var threads: [ThreadStatistics]
        var sites: [SiteStatistics]
        var events: EventCounts
        var processes: [ProcessSummary]
        var warnings: [String]
        var summary: Summary
        /// Present when the timeline was sampled: see docs/trace-json-schema.md.
        var sampling: Sampling?
    }
    struct Sampling: Encodable { var rate: Int; var longWaitMs: Double }
    struct Tool: Encodable { var name: String; var version: String }
    struct Summary: Encodable { var findings: Int; var errors: Int; var warnings: Int }
    struct TerminationJSON: Encodable {
        var how: String
        var status: Int32?
        var signal: Int32?
        var signalName: String?
        var description: String
    }

    public func render(_ report: TraceRunReport) -> String {
        let a = report.analysis
        var termination: TerminationJSON?
        switch report.termination {
        case .exited(let code)?: termination = TerminationJSON(how: "exited", status: code, description: report.termination!.description)
        case .signaled(let s)?: termination = TerminationJSON(how: "signal", signal: s, signalName: signalName(s), description: report.termination!.description)
        case .watchdog?: termination = TerminationJSON(how: "watchdog", status: TraceFormat.watchdogExitStatus, description: report.termination!.description)
        case nil: termination = nil
        }
        let doc = Document(
            tool: Tool(name: "gilcheck", version: report.toolVersion), command: report.command, termination: termination,
            exitStatus: report.exitStatus.rawValue, findings: a.findings, threads: a.threads, sites: a.sites, events: a.events,
            processes: a.processes, warnings: a.warnings,
            summary: Summary(findings: a.findings.count, errors: a.findings.filter { $0.severity == .error }.count,
                             warnings: a.findings.filter { $0.severity == .warning }.count),
            sampling: a.sampleRate.map { Sampling(rate: $0, longWaitMs: TraceFormat.longWaitNs / 1e6) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(doc), let text = String(data: data, encoding: .utf8) else { return "{}\n" }
        return text + "\n"
    }
}

// MARK: - SARIF

/// SARIF 2.1.0: the trace rules in tool.driver.rules; each result located at its innermost frame with a source
/// line, with the native stack in `stacks` and the other stacks (lock cycles, hangs) as more stacks.
public struct TraceSARIFReport {
    public init() {}

    public func render(_ report: TraceRunReport) -> String {
        let base = report.baseDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        func artifact(_ file: String) -> [String: Any] {
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            if let base, path.hasPrefix(base + "/") {
                return ["uri": percentEncode(String(path.dropFirst(base.count + 1))), "uriBaseId": "%SRCROOT%"]
            }
            return ["uri": "file://" + percentEncode(path)]
        }
        func location(_ f: StackFrame, message: String? = nil) -> [String: Any] {
            var loc: [String: Any] = [:]
            if let file = f.file, let line = f.line, line >= 1 {
                loc["physicalLocation"] = ["artifactLocation": artifact(file), "region": ["startLine": line]]
            } else if let module = f.module, let offset = f.offset, let value = UInt64(offset.dropFirst(2), radix: 16) {
                loc["physicalLocation"] = ["artifactLocation": artifact(module),
                                           "address": ["relativeAddress": Int(truncatingIfNeeded: value), "kind": "instruction"]]
            }
            if let function = f.function { loc["logicalLocations"] = [["name": function, "kind": "function"]] }
            if let message { loc["message"] = ["text": message] }
            return loc
        }
        func stack(_ frames: [StackFrame], _ message: String, _ thread: ThreadRef?) -> [String: Any] {
            ["message": ["text": message],
             "frames": frames.map { f -> [String: Any] in
                 var frame: [String: Any] = ["location": location(f)]
                 if let module = f.module { frame["module"] = (module as NSString).lastPathComponent }
                 if let thread { frame["threadId"] = Int(thread.tid) }
                 return frame
             }]
        }
        func level(_ s: Severity) -> String { s == .error ? "error" : s == .warning ? "warning" : "note" }

        let rules = TraceRule.allCases.map(\.info)
        let ruleIds = rules.map(\.id)
        let ruleObjects: [[String: Any]] = rules.map { r in
            var help = r.rationale
            if !r.wrong.isEmpty { help += "\n\nWrong:\n\(r.wrong)\n\nRight:\n\(r.right)" }
            return ["id": r.id,
                    "name": r.id.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(),
                    "shortDescription": ["text": r.summary], "fullDescription": ["text": r.rationale],
                    "help": ["text": help], "helpUri": "https://gilcheck.invalid/rules/\(r.id)",
                    "defaultConfiguration": ["level": level(r.severity)]]
        }
        let results: [[String: Any]] = report.analysis.findings.map { f in
            var text = f.message
            if f.count > 1 { text += " (\(f.count) times)" }
            text += " — in \(f.thread.name)"
            var result: [String: Any] = [
                "ruleId": f.ruleId, "level": level(f.severity), "message": ["text": text],
                "locations": [f.location.map { location($0) } ?? [:]],
                "stacks": [stack(f.stack, "\(f.thread.name), process \(f.pid)", f.thread)]
                    + f.related.map { stack($0.stack, $0.message, $0.thread) },
                "properties": ["pid": Int(f.pid), "tid": Int(f.thread.tid), "thread": f.thread.name, "count": f.count,
                               "notes": f.notes],
            ]
            if let i = ruleIds.firstIndex(of: f.ruleId) { result["ruleIndex"] = i }
            let related = f.related.compactMap { r -> [String: Any]? in
                guard let top = r.stack.first(where: { $0.hasSourceLocation }) ?? r.stack.first else { return nil }
                return location(top, message: r.message)
            }
            if !related.isEmpty { result["relatedLocations"] = related.enumerated().map { i, l in l.merging(["id": i + 1]) { a, _ in a } } }
            return result
        }
        var invocation: [String: Any] = ["executionSuccessful": report.exitStatus != .internalError,
                                         "commandLine": shellQuoted(report.command)]
        if !report.analysis.warnings.isEmpty {
            invocation["toolExecutionNotifications"] = report.analysis.warnings.map { w -> [String: Any] in
                ["level": report.nothingTraced ? "error" : "warning", "message": ["text": w]]
            }
        }
        if case .exited(let code)? = report.termination { invocation["exitCode"] = Int(code) }
        if case .signaled(let s)? = report.termination { invocation["exitSignalName"] = signalName(s); invocation["exitSignalNumber"] = Int(s) }
        if case .watchdog? = report.termination { invocation["exitCode"] = Int(TraceFormat.watchdogExitStatus) }
        var run: [String: Any] = [
            "tool": ["driver": ["name": "gilcheck", "version": report.toolVersion, "semanticVersion": report.toolVersion,
                                "informationUri": "https://gilcheck.invalid", "rules": ruleObjects]],
            "results": results,
            "invocations": [invocation],
        ]
        if let base { run["originalUriBaseIds"] = ["%SRCROOT%": ["uri": "file://" + percentEncode(base) + "/"]] }
        let document: [String: Any] = ["$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": [run]]
        return jsonText(document)
    }

    private func percentEncode(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "%")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }
}

func jsonText(_ object: Any, pretty: Bool = true) -> String {
    let options: JSONSerialization.WritingOptions = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: options),
          let text = String(data: data, encoding: .utf8) else { return "{}\n" }
    return text + "\n"
}
