import APIModel
import Foundation
import Diagnostics

/// Python 3.14's documentation speaks of an *attached thread state* where older versions say "holds the GIL",
/// because on a free-threaded build there is no GIL to hold, yet the same attach/detach discipline applies.
/// For a project whose oldest supported Python is 3.14 or newer, or that lints in free-threading mode, the
/// messages and path notes use that wording. Only whole phrases are rewritten, so that every message still
/// reads as a sentence; rule ids stay as they are.
enum Wording {
    /// Longer phrases first: a phrase that contains another is rewritten before it.
    static let attachedThreadState: [(String, String)] = [
        ("needs the GIL, which is released on this path", "needs an attached thread state, but the thread is detached on this path"),
        ("runs on a thread without it", "runs on a thread without an attached thread state"),
        ("and has not acquired it on this path", "and has not attached one on this path"),
        ("needs the GIL, but", "needs an attached thread state, but"),
        ("releases the GIL, but it is already released on this path", "detaches the thread state, but it is already detached on this path"),
        ("while this thread holds the GIL", "while this thread is attached"),
        ("and needs the GIL deadlocks with it", "and needs to attach deadlocks with it"),
        ("is called without the GIL", "is called without an attached thread state"),
        ("the GIL is held on entry", "the thread state is attached on entry"),
        ("GIL re-acquired here by", "thread state re-attached here by"),
        ("GIL acquired here by", "thread state attached here by"),
        ("GIL released here by", "thread state detached here by"),
        ("assuming this thread holds the GIL", "assuming this thread is attached"),
        ("assuming this thread does not hold the GIL", "assuming this thread is not attached"),
        ("where the GIL is released", "where the thread state is detached"),
        ("while the GIL is released there", "while the thread state is detached there"),
    ]

    /// Whether the run's target speaks of attached thread states.
    static func usesAttachedThreadState(pythonVersion: String?, freeThreading: Bool) -> Bool {
        if freeThreading { return true }
        guard let text = pythonVersion, let v = PythonVersion(text), let since = PythonVersion("3.14") else { return false }
        return v >= since
    }

    static func attached(_ text: String) -> String {
        guard text.contains("GIL") || text.contains("without it") else { return text }
        var out = text
        for (old, new) in attachedThreadState where out.contains(old) {
            out = out.replacingOccurrences(of: old, with: new)
        }
        return out
    }

    static func attached(_ d: Diagnostic) -> Diagnostic {
        var d = d
        d.message = attached(d.message)
        for i in d.path.indices { d.path[i].message = attached(d.path[i].message) }
        return d
    }
}
