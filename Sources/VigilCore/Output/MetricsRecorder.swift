#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Parses progress and metrics from output lines with the policy's patterns (named groups: `step`,
/// `total`, and any metric) and appends one JSON line per matching output line to `metrics.jsonl`:
/// `{"attempt":2,"time":"…Z","step":120,"total":300,"values":{"loss":0.42}}`. Lines are ruled out by
/// each pattern's required literal first, so a flood of unrelated output costs little.
public final class MetricsRecorder: @unchecked Sendable {
    // @unchecked: `latest` is guarded by `lock`; the extractors, the descriptor and the rest are set once.
    struct Extractor {
        let pattern: Pattern
        let groups: [String]
    }

    /// What the patterns found in one line.
    struct Entry {
        var step: Int?
        var total: Int?
        /// Finite numbers: what `metrics.jsonl` records.
        var values: [String: Double] = [:]
        /// NaN and infinities too: what the divergence watch sees.
        var all: [String: Double] = [:]
        /// Where the line is in the lines recorded.
        var line: Range<Int>
    }

    private let extractors: [Extractor]
    private let attempt: Int
    private let fd: Int32
    private let lock = Lock()
    private var latest: (step: Int?, total: Int?, values: [String: Double], at: Date)?
    private var first: Date?
    private let space: FreeSpaceGuard?
    private let divergence: DivergenceWatch?
    private let onDivergence: (@Sendable (Divergence, String) -> Void)?

