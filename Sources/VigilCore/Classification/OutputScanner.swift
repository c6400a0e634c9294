import CVigil

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

/// Finds the first line of a chunk of output that matches any of a set of patterns, fast enough to
/// run on everything a trainer prints: each pattern's required literal is searched in the whole
/// chunk with `memmem`, and the regex runs only on the lines where the literal occurs.
public struct OutputScanner: Sendable {
    public let patterns: [Pattern]
    private let needsFolding: Bool

    public init(patterns: [Pattern]) {
        self.patterns = patterns
        self.needsFolding = patterns.contains { $0.prefilter?.ignoresCase == true }
    }

    /// A match: the pattern and the whole line it matched.
    public struct Match: Sendable, Equatable {
        public var pattern: String
        public var line: String
    }

    /// The first match in `chunk` (complete lines; a partial last line is scanned as it is).
    public func firstMatch(in chunk: UnsafeRawBufferPointer) -> Match? {
        guard !chunk.isEmpty else { return nil }
        var folded: [UInt8] = []
        if needsFolding {
            folded = [UInt8](unsafeUninitializedCapacity: chunk.count) { buffer, count in
                for index in 0..<chunk.count { buffer[index] = LiteralPrefilter.lower(chunk[index]) }
                count = chunk.count
            }
        }
        // Which byte pairs occur in the chunk: a literal with a pair that does not occur cannot be
        // there, which rules most patterns out in one pass instead of one memmem pass each.
        let pairs = BytePairs(chunk)
        let foldedPairs = needsFolding ? folded.withUnsafeBytes { BytePairs($0) } : pairs
        var best: (offset: Int, match: Match)?
        for pattern in patterns {
            if let prefilter = pattern.prefilter {
                let present = prefilter.ignoresCase ? foldedPairs : pairs
                guard prefilter.required.allSatisfy({ set in set.contains(where: present.mayContain) }) else {
                    continue
                }
                let found: (Int, Match)?
                if prefilter.ignoresCase {
                    found = folded.withUnsafeBytes { search(pattern, prefilter, $0, chunk, before: best?.offset) }
                } else {
                    found = search(pattern, prefilter, chunk, chunk, before: best?.offset)
                }
                if let found { best = found }
            } else {
                // No literal to search for: every line goes through the regex.
                var start = 0
                while start < chunk.count {
                    if let currentBest = best, start >= currentBest.offset { break }
                    let line = OutputScanner.lineRange(around: start, in: chunk)
                    let bytes = UnsafeRawBufferPointer(rebasing: chunk[line])
                    if pattern.matches(bytes) {
                        best = (
                            line.lowerBound,
                            Match(pattern: pattern.source, line: String(decoding: bytes, as: UTF8.self))
                        )
                        break
                    }
                    start = line.upperBound + 1
                }
            }
        }
        return best?.match
    }

    /// The first line where `prefilter` occurs in `haystack` (the chunk, or its folded copy) and the
    /// regex matches the line of `chunk`; only lines before `limit` are of interest.
    private func search(
        _ pattern: Pattern, _ prefilter: LiteralPrefilter, _ haystack: UnsafeRawBufferPointer,
        _ chunk: UnsafeRawBufferPointer, before limit: Int?
    ) -> (Int, Match)? {
        // Every required literal must occur somewhere in the chunk, or no line of it can match
        // (`loss` is on every line of a training log; `nan` almost never).
        if prefilter.required.count > 1 && !prefilter.allOccur(inLine: haystack) { return nil }
        var searchFrom = 0
        while searchFrom < haystack.count {
            let rest = UnsafeRawBufferPointer(rebasing: haystack[searchFrom...])
            guard let hit = prefilter.firstOffset(in: rest) else { return nil }
            let line = OutputScanner.lineRange(around: searchFrom + hit, in: chunk)
            if let limit, line.lowerBound >= limit { return nil }
            // The other required literals must be on the same line before the regex is worth running.
            if prefilter.required.count > 1
                && !prefilter.allOccur(inLine: UnsafeRawBufferPointer(rebasing: haystack[line]))
            {
                searchFrom = line.upperBound + 1
                continue
            }
            // The literal was found: straight to the regex, on the line's bytes (a String only for a match).
            let bytes = UnsafeRawBufferPointer(rebasing: chunk[line])
            if pattern.matches(bytes) {
                return (line.lowerBound, Match(pattern: pattern.source, line: String(decoding: bytes, as: UTF8.self)))
            }
            searchFrom = line.upperBound + 1
        }
        return nil
    }

    /// The line (without its newline) containing byte `offset`.
    static func lineRange(around offset: Int, in chunk: UnsafeRawBufferPointer) -> Range<Int> {
        var start = offset
        while start > 0 && !isLineEnd(chunk[start - 1]) { start -= 1 }
        var end = offset
        while end < chunk.count && !isLineEnd(chunk[end]) { end += 1 }
        return start..<end
    }

    /// `\n`, and `\r`: a progress bar (tqdm) redraws its line with `\r`, each frame with new values.
    @inline(__always)
    static func isLineEnd(_ byte: UInt8) -> Bool { byte == 0x0A || byte == 0x0D }
}

/// The set of adjacent byte pairs in a buffer (65,536 bits), for ruling literals out cheaply.
struct BytePairs {
    private var bits = [UInt64](repeating: 0, count: 1024)

    init(_ buffer: UnsafeRawBufferPointer) {
        guard buffer.count > 1 else { return }
        bits.withUnsafeMutableBufferPointer { words in
            var previous = Int(buffer[0])
            for index in 1..<buffer.count {
                let current = Int(buffer[index])
                let pair = previous << 8 | current
                words[pair >> 6] |= 1 << UInt64(pair & 63)
                previous = current
            }
        }
    }

    /// False when some adjacent pair of `literal` does not occur (so neither does the literal).
    func mayContain(_ literal: [UInt8]) -> Bool {
        guard literal.count > 1 else { return true }
        for index in 1..<literal.count {
            let pair = Int(literal[index - 1]) << 8 | Int(literal[index])
            if bits[pair >> 6] & (1 << UInt64(pair & 63)) == 0 { return false }
        }
        return true
    }
}
