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

/// A strict JSON config file (RFC 8259: no comments, no trailing commas), editable in place.
///
/// The scanner records, for every member of every object, its dotted key path and the byte range of its value.
/// Objects nest (`training.optimizer.lr`); arrays are parsed and kept but their elements are not addressable.
/// An edit splices new characters over the old value's range only, so everything else in the file stays byte
/// for byte. A value that was a JSON string is written back as a JSON string (properly escaped) whatever the new
/// value's type, so a trainer that reads `"lr": "1e-4"` keeps getting a string; otherwise ints are written bare,
/// doubles in their shortest round-tripping digits (in the style of the float they replace) and bools as `true`/`false`. A missing key is added as the last
/// member of its object, indented like the object's other members, with parent objects created (`{}`) as needed.
struct JSONConfigDocument: ConfigDocument {
    let path: String

    /// What a dotted key path holds.
    fileprivate enum Node {
        /// A scalar (its value nil for `null`); a JSON string is quoted `.double`, anything else `.bare`.
        case scalar(ConfigScalar)
        case object(JSONObjectSpan)
        case array

        var scalar: ConfigScalar? {
            if case .scalar(let s) = self { return s }
            return nil
        }
    }

    private let source: ConfigSource
    private let nodes: [String: Node]
    private let order: [String]
    /// The root object, when the document is one.
    private let root: JSONObjectSpan?

    var text: String { source.text }
    private var bytes: [UInt8] { source.bytes }

    init(text: String, path: String) throws {
        source = ConfigSource(text)
        self.path = path
        var scanner = JSONScanner(bytes: source.bytes, path: path)
        try scanner.parseDocument()
        nodes = scanner.nodes
        order = scanner.order
        root = scanner.root
    }

    var keys: [String] {
        ConfigScalar.keys(order) { nodes[$0]?.scalar }
    }

    func value(at key: String) -> ConfigValue? {
        nodes[key]?.scalar?.value
    }

    func setting(_ key: String, to value: ConfigValue) throws -> String {
        switch nodes[key] {
        case .scalar(let scalar):
            let replacement =
                scalar.quoting == .double
                ? Self.quoted(value.description) : try encode(value, key: key, like: source.numberLiteral(of: scalar))
            return source.replacing(scalar, with: replacement)
        case .object, .array:
            throw VigilError(.invalidConfig, file: path, key: key, "is an object or array, not a scalar value")
        case nil:
            return try adding(key, value)
        }
    }

    // MARK: - Adding keys

    private func adding(_ key: String, _ value: ConfigValue) throws -> String {
        guard var parent = root else {
            throw VigilError(.invalidConfig, file: path, key: key, "the document is not a JSON object")
        }
        guard let components = ConfigKeyPath.components(key) else {
            throw VigilError(.invalidConfig, file: path, key: key, "is not a valid key path")
        }
        var index = 0
        while index < components.count - 1 {
            let prefix = components[0...index].joined(separator: ".")
            switch nodes[prefix] {
            case .object(let span):
                parent = span
                index += 1
                continue
            case .scalar, .array:
                throw VigilError(.invalidConfig, file: path, key: key, "\(prefix) is not an object")
            case nil:
                break
            }
            break
        }
        let literal = try encode(value, key: key)
        let rest = Array(components[index...])
        let unit = indentUnit()

        if let last = parent.lastMemberEnd {
            if let indent = parent.memberIndent {
                let member = Self.member(rest, literal, indent: indent, unit: unit)
                return source.inserting(",\n" + indent + member, at: .inLine(last..<last))
            }
            return source.inserting(
                ", " + Self.member(rest, literal, indent: nil, unit: unit), at: .inLine(last..<last))
        }
        // An empty object: `{}` or `{ }` or `{\n}`; its interior is only whitespace, so it is rewritten.
        let multiline = root?.memberIndent != nil
        if multiline {
            let outer = lineIndent(at: parent.open)
            let indent = outer + unit
            let member = Self.member(rest, literal, indent: indent, unit: unit)
            return source.inserting(
                "\n" + indent + member + "\n" + outer, at: .inLine(parent.open + 1..<parent.close))
        }
        return source.inserting(
            Self.member(rest, literal, indent: nil, unit: unit), at: .inLine(parent.open + 1..<parent.close))
    }

    /// `"a": {"b": value}`, pretty-printed at `indent` (nil for one line).
    private static func member(_ components: [String], _ literal: String, indent: String?, unit: String) -> String {
        var text = quoted(components[0]) + ": "
        if components.count == 1 { return text + literal }
        let inner = Array(components.dropFirst())
        if let indent {
            let deeper = indent + unit
            text += "{\n" + deeper + member(inner, literal, indent: deeper, unit: unit) + "\n" + indent + "}"
        } else {
            text += "{" + member(inner, literal, indent: nil, unit: unit) + "}"
        }
        return text
    }

