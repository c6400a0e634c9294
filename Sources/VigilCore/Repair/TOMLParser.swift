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

/// What a TOML key holds.
enum TOMLEntry: Sendable {
    case scalar(ConfigScalar)
    case table
    /// Kept but not addressable: "an array", "an inline table", "a multi-line string", …
    case opaque(String)

    var scalar: ConfigScalar? {
        if case .scalar(let s) = self { return s }
        return nil
    }

    var kind: String {
        switch self {
        case .scalar: return "a value"
        case .table: return "a table"
        case .opaque(let what): return what
        }
    }
}

/// A table and where new keys of it go.
struct TOMLTable: Sendable {
    var path: [String]
    /// Start of the header line (nil for the top level).
    var headerStart: Int?
    /// End (before the line break) of the last line of the table: its last key line, else its header.
    var end: Int?
    /// The indentation of its key lines.
    var indent = ""
    /// Under `[[…]]`: keys are parsed but not recorded.
    var inArray = false
}

/// Reads TOML, recording every key, where its value is and where each table's key lines end.
struct TOMLParser: Sendable {
    let b: [UInt8]
    let path: String
    var pos = 0
    var entries: [String: TOMLEntry] = [:]
    var order: [String] = []
    var tables = [TOMLTable(path: [])]
    /// Tables with a `[header]` → index in `tables`.
    var explicit: [String: Int] = [:]
    /// Tables defined by dotted keys → the index of the table whose key lines define them.
    var implicit: [String: Int] = [:]
    var current = 0

    init(bytes: [UInt8], path: String) {
        b = bytes
        self.path = path
    }

