import Foundation

// MARK: - Chrome trace events

/// Chrome trace-event JSON (opens in Perfetto and chrome://tracing): one track per thread with "X" events for GIL
/// holds, GIL waits and mutex waits, long holds flagged, and an instant event per finding.
public struct ChromeTraceReport {
    public init() {}

    public func render(_ report: TraceRunReport) -> String {
        let a = report.analysis
        var events: [[String: Any]] = []
        for p in a.processes {
            let name = p.command.isEmpty ? "process \(p.pid)" : "\(shellQuoted(p.command)) (pid \(p.pid))"
            events.append(["name": "process_name", "ph": "M", "pid": Int(p.pid), "tid": 0, "args": ["name": name]])
        }
        for (index, lane) in a.timeline.lanes.enumerated() {
            let pid = Int(lane.pid), tid = Int(lane.tid)
            events.append(["name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": ["name": lane.name]])
            events.append(["name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid, "args": ["sort_index": index]])
            for s in lane.spans {
                var name: String, category: String, color: String
                switch s.kind {
                case .held:
                    category = "gil"
                    if s.open { name = "GIL held (never released)"; color = "bad" }
                    else if s.long { name = "GIL held > \(formatDuration(a.timeline.longHoldMs))"; color = "terrible"; category = "gil,long-hold" }
                    else { name = "GIL held"; color = "good" }
                case .wait: name = "waiting for the GIL"; category = "wait"; color = "grey"
                case .mutexWait: name = "waiting for a mutex"; category = "wait"; color = "thread_state_iowait"
                }
                events.append(["name": name, "cat": category, "ph": "X", "pid": pid, "tid": tid, "cname": color,
                               "ts": micro(s.startMs), "dur": max(0, micro(s.endMs) - micro(s.startMs)),
                               "args": ["detail": s.label]])
            }
            for m in lane.marks {
                events.append(["name": m.ruleId, "cat": "finding", "ph": "i", "s": "t", "pid": pid, "tid": tid,
                               "ts": micro(m.timeMs), "args": ["message": m.message]])
            }
        }
        var other: [String: Any] = ["tool": "gilcheck \(report.toolVersion)", "command": shellQuoted(report.command),
                                    "findings": a.findings.count, "eventsRecorded": a.events.recorded,
                                    "eventsDropped": a.events.dropped, "exitStatus": Int(report.exitStatus.rawValue)]
        if !a.warnings.isEmpty { other["warnings"] = a.warnings }
        if let t = report.termination { other["termination"] = t.description }
        if let rate = a.sampleRate {
            other["sampling"] = sampledHolds(rate)
        }
        return jsonText(["traceEvents": events, "displayTimeUnit": "ms", "otherData": other], pretty: false)
    }

    /// Microseconds, rounded to nanoseconds.
    private func micro(_ ms: Double) -> Double { (ms * 1_000_000).rounded() / 1000 }
}

/// Which holds a sampled timeline shows, for the pictures.
func sampledHolds(_ rate: Int) -> String {
    "every long hold and every wait of 1 ms or more, 1 in \(rate) of the other holds after each thread's first 256"
        + " (gilcheck trace --exact-timeline records all)"
}

// MARK: - SVG timeline

/// A picture of the run: one lane per thread, GIL holds as bars (long ones red, never-released ones orange),
/// waits hatched grey, findings as red markers with their message on hover.
public struct TimelineSVG {
    public var width = 1200.0
    public var labelWidth = 330.0
    public var laneHeight = 20.0
    public var laneGap = 6.0

    public init() {}

    public func render(_ report: TraceRunReport, standalone: Bool = true) -> String {
        let t = report.analysis.timeline
        let plotLeft = labelWidth, plotWidth = width - labelWidth - 20
        let top = 44.0
        let lanes = t.lanes
        let height = top + Double(max(lanes.count, 1)) * (laneHeight + laneGap) + 50 + (report.analysis.sampleRate == nil ? 0 : 16)
        let duration = max(t.durationMs, 0.001)
        func x(_ ms: Double) -> Double { plotLeft + max(0, min(ms, duration)) / duration * plotWidth }
        func num(_ v: Double) -> String { String(format: "%.1f", v) }

        var svg = standalone ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" : ""
        svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        svg += """
            <defs>
              <pattern id="gilcheck-wait" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
                <rect width="6" height="6" fill="#e0e0e0"/><line x1="0" y1="0" x2="0" y2="6" stroke="#757575" stroke-width="2"/>
              </pattern>
              <pattern id="gilcheck-mutex" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">
                <rect width="6" height="6" fill="#e3f2fd"/><line x1="0" y1="0" x2="0" y2="6" stroke="#1e88e5" stroke-width="2"/>
              </pattern>
            </defs>
            <rect width="100%" height="100%" fill="white"/>

            """
        let title = "gilcheck trace: " + (report.command.isEmpty ? "" : shellQuoted(report.command))
            + (report.termination.map { " — \($0.description)" } ?? "")
        svg += "<text x=\"8\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(xml(title))</text>\n"
        // Time axis.
        let step = niceStep(duration / 8)
        var tick = 0.0
        while tick <= duration + step / 1000 {
            let tx = x(tick)
            svg += "<line x1=\"\(num(tx))\" y1=\"\(num(top - 6))\" x2=\"\(num(tx))\" y2=\"\(num(height - 44))\" stroke=\"#eeeeee\"/>"
            svg += "<text x=\"\(num(tx))\" y=\"\(num(top - 10))\" text-anchor=\"middle\" fill=\"#616161\">\(xml(formatDuration(tick)))</text>\n"
            tick += step
        }
        for (i, lane) in lanes.enumerated() {
            let y = top + Double(i) * (laneHeight + laneGap)
            svg += "<g>\n<rect x=\"\(num(plotLeft))\" y=\"\(num(y))\" width=\"\(num(plotWidth))\" height=\"\(num(laneHeight))\" fill=\"#fafafa\" stroke=\"#e0e0e0\"/>\n"
            let label = lane.name.count > 52 ? String(lane.name.prefix(51)) + "…" : lane.name
            let pidText = report.analysis.processes.count > 1 ? "[\(lane.pid)] " : ""
            svg += "<text x=\"8\" y=\"\(num(y + laneHeight * 0.7))\"><title>\(xml(lane.name))</title>\(xml(pidText + label))</text>\n"
            for kind in [SpanKind.wait, .mutexWait, .held] {
                for s in merged(lane.spans.filter { $0.kind == kind }, x: x) {
                    let fill: String
                    switch kind {
                    case .wait: fill = "url(#gilcheck-wait)"
                    case .mutexWait: fill = "url(#gilcheck-mutex)"
                    case .held: fill = s.open ? "#fb8c00" : s.long ? "#e53935" : "#43a047"
                    }
                    let inset = kind == .held ? 3.0 : 5.0
                    svg += "<rect x=\"\(num(s.x0))\" y=\"\(num(y + inset))\" width=\"\(num(max(0.6, s.x1 - s.x0)))\" height=\"\(num(laneHeight - 2 * inset))\" fill=\"\(fill)\"><title>\(xml(s.label))</title></rect>\n"
                }
            }
            for m in lane.marks {
                let mx = x(m.timeMs)
                svg += "<path d=\"M\(num(mx)) \(num(y - 1)) l5 -6 h-10 z\" fill=\"#b71c1c\" stroke=\"white\" stroke-width=\"0.5\"><title>\(xml("[\(m.ruleId)] \(m.message) at \(formatDuration(m.timeMs))"))</title></path>\n"
                svg += "<line x1=\"\(num(mx))\" y1=\"\(num(y))\" x2=\"\(num(mx))\" y2=\"\(num(y + laneHeight))\" stroke=\"#b71c1c\" stroke-width=\"1.5\"/>\n"
            }
            svg += "</g>\n"
        }
        if lanes.isEmpty {
            svg += "<text x=\"\(num(plotLeft))\" y=\"\(num(top + 14))\" fill=\"#616161\">no thread was traced</text>\n"
        }
        // Legend.
        let ly = height - 22 - (report.analysis.sampleRate == nil ? 0 : 16)
        var lx = 8.0
        func legend(_ fill: String, _ text: String) {
            svg += "<rect x=\"\(num(lx))\" y=\"\(num(ly - 10))\" width=\"18\" height=\"12\" fill=\"\(fill)\" stroke=\"#9e9e9e\" stroke-width=\"0.5\"/>"
            svg += "<text x=\"\(num(lx + 24))\" y=\"\(num(ly))\">\(xml(text))</text>\n"
            lx += 34 + Double(text.count) * 6.2
        }
        legend("#43a047", "GIL held")
        legend("#e53935", "held longer than \(formatDuration(t.longHoldMs))")
        legend("#fb8c00", "never released")
        legend("url(#gilcheck-wait)", "waiting for the GIL")
        legend("url(#gilcheck-mutex)", "waiting for a mutex")
        svg += "<path d=\"M\(num(lx + 9)) \(num(ly + 1)) l5 -9 h-10 z\" fill=\"#b71c1c\"/><text x=\"\(num(lx + 24))\" y=\"\(num(ly))\">finding</text>\n"
        if let rate = report.analysis.sampleRate {
            // A sampled run shows the holds it recorded: every long hold and long wait, 1 in `rate` of the others.
            svg += "<text x=\"8\" y=\"\(num(ly + 16))\" fill=\"#616161\">sampled: \(xml(sampledHolds(rate)))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    struct Bar { var x0: Double; var x1: Double; var long: Bool; var open: Bool; var label: String; var count: Int; var totalMs: Double }

    /// Spans closer than half a pixel become one bar, so that a million short holds stay a small picture.
    func merged(_ spans: [TimelineSpan], x: (Double) -> Double) -> [Bar] {
        var bars: [Bar] = []
        for s in spans.sorted(by: { $0.startMs < $1.startMs }) {
            let x0 = x(s.startMs), x1 = x(s.endMs)
            if var last = bars.last, x0 <= last.x1 + 0.5 {
                last.x1 = max(last.x1, x1)
                last.long = last.long || s.long
                last.open = last.open || s.open
                last.count += 1
                last.totalMs += s.endMs - s.startMs
                last.label = "\(last.count) spans, \(formatDuration(last.totalMs)) in total"
                bars[bars.count - 1] = last
            } else {
                bars.append(Bar(x0: x0, x1: x1, long: s.long, open: s.open, label: s.label, count: 1, totalMs: s.endMs - s.startMs))
            }
        }
        return bars
    }

    /// 1, 2 or 5 times a power of ten.
    func niceStep(_ raw: Double) -> Double {
        guard raw > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 5, 10] where raw <= m * magnitude { return m * magnitude }
        return 10 * magnitude
    }
}

func xml(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}

// MARK: - HTML

/// A self-contained page: the summary, the SVG timeline and the text report.
public struct TraceHTMLReport {
    public init() {}

    public func render(_ report: TraceRunReport) -> String {
        let a = report.analysis
        let errors = a.findings.filter { $0.severity == .error }.count
        let warnings = a.findings.filter { $0.severity == .warning }.count
        let summary = report.nothingTraced ? "nothing was traced: " + a.warnings.joined(separator: "; ")
            : a.findings.isEmpty ? "no GIL faults found" : "\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")"
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>gilcheck trace: \(xml(shellQuoted(report.command)))</title>
            <style>
            body { font-family: sans-serif; margin: 1.5em; color: #212121; }
            pre { background: #f5f5f5; padding: 1em; overflow-x: auto; font-size: 12px; line-height: 1.35; }
            .timeline { overflow-x: auto; border: 1px solid #e0e0e0; }
            .bad { color: #b71c1c; font-weight: bold; }
            .ok { color: #2e7d32; font-weight: bold; }
            </style>
            </head>
            <body>
            <h1>gilcheck trace</h1>

            """
        html += "<p><code>\(xml(shellQuoted(report.command)))</code>"
        if let t = report.termination { html += " — \(xml(t.description))" }
        html += "</p>\n<p class=\"\(a.findings.isEmpty && !report.nothingTraced ? "ok" : "bad")\">\(xml(summary))</p>\n"
        html += "<h2>Timeline</h2>\n<div class=\"timeline\">\n" + TimelineSVG().render(report, standalone: false) + "</div>\n"
        html += "<h2>Report</h2>\n<pre>" + xml(TraceTextReport().render(report)) + "</pre>\n"
        html += "</body>\n</html>\n"
        return html
    }
}