    /// The indentation step of the file: the root's member indentation, else two spaces.
    private func indentUnit() -> String {
        if let root, let indent = root.memberIndent {
            let outer = lineIndent(at: root.open)
            if indent.count > outer.count, indent.hasPrefix(outer) { return String(indent.dropFirst(outer.count)) }
        }
        return "  "
    }

    /// The leading whitespace of the line holding byte `offset`.
    private func lineIndent(at offset: Int) -> String {
        var start = offset
        while start > 0, bytes[start - 1] != UInt8(ascii: "\n") { start -= 1 }
        var end = start
        while end < bytes.count, bytes[end] == UInt8(ascii: " ") || bytes[end] == UInt8(ascii: "\t") { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    // MARK: - Writing values

    /// `value` as a JSON literal; a float in the style of `literal`, the number it replaces.
    private func encode(_ value: ConfigValue, key: String, like literal: String? = nil) throws -> String {
        switch value {
        case .int(let v): return String(v)
        case .bool(let v): return v ? "true" : "false"
        case .string(let v): return Self.quoted(v)
        case .double(let v):
            guard let text = ConfigFloatSyntax.finite.format(v, like: literal) else {
                throw VigilError(.invalidConfig, file: path, key: key, "\(v) cannot be written in JSON")
            }
            return text
        }
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped (DEL need not be).
    static func quoted(_ text: String) -> String {
        ConfigText.doubleQuoted(text) { code in
            switch code {
            case 0x08: return "\\b"
            case 0x0C: return "\\f"
            case 0x7F: return "\u{7F}"
            default:
                let hex = String(code, radix: 16)
                return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
    }
}

/// Where an object sits in the text, for adding members to it.
private struct JSONObjectSpan {
    /// Offsets of `{` and `}`.
    var open: Int
    var close: Int
    /// The offset just past the last member's value, when the object has members.
    var lastMemberEnd: Int?
    /// The whitespace before the first member's key on its line, when members are on their own lines.
    var memberIndent: String?
}

/// A recursive-descent scanner over UTF-8 bytes that records where every value is.
private struct JSONScanner {
    let bytes: [UInt8]
    let path: String
    var position = 0
    var nodes: [String: JSONConfigDocument.Node] = [:]
    var order: [String] = []
    var root: JSONObjectSpan?

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    mutating func parseDocument() throws {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
        skipWhitespace()
        guard position < bytes.count else { throw error("the file is empty; expected a JSON value") }
        if bytes[position] == UInt8(ascii: "{") {
            root = try parseObject(key: "")
        } else {
            try parseValue(key: nil)
        }
        skipWhitespace()
        if position < bytes.count { throw error("unexpected \(describe()) after the end of the JSON value") }
    }

    // MARK: Values

    /// Parses a value; `key` is its dotted path ("" for the root object), nil when it is not addressable (an
    /// array's element or anything inside one).
    mutating func parseValue(key: String?) throws {
        guard position < bytes.count else { throw error("unexpected end of file; expected a value") }
        let start = position
        let byte = bytes[position]
        switch byte {
        case UInt8(ascii: "{"):
            let span = try parseObject(key: key)
            record(key, .object(span))
        case UInt8(ascii: "["):
            try parseArray()
            record(key, .array)
        case UInt8(ascii: "\""):
            let string = try parseString()
            record(key, scalar: .string(string), from: start, quoting: .double)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let number = try parseNumber()
            record(key, scalar: number, from: start, quoting: .bare)
        default:
            for (word, value) in [("true", ConfigValue.bool(true)), ("false", .bool(false)), ("null", nil)]
            where bytes[position...].starts(with: word.utf8) {
                position += word.utf8.count
                record(key, scalar: value, from: start, quoting: .bare)
                return
            }
            throw error("unexpected \(describe()); expected a value")
        }
    }

    mutating func record(_ key: String?, _ node: JSONConfigDocument.Node) {
        guard let key else { return }
        if nodes[key] == nil { order.append(key) }
        nodes[key] = node
    }

    /// Records the scalar that ends at the current position.
    mutating func record(_ key: String?, scalar value: ConfigValue?, from start: Int, quoting: ConfigQuoting) {
        guard let key else { return }
        record(key, .scalar(ConfigScalar(key: key, value: value, range: start..<position, quoting: quoting)))
    }

    mutating func parseObject(key: String?) throws -> JSONObjectSpan {
        var span = JSONObjectSpan(open: position, close: position)
        position += 1
        skipWhitespace()
        if peek(UInt8(ascii: "}")) {
            span.close = position
            position += 1
            return span
        }
        var first = true
        while true {
            guard peek(UInt8(ascii: "\"")) else {
                throw error("unexpected \(describe()); expected a member name in double quotes")
            }
            if first {
                first = false
                span.memberIndent = indentIfFirstOnLine(position)
            }
            let name = try parseString()
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else {
                throw error("unexpected \(describe()); expected ':' after \"\(name)\"")
            }
            position += 1
            skipWhitespace()
            try parseValue(key: key.map { $0.isEmpty ? name : $0 + "." + name })
            span.lastMemberEnd = position
            skipWhitespace()
            if peek(UInt8(ascii: ",")) {
                position += 1
                skipWhitespace()
                if peek(UInt8(ascii: "}")) { throw error("trailing comma before '}' is not allowed in JSON") }
                continue
            }
            guard peek(UInt8(ascii: "}")) else {
                throw error("unexpected \(describe()); expected ',' or '}' after the value of \"\(name)\"")
            }
            span.close = position
            position += 1
            return span
        }
    }

    mutating func parseArray() throws {
        position += 1
        skipWhitespace()
        if peek(UInt8(ascii: "]")) {
            position += 1
            return
        }
        while true {
            try parseValue(key: nil)
            skipWhitespace()
            if peek(UInt8(ascii: ",")) {
                position += 1
                skipWhitespace()
                if peek(UInt8(ascii: "]")) { throw error("trailing comma before ']' is not allowed in JSON") }
                continue
            }
            guard peek(UInt8(ascii: "]")) else { throw error("unexpected \(describe()); expected ',' or ']' in array") }
            position += 1
            return
        }
    }

    mutating func parseString() throws -> String {
        let start = position
        position += 1
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw.removeAll()
        }
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                flush()
                return String(scalars)
            }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
            if byte < 0x20 { throw error("control character in string; write it as an escape") }
            if byte != UInt8(ascii: "\\") {
                raw.append(byte)
                position += 1
                continue
            }
            flush()
            position += 1
            guard position < bytes.count else { break }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), bytes[position...].starts(with: "\\u".utf8) {
                    position += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        position -= 6
                    }
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                position -= 1
                throw error("invalid escape '\\\(describe(raw: true))' in string")
            }
        }
        position = start
        throw error("unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count,
            let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
        else { throw error("invalid \\u escape; expected four hex digits") }
        position += 4
        return code
    }

    mutating func parseNumber() throws -> ConfigValue {
        let start = position
        func digits() -> Int {
            let from = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                position += 1
            }
            return position - from
        }
        if peek(UInt8(ascii: "-")) { position += 1 }
        let intStart = position
        let intDigits = digits()
        guard intDigits > 0 else { throw error("invalid number; expected a digit") }
        if intDigits > 1, bytes[intStart] == UInt8(ascii: "0") {
            position = intStart
            throw error("invalid number; leading zeros are not allowed in JSON")
        }
        var isInteger = true
        if peek(UInt8(ascii: ".")) {
            isInteger = false
            position += 1
            guard digits() > 0 else { throw error("invalid number; expected a digit after '.'") }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            isInteger = false
            position += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { position += 1 }
            guard digits() > 0 else { throw error("invalid number; expected a digit in the exponent") }
        }
        let literal = String(decoding: bytes[start..<position], as: UTF8.self)
        if isInteger, let int = Int(literal) { return .int(int) }
        return .double(Double(literal) ?? .nan)
    }