    static func isBareKeyByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }

    func fail(_ message: String, at p: Int? = nil, key: String? = nil) -> VigilError {
        let line = b[0..<min(p ?? pos, b.count)].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        return VigilError(.invalidConfig, file: path, key: key, "line \(line): \(message)")
    }

    var atLineEnd: Bool {
        pos >= b.count || b[pos] == UInt8(ascii: "\n")
            || (b[pos] == UInt8(ascii: "\r") && pos + 1 < b.count && b[pos + 1] == UInt8(ascii: "\n"))
    }

    mutating func skipSpaces() {
        while pos < b.count, b[pos] == UInt8(ascii: " ") || b[pos] == UInt8(ascii: "\t") { pos += 1 }
    }

    mutating func skipComment() {
        while !atLineEnd { pos += 1 }
    }

    /// Accepts spaces and a comment up to the line break; returns the line's content end.
    mutating func endLine(key: String? = nil) throws -> Int {
        skipSpaces()
        if pos < b.count, b[pos] == UInt8(ascii: "#") { skipComment() }
        guard atLineEnd else { throw fail("unexpected text after the value", key: key) }
        return pos
    }

    mutating func parse() throws {
        while pos < b.count {
            skipSpaces()
            if atLineEnd {
                if pos < b.count { pos += b[pos] == UInt8(ascii: "\r") ? 2 : 1 }
                continue
            }
            switch b[pos] {
            case UInt8(ascii: "#"): skipComment()
            case UInt8(ascii: "["): try parseHeader()
            default: try parseKeyValue()
            }
        }
    }

    mutating func parseHeader() throws {
        var lineStart = pos
        while lineStart > 0, b[lineStart - 1] != UInt8(ascii: "\n") { lineStart -= 1 }
        let isArray = pos + 1 < b.count && b[pos + 1] == UInt8(ascii: "[")
        pos += isArray ? 2 : 1
        skipSpaces()
        let names = try parseKey()
        let key = names.joined(separator: ".")
        skipSpaces()
        for _ in 0..<(isArray ? 2 : 1) {
            guard pos < b.count, b[pos] == UInt8(ascii: "]") else { throw fail("expected ']' after the table name") }
            pos += 1
        }
        let end = try endLine()
        var table = TOMLTable(path: names, headerStart: lineStart, end: end)
        for depth in 1..<names.count {
            let prefix = names[0..<depth].joined(separator: ".")
            switch entries[prefix] {
            case nil: entries[prefix] = .table
            case .table?: break
            case .opaque("an array of tables")?: table.inArray = true
            case let other?: throw fail("\(prefix) is \(other.kind), not a table", key: key)
            }
        }
        if isArray {
            switch entries[key] {
            case nil, .opaque("an array of tables")?: entries[key] = .opaque("an array of tables")
            case let other?: throw fail("\(key) is already \(other.kind)", key: key)
            }
            table.inArray = true
        } else if !table.inArray {
            if explicit[key] != nil || implicit[key] != nil { throw fail("duplicate table [\(key)]", key: key) }
            switch entries[key] {
            case nil, .table?: entries[key] = .table
            case let other?: throw fail("\(key) is already \(other.kind)", key: key)
            }
            explicit[key] = tables.count
        }
        tables.append(table)
        current = tables.count - 1
    }

    mutating func parseKeyValue() throws {
        var lineStart = pos
        while lineStart > 0, b[lineStart - 1] != UInt8(ascii: "\n") { lineStart -= 1 }
        let indent = String(decoding: b[lineStart..<pos], as: UTF8.self)
        let names = try parseKey()
        let table = tables[current]
        let key = (table.path + names).joined(separator: ".")
        skipSpaces()
        guard pos < b.count, b[pos] == UInt8(ascii: "=") else { throw fail("expected '=' after the key", key: key) }
        pos += 1
        skipSpaces()
        let value = try parseValue(key: key)
        let end = try endLine(key: key)
        guard !table.inArray else { return }
        let full = table.path + names
        for depth in (table.path.count + 1)..<full.count {
            let prefix = full[0..<depth].joined(separator: ".")
            switch entries[prefix] {
            case nil:
                entries[prefix] = .table
                implicit[prefix] = current
            case .table?:
                if explicit[prefix] != nil || implicit[prefix] != current {
                    throw fail("table \(prefix) is defined elsewhere; cannot add dotted keys to it", key: key)
                }
            case let other?: throw fail("\(prefix) is \(other.kind), not a table", key: key)
            }
        }
        if entries[key] != nil { throw fail("duplicate key '\(key)'", key: key) }
        entries[key] = value
        order.append(key)
        tables[current].end = end
        tables[current].indent = indent
    }

    mutating func parseKey() throws -> [String] {
        var names: [String] = []
        while true {
            skipSpaces()
            guard pos < b.count else { throw fail("expected a key") }
            if b[pos] == UInt8(ascii: "\"") || b[pos] == UInt8(ascii: "'") {
                guard !(pos + 2 < b.count && b[pos + 1] == b[pos] && b[pos + 2] == b[pos]) else {
                    throw fail("a key cannot be a multi-line string")
                }
                names.append(try parseString(key: nil))
            } else {
                let start = pos
                while pos < b.count, Self.isBareKeyByte(b[pos]) { pos += 1 }
                guard pos > start else { throw fail("expected a key") }
                names.append(String(decoding: b[start..<pos], as: UTF8.self))
            }
            skipSpaces()
            guard pos < b.count, b[pos] == UInt8(ascii: ".") else { return names }
            pos += 1
        }
    }

    /// A single-line basic or literal string at `pos`; leaves `pos` past the closing quote.
    mutating func parseString(key: String?) throws -> String {
        let quote = b[pos]
        let start = pos
        pos += 1
        var out: [UInt8] = []
        while !atLineEnd {
            let c = b[pos]
            if c == quote {
                pos += 1
                return String(decoding: out, as: UTF8.self)
            }
            if quote == UInt8(ascii: "\""), c == UInt8(ascii: "\\") {
                pos += 1
                guard !atLineEnd else { break }
                switch b[pos] {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(b[pos])
                case UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let width = b[pos] == UInt8(ascii: "u") ? 4 : 8
                    guard pos + width < b.count,
                        let code = UInt32(String(decoding: b[(pos + 1)...(pos + width)], as: UTF8.self), radix: 16),
                        let scalar = UnicodeScalar(code)
                    else { throw fail("invalid \\u escape", key: key) }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    pos += width
                default: throw fail("invalid escape '\\\(Character(UnicodeScalar(b[pos])))'", key: key)
                }
                pos += 1
                continue
            }
            out.append(c)
            pos += 1
        }
        throw fail("unterminated string", at: start, key: key)
    }

    mutating func parseValue(key: String) throws -> TOMLEntry {
        guard !atLineEnd else { throw fail("missing value after '='", key: key) }
        let start = pos
        let c = b[pos]
        if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
            if pos + 2 < b.count, b[pos + 1] == c, b[pos + 2] == c {
                try skipMultilineString(key: key)
                return .opaque("a multi-line string")
            }
            let text = try parseString(key: key)
            return .scalar(
                ConfigScalar(key: key, value: .string(text), range: start..<pos, quoting: ConfigQuoting(opening: c)))
        }
        if c == UInt8(ascii: "[") {
            try skipBracketed(key: key)
            return .opaque("an array")
        }
        if c == UInt8(ascii: "{") {
            try skipBracketed(key: key)
            return .opaque("an inline table")
        }
        while pos < b.count, !" \t#,]}\r\n".utf8.contains(b[pos]) { pos += 1 }
        // A date and time may be separated by a space.
        if pos - start == 10, b[start + 4] == UInt8(ascii: "-"), pos + 1 < b.count, b[pos] == UInt8(ascii: " "),
            b[pos + 1] >= UInt8(ascii: "0"), b[pos + 1] <= UInt8(ascii: "9")
        {
            pos += 1
            while pos < b.count, !" \t#,]}\r\n".utf8.contains(b[pos]) { pos += 1 }
        }
        let token = String(decoding: b[start..<pos], as: UTF8.self)
        if token == "true" || token == "false" {
            return .scalar(ConfigScalar(key: key, value: .bool(token == "true"), range: start..<pos, quoting: .bare))
        }
        if let number = Self.number(token) {
            return .scalar(ConfigScalar(key: key, value: number, range: start..<pos, quoting: .bare))
        }
        if token.count >= 8, token.utf8.allSatisfy({ "0123456789-:.TtZz+ ".utf8.contains($0) }),
            token.contains("-") || token.contains(":")
        {
            return .opaque("a date or time")
        }
        throw fail("invalid value '\(token)'", at: start, key: key)
    }

    static func number(_ token: String) -> ConfigValue? {
        var s = token
        var sign = ""
        if s.hasPrefix("+") || s.hasPrefix("-") {
            sign = String(s.removeFirst())
        }
        if s == "inf" { return .double(sign == "-" ? -.infinity : .infinity) }
        if s == "nan" { return .double(.nan) }
        let u = Array(s.utf8)
        guard let first = u.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { return nil }
        // Underscores only between digits.
        for (i, c) in u.enumerated() where c == UInt8(ascii: "_") {
            let isDigit = { (d: UInt8) in
                (d >= UInt8(ascii: "0") && d <= UInt8(ascii: "9")) || (d >= UInt8(ascii: "a") && d <= UInt8(ascii: "f"))
                    || (d >= UInt8(ascii: "A") && d <= UInt8(ascii: "F"))
            }
            guard i > 0, i + 1 < u.count, isDigit(u[i - 1]), isDigit(u[i + 1]) else { return nil }
        }
        let digits = s.replacing("_", with: "")
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where digits.hasPrefix(prefix) {
            guard sign.isEmpty, let v = Int(digits.dropFirst(2), radix: radix) else { return nil }
            return .int(v)
        }
        guard digits.utf8.allSatisfy({ "0123456789.eE+-".utf8.contains($0) }) else { return nil }
        let isFloat = digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        let integer = digits.prefix { $0 >= "0" && $0 <= "9" }
        if integer.count > 1 && integer.hasPrefix("0") { return nil }
        if !isFloat { return Int(sign + digits).map { .int($0) } }
        if let dot = digits.firstIndex(of: ".") {
            let next = digits.index(after: dot)
            guard next < digits.endIndex, digits[next].isNumber else { return nil }
        }
        return Double(sign + digits).map { .double($0) }
    }

    mutating func skipMultilineString(key: String) throws {
        let quote = b[pos]
        let start = pos
        pos += 3
        while pos < b.count {
            if quote == UInt8(ascii: "\""), b[pos] == UInt8(ascii: "\\") {
                pos += 2
                continue
            }
            if b[pos] == quote, pos + 2 < b.count, b[pos + 1] == quote, b[pos + 2] == quote {
                pos += 3
                while pos < b.count, b[pos] == quote, pos - start < 5 + 3 { pos += 1 }
                return
            }
            pos += 1
        }
        throw fail("unterminated multi-line string", at: start, key: key)
    }

    /// Skips an array (`[…]`, which may span lines and hold comments and multi-line strings) or an inline table
    /// (`{…}`, which must close on its line); leaves `pos` past the closing bracket.
    mutating func skipBracketed(key: String) throws {
        let start = pos
        let isArray = b[pos] == UInt8(ascii: "[")
        var depth = 0
        while isArray ? pos < b.count : !atLineEnd {
            let c = b[pos]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                if isArray, pos + 2 < b.count, b[pos + 1] == c, b[pos + 2] == c {
                    try skipMultilineString(key: key)
                } else {
                    _ = try parseString(key: key)
                }
                continue
            }
            if isArray, c == UInt8(ascii: "#") {
                skipComment()
                continue
            }
            if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") { depth += 1 }
            if c == UInt8(ascii: "]") || c == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 {
                    pos += 1
                    return
                }
            }
            pos += 1
        }
        throw fail(
            isArray ? "unterminated array" : "unterminated inline table (it must close on its line)", at: start,
            key: key)
    }
}
