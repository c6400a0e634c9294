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

/// Literals of which every match of a regular expression must contain at least one, found
/// conservatively from the pattern's text, so that most lines are ruled out with a byte search
/// instead of a regex run (a regex costs microseconds per line; `memmem` scans
/// gigabytes per second). `CUDA out of memory` gives one literal; `(?:NCCL|RCCL) error` gives
/// `["NCCL", "RCCL"]` or ` error`, whichever rules out more.
public struct LiteralPrefilter: Sendable, Equatable {
    /// Each alternative's bytes (ASCII-lowercased when `ignoresCase`); one must occur. The most
    /// selective of the required sets: the one searched for in a whole chunk.
    public var alternatives: [[UInt8]] { required[0] }
    /// Every set of which one member must occur in a matching line (all of them: a conjunction),
    /// most selective first. `(?i)loss[=: ]+(nan|inf)` requires `loss` *and* one of `nan`, `inf`.
    public let required: [[[UInt8]]]
    public let ignoresCase: Bool

    /// Nil when no literal of at least 3 bytes is certain (flags other than a leading `(?i)`,
    /// a branch without a literal, lookarounds only).
    public init?(pattern: String) {
        var source = Substring(pattern)
        var ignoresCase = false
        if source.hasPrefix("(?i)") {
            ignoresCase = true
            source = source.dropFirst(4)
        }
        if source.contains("(?i") || source.contains("(?x") || source.contains("(?s") { return nil }
        var sets = LiteralPrefilter.requiredSets(Array(source)[...]).map { $0.map { Array(String($0).utf8) } }
        if ignoresCase {
            sets = sets.filter { $0.allSatisfy { $0.allSatisfy { $0 < 0x80 } } }.map {
                $0.map { $0.map(LiteralPrefilter.lower) }
            }
        }
        sets = sets.filter { $0.allSatisfy { $0.count >= 3 } }.map {
            Array(Set($0)).sorted { $0.lexicographicallyPrecedes($1) }
        }
        guard !sets.isEmpty else { return nil }
        self.required = sets.sorted { ($0.map(\.count).min()!, -$0.count) > ($1.map(\.count).min()!, -$1.count) }
        self.ignoresCase = ignoresCase
    }

    /// How selective a set of alternatives is: its shortest member's length.
    private static func score(_ set: [[Character]]) -> Int { set.map(\.count).min() ?? 0 }

    /// Sets of literals such that every match of `chars` contains a member of each set.
    static func requiredSets(_ chars: ArraySlice<Character>) -> [[[Character]]] {
        let branches = split(chars)
        if branches.count > 1 {
            // One of the branches matches: each contributes its most selective set.
            var union: [[Character]] = []
            for branch in branches {
                guard let best = requiredSets(branch).max(by: { score($0) < score($1) }) else { return [] }
                union += best
            }
            return [union]
        }
        var found: [[[Character]]] = []
        func consider(_ candidate: [[Character]]) {
            if score(candidate) >= 3 { found.append(candidate) }
        }
        var run: [Character] = []
        func endRun() {
            consider([run])
            run = []
        }
        var i = chars.startIndex
        while i < chars.endIndex {
            let c = chars[i]
            switch c {
            case "\\":
                guard i + 1 < chars.endIndex else { return [] }
                let next = chars[i + 1]
                if next.isLetter || next.isNumber {
                    endRun()  // \d \w \s \b \n \1 …: not one literal character
                    if next == "p" || next == "P", i + 2 < chars.endIndex, chars[i + 2] == "{" {
                        while i < chars.endIndex && chars[i] != "}" { i += 1 }
                    }
                } else {
                    run.append(next)
                }
                i += 2
                if i < chars.endIndex, "*?{".contains(chars[i]), let last = run.last, last == next {
                    run.removeLast()
                    endRun()
                }
                continue
            case "(":
                endRun()
                guard let close = groupEnd(chars, from: i) else { return [] }
                var body = chars[(i + 1)..<close]
                var usable = true
                if body.first == "?" {
                    if body.dropFirst().first == ":" {
                        body = body.dropFirst(2)
                    } else if body.dropFirst().first == "<", let n = body.dropFirst(2).first, n != "=", n != "!",
                        let end = body.firstIndex(of: ">")
                    {
                        body = body[(end + 1)...]  // a named group
                    } else {
                        usable = false  // lookaround or inline flags: requires nothing we can use
                    }
                }
                i = close + 1
                var optional = false
                if i < chars.endIndex, "*?{".contains(chars[i]) {
                    optional = chars[i] != "{" || !(chars[(i + 1)...].first.map { $0 != "0" && $0.isNumber } ?? false)
                    if chars[i] == "{" { while i < chars.endIndex && chars[i] != "}" { i += 1 } }
                    i += 1
                    if i < chars.endIndex, "?+".contains(chars[i]) { i += 1 }
                }
                if usable && !optional { requiredSets(body).forEach(consider) }
                continue
            case "[":
                endRun()
                i += 1
                if i < chars.endIndex && chars[i] == "^" { i += 1 }
                if i < chars.endIndex && chars[i] == "]" { i += 1 }
                while i < chars.endIndex && chars[i] != "]" { i += chars[i] == "\\" ? 2 : 1 }
            case ".", "^", "$", ")":
                endRun()
            case "*", "?", "{":
                if !run.isEmpty { run.removeLast() }  // the previous character is optional
                endRun()
                if c == "{" { while i < chars.endIndex && chars[i] != "}" { i += 1 } }
            case "+":
                endRun()
            default:
                if c.isWhitespace && c != " " { endRun() } else { run.append(c) }
            }
            i += 1
        }
        endRun()
        return found
    }

