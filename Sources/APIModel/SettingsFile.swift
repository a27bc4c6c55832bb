import CYaml
import Foundation
import Yams
#if canImport(Glibc)
import Glibc
#endif

/// Reads the small files gilcheck is configured by (`.gilcheck.yml`, rules files, baselines). A repository can
/// plant them (the config is discovered by walking up from the inputs), so nothing in one may hang or exhaust
/// gilcheck: only regular files are read (a FIFO would block forever, `/dev/zero` never ends), up to a size
/// limit, and YAML anchors and aliases are refused before the document is composed (an alias bomb in a mapping
/// key expands exponentially in the duplicate-key check).
public enum SettingsFile {
    /// Far above any real config or rules file (cpython.yml is 11 kB).
    public static let yamlSizeLimit = 4 << 20
    /// A baseline of a large project with many accepted findings.
    public static let baselineSizeLimit = 64 << 20

    /// Tags for what these files hold: booleans, integers and nulls; every other scalar is a string. Yams tries
    /// each rule's regular expression on every plain scalar (and again on each mapping key in the duplicate-key
    /// check): the default seven rules made loading the built-in rules a third of a short traced run's cost.
    public static let resolver = Resolver.basic.appending(.bool).appending(.int).appending(.null)

    /// Why a file could not be read, in words for the user (the caller adds the path and what the file is).
    public struct ReadError: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// The file's bytes, or why it cannot be read: missing, a directory or another non-regular file, larger
    /// than `limit`, or not readable.
    public static func read(_ path: String, limit: Int) throws -> Data {
        var info = stat()
        guard stat(path, &info) == 0 else { throw ReadError(reason: String(cString: strerror(errno))) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ReadError(reason: "it is a directory, not a file")
        case S_IFIFO: throw ReadError(reason: "it is a FIFO (named pipe), not a regular file")
        case S_IFCHR, S_IFBLK: throw ReadError(reason: "it is a device, not a regular file")
        case S_IFSOCK: throw ReadError(reason: "it is a socket, not a regular file")
        default: throw ReadError(reason: "it is not a regular file")
        }
        guard Int(info.st_size) <= limit else {
            throw ReadError(reason: "it is \(info.st_size) bytes, more than the \(limit >> 20) MiB gilcheck reads")
        }
        // O_NONBLOCK: should the file have been swapped for a FIFO since the check, opening it does not wait.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw ReadError(reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw ReadError(reason: "it is not a regular file")
        }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
            if data.count > limit { throw ReadError(reason: "it is more than the \(limit >> 20) MiB gilcheck reads") }
        }
        return data
    }

    /// The 1-based line of the first anchor (`&name`) or alias (`*name`) in `text`, and which it is; nil when
    /// there is none or when the text is not valid YAML (composing it reports that). Runs libyaml's event parser
    /// alone, which never expands an alias, so it takes time linear in the text.
    public static func firstAnchorOrAlias(in text: String) -> (line: Int, what: String)? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> (line: Int, what: String)? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            while yaml_parser_parse(&parser, &event) == 1 {
                defer { yaml_event_delete(&event) }
                let line = Int(event.start_mark.line) + 1
                switch event.type {
                case YAML_ALIAS_EVENT: return (line, "alias")
                case YAML_SCALAR_EVENT where event.data.scalar.anchor != nil: return (line, "anchor")
                case YAML_SEQUENCE_START_EVENT where event.data.sequence_start.anchor != nil: return (line, "anchor")
                case YAML_MAPPING_START_EVENT where event.data.mapping_start.anchor != nil: return (line, "anchor")
                case YAML_STREAM_END_EVENT: return nil
                default: continue
                }
            }
            return nil
        }
    }

    /// Where a YAML file has an anchor or alias, and what to say about it (without the path), or nil.
    public static func anchorProblem(in text: String) -> (line: Int, message: String)? {
        guard let found = firstAnchorOrAlias(in: text) else { return nil }
        return (found.line, "YAML \(found.what)s (`&name`, `*name`) are not allowed in gilcheck's files; write each value out")
    }
}
