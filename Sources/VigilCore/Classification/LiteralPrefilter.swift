import CVigil
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A literal every match of a regular expression must contain, found conservatively from the
/// pattern's text, so that most lines are ruled out with a byte search instead of a regex run
/// (NSRegularExpression costs microseconds per line; `memmem` scans gigabytes per second).
public struct LiteralPrefilter: Sendable, Equatable {
    /// The bytes that must appear (ASCII-lowercased when `ignoresCase`).
    public let bytes: [UInt8]
    public let ignoresCase: Bool

    /// The longest literal run (≥ 3 bytes) outside groups, classes and optional parts, or nil when
    /// the pattern has none that is certain (alternation at the top level, flags other than `(?i)`).
    public init?(pattern: String) {
        var source = Substring(pattern)
        var ignoresCase = false
        if source.hasPrefix("(?i)") {
            ignoresCase = true
            source = source.dropFirst(4)
        }
        let chars = Array(source)
        var best: [Character] = []
        var run: [Character] = []
        func endRun() {
            if run.count > best.count { best = run }
            run = []
        }
        var i = 0
        while i < chars.count {
            let c = chars[i]
            switch c {
            case "\\":
                guard i + 1 < chars.count else { return nil }
                let next = chars[i + 1]
                if next.isLetter || next.isNumber {
                    endRun()  // \d \w \s \b \n \1 …: not a literal character
                } else {
                    run.append(next)
                }
                i += 2
                continue
            case "|":
                return nil  // an alternation at the top level: no single literal is required
            case "(":
                endRun()
                // Skip the group (its content may be optional or alternative).
                var depth = 0
                while i < chars.count {
                    if chars[i] == "\\" { i += 2; continue }
                    if chars[i] == "[" {
                        i += 1
                        if i < chars.count && chars[i] == "]" { i += 1 }
                        while i < chars.count && chars[i] != "]" { i += chars[i] == "\\" ? 2 : 1 }
                    } else if chars[i] == "(" {
                        depth += 1
                    } else if chars[i] == ")" {
                        depth -= 1
                        if depth == 0 { break }
                    }
                    i += 1
                }
                if depth != 0 { return nil }
            case "[":
                endRun()
                i += 1
                if i < chars.count && chars[i] == "^" { i += 1 }
                if i < chars.count && chars[i] == "]" { i += 1 }
                while i < chars.count && chars[i] != "]" { i += chars[i] == "\\" ? 2 : 1 }
            case ".", "^", "$", ")":
                endRun()
            case "*", "?", "{":
                if !run.isEmpty { run.removeLast() }  // the previous character is optional
                endRun()
                if c == "{" { while i < chars.count && chars[i] != "}" { i += 1 } }
            case "+":
                endRun()
            default:
                if c.isWhitespace && c != " " { endRun() } else { run.append(c) }
            }
            i += 1
        }
        endRun()
        var bytes = Array(String(best).utf8)
        guard bytes.count >= 3 else { return nil }
        if ignoresCase {
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            bytes = bytes.map(LiteralPrefilter.lower)
        }
        self.bytes = bytes
        self.ignoresCase = ignoresCase
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

    /// Whether the literal occurs in `text` (pass the ASCII-lowercased text when `ignoresCase`).
    public func occurs(in text: UnsafeRawBufferPointer) -> Bool {
        guard text.count >= bytes.count, let base = text.baseAddress else { return false }
        return bytes.withUnsafeBytes { needle in
            cvigil_memmem(base, text.count, needle.baseAddress!, needle.count) != nil
        }
    }

    /// Whether the literal occurs in `line`.
    public func occurs(in line: String) -> Bool {
        var utf8 = Array(line.utf8)
        if ignoresCase { for i in utf8.indices { utf8[i] = LiteralPrefilter.lower(utf8[i]) } }
        return utf8.withUnsafeBytes { occurs(in: $0) }
    }
}