    /// `chars` split at its top-level `|`.
    static func split(_ chars: ArraySlice<Character>) -> [ArraySlice<Character>] {
        var parts: [ArraySlice<Character>] = []
        var depth = 0
        var start = chars.startIndex
        var i = chars.startIndex
        while i < chars.endIndex {
            switch chars[i] {
            case "\\": i += 1
            case "[":
                i += 1
                if i < chars.endIndex && chars[i] == "^" { i += 1 }
                if i < chars.endIndex && chars[i] == "]" { i += 1 }
                while i < chars.endIndex && chars[i] != "]" { i += chars[i] == "\\" ? 2 : 1 }
            case "(": depth += 1
            case ")": depth -= 1
            case "|" where depth == 0:
                parts.append(chars[start..<i])
                start = i + 1
            default: break
            }
            i += 1
        }
        parts.append(chars[start..<min(i, chars.endIndex)])
        return parts
    }

    /// The index of the `)` closing the group that opens at `open`.
    static func groupEnd(_ chars: ArraySlice<Character>, from open: Int) -> Int? {
        var depth = 0
        var i = open
        while i < chars.endIndex {
            switch chars[i] {
            case "\\": i += 1
            case "[":
                i += 1
                if i < chars.endIndex && chars[i] == "^" { i += 1 }
                if i < chars.endIndex && chars[i] == "]" { i += 1 }
                while i < chars.endIndex && chars[i] != "]" { i += chars[i] == "\\" ? 2 : 1 }
            case "(": depth += 1
            case ")":
                depth -= 1
                if depth == 0 { return i }
            default: break
            }
            i += 1
        }
        return nil
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

    /// Whether one of the literals occurs in `text` (pass the ASCII-lowercased text when `ignoresCase`).
    public func occurs(in text: UnsafeRawBufferPointer) -> Bool {
        firstOffset(in: text) != nil
    }

    /// Whether every required set has a member in `line` (a whole line, not yet folded).
    public func occurs(in line: String) -> Bool {
        var utf8 = Array(line.utf8)
        if ignoresCase { for i in utf8.indices { utf8[i] = LiteralPrefilter.lower(utf8[i]) } }
        return utf8.withUnsafeBytes { allOccur(inLine: $0) }
    }

    /// Whether every required set has a member in `line` (already folded when `ignoresCase`).
    func allOccur(inLine line: UnsafeRawBufferPointer) -> Bool {
        required.allSatisfy { LiteralPrefilter.firstOffset(of: $0, in: line) != nil }
    }

    /// The offset of the first occurrence of any of the primary alternatives in `text`, or nil.
    func firstOffset(in text: UnsafeRawBufferPointer) -> Int? {
        LiteralPrefilter.firstOffset(of: alternatives, in: text)
    }

    static func firstOffset(of alternatives: [[UInt8]], in text: UnsafeRawBufferPointer) -> Int? {
        guard let base = text.baseAddress else { return nil }
        var first: Int?
        for needle in alternatives where text.count >= needle.count {
            let limit = first.map { min(text.count, $0 + needle.count) } ?? text.count
            let hit = needle.withUnsafeBytes { n in cvigil_memmem(base, limit, n.baseAddress!, n.count) }
            if let hit { first = hit - UnsafeRawPointer(base) }
        }
        return first
    }
}
