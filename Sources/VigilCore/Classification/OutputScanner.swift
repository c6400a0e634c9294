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
        // One pass over the chunk: its ASCII-lowercased copy (when a pattern ignores case) and which
        // byte pairs occur in it, lowercased. A literal with a pair that does not occur cannot be
        // there, which rules most patterns out at once instead of one memmem pass each. Short chunks
        // (a line or two: a slow trainer) skip the pairs; memmem over them is cheaper.
        var folded: [UInt8] = []
        let pairs: BytePairs? =
            needsFolding
            ? BytePairs(chunk, folding: &folded)
            : chunk.count >= BytePairs.worthwhile ? BytePairs(chunk) : nil
        var best: (offset: Int, match: Match)?
        var machine: RegexProgram.Machine?  // each pattern's, kept from line to line
        for pattern in patterns {
            machine = nil
            if let prefilter = pattern.prefilter {
                if let pairs, !prefilter.required.allSatisfy({ set in set.contains(where: pairs.mayContain) }) {
                    continue
                }
                let found: (Int, Match)?
                if prefilter.ignoresCase {
                    found = folded.withUnsafeBytes {
                        search(pattern, prefilter, $0, chunk, before: best?.offset, machine: &machine)
                    }
                } else {
                    found = search(pattern, prefilter, chunk, chunk, before: best?.offset, machine: &machine)
                }
                if let found { best = found }
            } else {
                // No literal to search for: every line goes through the regex.
                var start = 0
                while start < chunk.count {
                    if let currentBest = best, start >= currentBest.offset { break }
                    let line = OutputScanner.lineRange(around: start, in: chunk)
                    let bytes = UnsafeRawBufferPointer(rebasing: chunk[line])
                    if pattern.matches(bytes, reusing: &machine) {
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
        _ chunk: UnsafeRawBufferPointer, before limit: Int?, machine: inout RegexProgram.Machine?
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
            if pattern.matches(bytes, reusing: &machine) {
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

/// Which adjacent byte pairs occur in a buffer, ASCII-lowercased (a superset test for any literal,
/// whatever its case), for ruling literals out cheaply: one byte per pair, 64 KiB, set with plain
/// stores in one C loop with the lowercasing (a bit set's read-modify-write chain, in Swift, cost
/// twice the rest of the scan).
struct BytePairs {
    /// Below this many bytes, building the table costs more than searching each literal.
    static let worthwhile = 2048
    private var seen = [UInt8](repeating: 0, count: 65536)

    init(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        seen.withUnsafeMutableBufferPointer { seen in
            cvigil_fold_pairs(base.assumingMemoryBound(to: UInt8.self), nil, buffer.count, seen.baseAddress!)
        }
    }

    /// Also writes the buffer, ASCII-lowercased, to `folded`.
    init(_ buffer: UnsafeRawBufferPointer, folding folded: inout [UInt8]) {
        folded = [UInt8](unsafeUninitializedCapacity: buffer.count) { out, count in
            count = buffer.count
            guard let base = buffer.baseAddress else { return }
            seen.withUnsafeMutableBufferPointer { seen in
                cvigil_fold_pairs(
                    base.assumingMemoryBound(to: UInt8.self), out.baseAddress!, buffer.count, seen.baseAddress!)
            }
        }
    }

    /// False when some adjacent pair of `literal` (lowercased) does not occur, so neither does it.
    func mayContain(_ literal: [UInt8]) -> Bool {
        guard literal.count > 1 else { return true }
        for index in 1..<literal.count {
            let pair =
                Int(LiteralPrefilter.lower(literal[index - 1])) << 8 | Int(LiteralPrefilter.lower(literal[index]))
            if seen[pair] == 0 { return false }
        }
        return true
    }
}
