/// The regular expressions of policies, parsed: ICU's syntax (what `NSRegularExpression` and most
/// users know) for everything policies need — literals and escapes, classes with ranges, `\d \w \s
/// \b \p{L}`, `.`, anchors, groups (capturing, named `(?<step>…)`, non-capturing), lookahead and
/// bounded lookbehind, alternation, greedy and lazy quantifiers, the flags `i`, `s`, `m` — matched
/// by `RegexProgram` without ICU. What ICU has beyond that (backreferences, possessive and atomic
/// groups, set operations, unbounded lookbehind) is refused with the offset, never mismatched.
indirect enum RegexNode: Sendable, Equatable {
    case empty
    case scalar(Unicode.Scalar, fold: Bool)
    case set(ScalarSet)
    case any(dotAll: Bool)
    case sequence([RegexNode])
    case alternation([RegexNode])
    case repeated(RegexNode, min: Int, max: Int?, lazy: Bool)
    case group(RegexNode, index: Int?)
    case assertion(RegexAssertion)
    case look(RegexNode, behind: Bool, negated: Bool)
}

enum RegexAssertion: Sendable, Equatable {
    case lineStart(multiline: Bool)
    case lineEnd(multiline: Bool)
    case textStart
    case textEnd
    case textEndBeforeNewline
    case wordBoundary
    case notWordBoundary
}

/// A set of scalars: ranges and character classes, perhaps negated, perhaps folded.
struct ScalarSet: Sendable, Equatable {
    enum Item: Sendable, Equatable {
        case range(ClosedRange<UInt32>)
        case digit, word, space
        case category(String)
        indirect case not(Item)
    }

    var items: [Item]
    var negated: Bool
    var fold: Bool

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        var hit = items.contains { ScalarSet.matches($0, scalar) }
        if !hit, fold {
            for variant in RegexCase.variants(of: scalar) where variant != scalar {
                if items.contains(where: { ScalarSet.matches($0, variant) }) {
                    hit = true
                    break
                }
            }
        }
        return hit != negated
    }

    static func matches(_ item: Item, _ scalar: Unicode.Scalar) -> Bool {
        switch item {
        case .range(let range): return range.contains(scalar.value)
        case .digit: return RegexCase.isDigit(scalar)
        case .word: return RegexCase.isWord(scalar)
        case .space: return RegexCase.isSpace(scalar)
        case .category(let name): return RegexCase.inCategory(scalar, name)
        case .not(let inner): return !matches(inner, scalar)
        }
    }
}

/// Character classes and case, from the standard library's Unicode properties (no ICU).
enum RegexCase {
    static func isDigit(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x80 ? (0x30...0x39).contains(s.value) : s.properties.numericType == .decimal
    }

    static func isWord(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 {
            let v = s.value
            return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) || v == 0x5F
        }
        let p = s.properties
        return p.isAlphabetic || p.numericType == .decimal || p.generalCategory == .nonspacingMark
            || p.generalCategory == .connectorPunctuation
    }

    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x80 ? [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D].contains(s.value) : s.properties.isWhitespace
    }

    /// `\p{L}`, `\p{Lu}`, `\p{N}`…: a general category by its one- or two-letter name.
    static func inCategory(_ s: Unicode.Scalar, _ name: String) -> Bool {
        let code = categoryCode(s.properties.generalCategory)
        return name.count == 1 ? code.hasPrefix(name) : code == name
    }

    static let knownCategories: Set<String> = [
        "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Ps", "Pe",
        "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C", "Cc", "Cf", "Cs", "Co", "Cn",
    ]

    static func categoryCode(_ category: Unicode.GeneralCategory) -> String {
        switch category {
        case .uppercaseLetter: return "Lu"
        case .lowercaseLetter: return "Ll"
        case .titlecaseLetter: return "Lt"
        case .modifierLetter: return "Lm"
        case .otherLetter: return "Lo"
        case .nonspacingMark: return "Mn"
        case .spacingMark: return "Mc"
        case .enclosingMark: return "Me"
        case .decimalNumber: return "Nd"
        case .letterNumber: return "Nl"
        case .otherNumber: return "No"
        case .connectorPunctuation: return "Pc"
        case .dashPunctuation: return "Pd"
        case .openPunctuation: return "Ps"
        case .closePunctuation: return "Pe"
        case .initialPunctuation: return "Pi"
        case .finalPunctuation: return "Pf"
        case .otherPunctuation: return "Po"
        case .mathSymbol: return "Sm"
        case .currencySymbol: return "Sc"
        case .modifierSymbol: return "Sk"
        case .otherSymbol: return "So"
        case .spaceSeparator: return "Zs"
        case .lineSeparator: return "Zl"
        case .paragraphSeparator: return "Zp"
        case .control: return "Cc"
        case .format: return "Cf"
        case .surrogate: return "Cs"
        case .privateUse: return "Co"
        case .unassigned: return "Cn"
        @unknown default: return "Cn"
        }
    }

    /// The scalar and its simple upper- and lower-case forms (single scalars only).
    static func variants(of s: Unicode.Scalar) -> [Unicode.Scalar] {
        if s.value < 0x80 {
            let v = s.value
            if (0x41...0x5A).contains(v) { return [s, Unicode.Scalar(v + 0x20)!] }
            if (0x61...0x7A).contains(v) { return [s, Unicode.Scalar(v - 0x20)!] }
            return [s]
        }
        var out = [s]
        for mapping in [s.properties.lowercaseMapping, s.properties.uppercaseMapping] {
            let scalars = mapping.unicodeScalars
            if scalars.count == 1, let only = scalars.first, !out.contains(only) { out.append(only) }
        }
        return out
    }

    /// Whether two scalars are equal ignoring case.
    static func foldedEqual(_ a: Unicode.Scalar, _ b: Unicode.Scalar) -> Bool {
        a == b || variants(of: a).contains(b)
    }
}