    /// Opens (appending) `path` (nil: records nothing to a file, only to the watch); nil when there is
    /// nothing to record. With `space`, lines are not
    /// written while the volume is short of its reserve (the newest values are still kept). With
    /// `divergence`, every line's values go to the watch, and its divergence to `onDivergence`, with the line.
    public init?(
        path: String?, progress: String?, metrics: [String], attempt: Int, permissions: mode_t = 0o600,
        space: FreeSpaceGuard? = nil, divergence: DivergenceWatch? = nil,
        onDivergence: (@Sendable (Divergence, String) -> Void)? = nil
    ) throws {
        let sources = (progress.map { [$0] } ?? []) + metrics
        guard !sources.isEmpty else { return nil }
        extractors = try sources.map { source in
            let names = MetricsRecorder.groupNames(in: source)
            return Extractor(pattern: try Pattern(source), groups: names)
        }
        self.attempt = attempt
        self.space = space
        self.divergence = divergence
        self.onDivergence = onDivergence
        guard let path else {
            fd = -1
            return
        }
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, permissions)
        guard fd >= 0 else { throw VigilError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))") }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The newest progress and metrics seen (for a status line).
    public var current: (step: Int?, total: Int?, values: [String: Double], at: Date)? { lock.withLock { latest } }

    /// When the first progress or metric line was read; nil until one was.
    public var firstSeen: Date? { lock.withLock { first } }

    /// Records every line of `lines` (complete lines, newline-separated) that a pattern matches.
    public func record(_ lines: UnsafeRawBufferPointer) {
        var matched: [Int: Entry] = [:]
        var machines = [RegexProgram.Machine?](repeating: nil, count: extractors.count)
        for (index, extractor) in extractors.enumerated() {
            var offset = 0
            while offset < lines.count {
                let line: Range<Int>
                if let prefilter = extractor.pattern.prefilter, !prefilter.ignoresCase {
                    // Jump to the next line holding the pattern's literal.
                    let rest = UnsafeRawBufferPointer(rebasing: lines[offset...])
                    guard let hit = prefilter.firstOffset(in: rest) else { break }
                    line = OutputScanner.lineRange(around: offset + hit, in: lines)
                } else {
                    line = OutputScanner.lineRange(around: offset, in: lines)
                }
                offset = process(extractor, line, lines, &matched, &machines[index])
            }
        }
        guard !matched.isEmpty else { return }
        let now = Date()
        let time = Journal.timestamp(now)
        var text = JSONTextWriter(capacity: matched.count * 128, compact: true)
        for start in matched.keys.sorted() {
            let entry = matched[start]!
            // As `JSONEncoder` with sorted keys wrote it (`{"attempt":2,"step":120,"time":"…Z","total":300,
            // "values":{…}}`), by hand: the encoder was a third of the CPU of a metrics line.
            text.beginObject()
            text.integer("attempt", attempt)
            text.integer("step", entry.step)
            text.string("time", time)
            text.integer("total", entry.total)
            text.key("values")
            text.beginObject()
            for (name, value) in entry.values.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                text.number(name, value)
            }
            text.endObject()
            text.endObject()
            text.raw("\n")
            let step = lock.withLock { () -> Int? in
                var merged = latest?.values ?? [:]
                merged.merge(entry.values) { $1 }
                latest = (entry.step ?? latest?.step, entry.total ?? latest?.total, merged, now)
                if first == nil { first = now }
                return latest?.step
            }
            if let divergence, let found = divergence.observe(step: step, values: entry.all, at: now) {
                onDivergence?(
                    found, String(decoding: UnsafeRawBufferPointer(rebasing: lines[entry.line]), as: UTF8.self))
            }
        }
        guard fd >= 0, !text.bytes.isEmpty, space?.allows(text.bytes.count) ?? true else { return }
        _ = text.bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress!, $0.count) }
    }

    /// Runs the extractor on one line; returns where to continue.
    private func process(
        _ extractor: Extractor, _ line: Range<Int>, _ lines: UnsafeRawBufferPointer,
        _ matched: inout [Int: Entry], _ machine: inout RegexProgram.Machine?
    ) -> Int {
        let bytes = UnsafeRawBufferPointer(rebasing: lines[line]).bindMemory(to: UInt8.self)
        if let match = extractor.pattern.program.firstMatch(in: bytes, reusing: &machine) {
            var entry = matched[line.lowerBound] ?? Entry(line: line)
            for name in extractor.groups {
                guard let group = extractor.pattern.program.groupNames[name], let r = match[group] else { continue }
                let value = String(decoding: UnsafeBufferPointer(rebasing: bytes[r]), as: UTF8.self)
                switch name {
                case "step": entry.step = Int(value) ?? entry.step
                case "total": entry.total = Int(value) ?? entry.total
                default:
                    // NaN and infinities are not JSON numbers: the divergence watch has them.
                    guard let number = MetricsRecorder.number(value) else { continue }
                    entry.all[name] = number
                    if number.isFinite { entry.values[name] = number }
                }
            }
            matched[line.lowerBound] = entry
        }
        return line.upperBound + 1
    }

    /// A metric's value as trainers print it: `0.42`, `1e-4`, `nan`, `-inf`, `Infinity`, and the same
    /// quoted (`'nan'`: transformers logs a NaN as a string), with a trailing `,` or `}` of a dict, and
    /// Lightning's padded `nan.0`.
    static func number(_ text: String) -> Double? {
        var value = Substring(text).trimmingSpaces()[...]
        while let last = value.last, ",;}]".contains(last) { value = value.dropLast() }
        if value.count >= 2, let first = value.first, first == value.last, first == "'" || first == "\"" {
            value = value.dropFirst().dropLast()
        }
        // Lightning's progress bar pads to five characters: `nan.0`, `inf.0`.
        if value.hasSuffix(".0"), Double(value.dropLast(2))?.isFinite == false { value = value.dropLast(2) }
        return Double(value)
    }

    /// Names of `(?<name>…)` groups in a pattern.
    static func groupNames(in pattern: String) -> [String] {
        var names: [String] = []
        var rest = Substring(pattern)
        while let open = rest.firstRange(of: "(?<") {
            let after = rest[open.upperBound...]
            if let first = after.first, first != "=", first != "!", let close = after.firstIndex(of: ">") {
                names.append(String(after[..<close]))
            }
            rest = after
        }
        return names
    }
}