    // MARK: Helpers

    func peek(_ byte: UInt8) -> Bool {
        position < bytes.count && bytes[position] == byte
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): position += 1
            default: return
            }
        }
    }

    /// The whitespace before `offset` when only whitespace precedes it on its line (and it is not the first line's
    /// content after the `{`), else nil.
    func indentIfFirstOnLine(_ offset: Int) -> String? {
        var start = offset
        while start > 0 {
            let byte = bytes[start - 1]
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes[start..<offset], as: UTF8.self) }
            if byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") { return nil }
            start -= 1
        }
        return nil
    }

    /// The character at the current position, for messages.
    func describe(raw: Bool = false) -> String {
        guard position < bytes.count else { return "end of file" }
        var end = position + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        let character = String(decoding: bytes[position..<end], as: UTF8.self)
        if raw { return character }
        switch character {
        case "\n": return "end of line"
        case "/": return "'/' (comments are not allowed in JSON)"
        default: return "'\(character)'"
        }
    }

    func error(_ message: String) -> VigilError {
        let offset = min(position, bytes.count)
        var line = 1
        var lineStart = 0
        for index in 0..<offset where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        let column = String(decoding: bytes[lineStart..<offset], as: UTF8.self).count + 1
        return VigilError(.invalidConfig, file: path, "line \(line), column \(column): \(message)")
    }
}