/// A pattern that cannot be parsed, or uses what this engine does not support: where and why.
public struct RegexSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public var description: String { "\(message) (at offset \(offset))" }
}

/// Parses a pattern into `RegexNode`s, numbering the capturing groups and keeping their names.
struct RegexParser {
    private let scalars: [Unicode.Scalar]
    private var position = 0
    private(set) var groupCount = 0
    private(set) var names: [String: Int] = [:]

    init(_ pattern: String) {
        scalars = Array(pattern.unicodeScalars)
    }

    struct Flags {
        var caseless = false
        var dotAll = false
        var multiline = false
    }

    mutating func parse() throws -> RegexNode {
        var flags = Flags()
        let node = try alternation(&flags)
        if position < scalars.count { throw fail("unmatched ')'") }
        return node
    }

    func fail(_ message: String, at offset: Int? = nil) -> RegexSyntaxError {
        RegexSyntaxError(offset: offset ?? position, message: message)
    }

    private var current: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    private mutating func take(_ c: Character) -> Bool {
        guard let current, Character(current) == c else { return false }
        position += 1
        return true
    }

    private mutating func alternation(_ flags: inout Flags) throws -> RegexNode {
        var branches = [try sequence(&flags)]
        while take("|") { branches.append(try sequence(&flags)) }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func sequence(_ flags: inout Flags) throws -> RegexNode {
        var items: [RegexNode] = []
        while let c = current, c != "|", c != ")" {
            let start = position
            if c == "\\", position + 1 < scalars.count, scalars[position + 1] == "Q" {
                // \Q…\E: each character an atom of its own (a quantifier after \E repeats the last).
                position += 2
                var literal: [Unicode.Scalar] = []
                while let d = current {
                    if d == "\\", position + 1 < scalars.count, scalars[position + 1] == "E" {
                        position += 2
                        break
                    }
                    literal.append(d)
                    position += 1
                }
                guard let last = literal.popLast() else { continue }
                items += literal.map { .scalar($0, fold: flags.caseless) }
                items.append(try quantified(.scalar(last, fold: flags.caseless), start: start))
                continue
            }
            guard var atom = try atom(&flags) else { continue }
            if case .assertion = atom, ["*", "+", "?", "{"].contains(Character(current ?? " ")) {
                throw fail("a quantifier after an assertion repeats nothing")
            }
            atom = try quantified(atom, start: start)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    private mutating func quantified(_ atom: RegexNode, start: Int) throws -> RegexNode {
        var node = atom
        while let c = current {
            var bounds: (Int, Int?)
            switch c {
            case "*": bounds = (0, nil)
            case "+": bounds = (1, nil)
            case "?": bounds = (0, 1)
            case "{":
                guard let counted = try counted() else {
                    throw fail("a '{' that starts no repetition {n}, {n,} or {n,m} (write \\{ for the character)")
                }
                bounds = counted
            default: return node
            }
            if c != "{" { position += 1 }
            let lazy = take("?")
            if current == "+" { throw fail("possessive quantifiers are not supported") }
            if let max = bounds.1, max < bounds.0 { throw fail("{n,m} with m below n", at: start) }
            if bounds.0 > 1000 || (bounds.1 ?? 0) > 1000 { throw fail("a repetition count above 1000") }
            node = .repeated(node, min: bounds.0, max: bounds.1, lazy: lazy)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}`; nil (and nothing consumed) when `{` starts no count: a literal brace.
    private mutating func counted() throws -> (Int, Int?)? {
        let save = position
        position += 1
        func number() -> Int? {
            var digits = ""
            while let c = current, ("0"..."9").contains(Character(c)) {
                digits.append(Character(c))
                position += 1
            }
            return digits.isEmpty ? nil : Int(digits.prefix(6))
        }
        guard let low = number() else {
            position = save
            return nil
        }
        var high: Int? = low
        if take(",") { high = number() }
        guard take("}") else {
            position = save
            return nil
        }
        return (low, high)
    }

    private mutating func atom(_ flags: inout Flags) throws -> RegexNode? {
        let c = current!
        switch c {
        case "(": return try group(&flags)
        case "[":
            position += 1
            return .set(try set(flags))
        case ".":
            position += 1
            return .any(dotAll: flags.dotAll)
        case "^":
            position += 1
            return .assertion(.lineStart(multiline: flags.multiline))
        case "$":
            position += 1
            return .assertion(.lineEnd(multiline: flags.multiline))
        case "\\":
            position += 1
            return try escape(flags)
        case "*", "+", "?", "{": throw fail("a quantifier with nothing to repeat")
        default:
            position += 1
            return .scalar(c, fold: flags.caseless)
        }
    }

    private mutating func group(_ flags: inout Flags) throws -> RegexNode? {
        let open = position
        position += 1
        var inner = flags
        var index: Int?
        var look: (behind: Bool, negated: Bool)?
        if take("?") {
            if take(":") {
            } else if take("=") {
                look = (false, false)
            } else if take("!") {
                look = (false, true)
            } else if current == "<", position + 1 < scalars.count,
                scalars[position + 1] == "=" || scalars[position + 1] == "!"
            {
                look = (true, scalars[position + 1] == "!")
                position += 2
            } else if take("<") {
                var name = ""
                while let c = current, c != ">" {
                    guard c.properties.isAlphabetic || ("0"..."9").contains(Character(c)) else {
                        throw fail("a group name has letters and digits only")
                    }
                    name.unicodeScalars.append(c)
                    position += 1
                }
                guard take(">"), let first = name.first, first.isLetter else {
                    throw fail("a group name must start with a letter and end with '>'")
                }
                groupCount += 1
                index = groupCount
                if names[name] != nil { throw fail("the group name '\(name)' appears twice") }
                names[name] = groupCount
            } else if current == ">" {
                throw fail("atomic groups (?>…) are not supported")
            } else if let changed = try flagsGroup(&inner) {
                if changed {  // `(?i)`: for the rest of the enclosing group
                    flags = inner
                    return nil
                }
            }
        } else {
            groupCount += 1
            index = groupCount
        }
        let body = try alternation(&inner)
        guard take(")") else { throw fail("missing ')'", at: open) }
        if let look {
            if look.behind, RegexLength.of(body).max == nil {
                throw fail("a lookbehind must have a bounded length", at: open)
            }
            return .look(body, behind: look.behind, negated: look.negated)
        }
        return .group(body, index: index)
    }

    /// `(?i)` / `(?-i)` / `(?i:…)` (and `s`, `m`): true when it was a bare flag setting (closed),
    /// false when a `:` follows and a group body comes.
    private mutating func flagsGroup(_ flags: inout Flags) throws -> Bool? {
        var on = true
        while let c = current {
            switch c {
            case "i": flags.caseless = on
            case "s": flags.dotAll = on
            case "m": flags.multiline = on
            case "x", "w": throw fail("the flag '\(c)' is not supported")
            case "-": on = false
            case ")":
                position += 1
                return true
            case ":":
                position += 1
                return false
            default: throw fail("unknown group construct '(?\(c)'")
            }
            position += 1
        }
        throw fail("missing ')'")
    }

    private mutating func escape(_ flags: Flags) throws -> RegexNode {
        guard let c = current else { throw fail("a trailing backslash") }
        position += 1
        switch c {
        case "b": return .assertion(.wordBoundary)
        case "B": return .assertion(.notWordBoundary)
        case "A": return .assertion(.textStart)
        case "z": return .assertion(.textEnd)
        case "Z": return .assertion(.textEndBeforeNewline)
        case "1"..."9": throw fail("backreferences are not supported", at: position - 2)
        default:
            if let item = try classEscape(c) { return .set(ScalarSet(items: [item], negated: false, fold: false)) }
            return .scalar(try literalEscape(c), fold: flags.caseless)
        }
    }

    /// `\d \w \s \D \W \S \p{…} \P{…}` as a set item; nil for other escapes.
    private mutating func classEscape(_ c: Unicode.Scalar) throws -> ScalarSet.Item? {
        switch c {
        case "d": return .digit
        case "D": return .not(.digit)
        case "w": return .word
        case "W": return .not(.word)
        case "s": return .space
        case "S": return .not(.space)
        case "h": return .range(0x20...0x20)
        case "p", "P":
            guard take("{") else { throw fail("\\p needs a category in braces: \\p{L}") }
            var name = ""
            while let d = current, d != "}" {
                name.unicodeScalars.append(d)
                position += 1
            }
            guard take("}"), RegexCase.knownCategories.contains(name) else {
                throw fail("\\p{\(name)}: only general categories (L, Lu, N, Nd, P, S, Z…) are supported")
            }
            return c == "p" ? .category(name) : .not(.category(name))
        default: return nil
        }
    }

    /// `\n \t \r \f \v \e \a \0 \xhh \x{h…} \uhhhh`, or an escaped character meaning itself.
    private mutating func literalEscape(_ c: Unicode.Scalar) throws -> Unicode.Scalar {
        switch c {
        case "n": return "\n"
        case "t": return "\t"
        case "r": return "\r"
        case "f": return "\u{0C}"
        case "v": return "\u{0B}"
        case "e": return "\u{1B}"
        case "a": return "\u{07}"
        case "0": return "\u{0}"
        case "x", "u":
            var hex = ""
            if c == "x", take("{") {
                while let d = current, d != "}" {
                    hex.unicodeScalars.append(d)
                    position += 1
                }
                guard take("}") else { throw fail("missing '}' in \\x{…}") }
            } else {
                for _ in 0..<(c == "x" ? 2 : 4) {
                    guard let d = current else { break }
                    hex.unicodeScalars.append(d)
                    position += 1
                }
            }
            guard let value = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(value) else {
                throw fail("an invalid hexadecimal escape")
            }
            return scalar
        default:
            if c.properties.isAlphabetic || ("0"..."9").contains(Character(c)) {
                throw fail("the escape \\\(c) is not supported")
            }
            return c
        }
    }

    /// After `[`: items up to `]`, ranges `a-z`, class escapes; `^` first negates.
    private mutating func set(_ flags: Flags) throws -> ScalarSet {
        let open = position - 1
        let negated = take("^")
        var items: [ScalarSet.Item] = []
        var first = true
        while true {
            guard let c = current else { throw fail("missing ']'", at: open) }
            if c == "]", !first {
                position += 1
                break
            }
            first = false
            if c == "[" { throw fail("nested sets and set operations are not supported") }
            position += 1
            var low: Unicode.Scalar = c
            if c == "\\" {
                guard let e = current else { throw fail("a trailing backslash") }
                position += 1
                if let item = try classEscape(e) {
                    items.append(item)
                    continue
                }
                low = try literalEscape(e)
            }
            if current == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                position += 1
                var high = current!
                position += 1
                if high == "\\" {
                    guard let e = current else { throw fail("a trailing backslash") }
                    position += 1
                    high = try literalEscape(e)
                }
                guard low.value <= high.value else { throw fail("a range out of order in a set") }
                items.append(.range(low.value...high.value))
            } else {
                items.append(.range(low.value...low.value))
            }
        }
        return ScalarSet(items: items, negated: negated, fold: flags.caseless)
    }
}

/// How many scalars a node can match: at least `min`, at most `max` (nil: unbounded).
enum RegexLength {
    static func of(_ node: RegexNode) -> (min: Int, max: Int?) {
        switch node {
        case .empty, .assertion, .look: return (0, 0)
        case .scalar, .set, .any: return (1, 1)
        case .group(let inner, _): return of(inner)
        case .sequence(let items):
            var low = 0
            var high: Int? = 0
            for item in items {
                let (a, b) = of(item)
                low += a
                high = high.flatMap { h in b.map { h + $0 } }
            }
            return (low, high)
        case .alternation(let branches):
            let lengths = branches.map(of)
            let high = lengths.contains { $0.max == nil } ? nil : lengths.compactMap(\.max).max()
            return (lengths.map(\.min).min() ?? 0, high)
        case .repeated(let inner, let min, let max, _):
            let (a, b) = of(inner)
            return (a * min, max.flatMap { m in b.map { $0 * m } })
        }
    }
}
