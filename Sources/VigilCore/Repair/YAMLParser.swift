import Foundation

/// What a YAML key holds.
enum YAMLEntry: Sendable {
    /// A scalar; `indent` is its key's indentation and `lineEnd` the end of its line's content, where children
    /// of an empty `key:` go.
    case scalar(ConfigScalar, indent: Int, lineEnd: Int)
    case mapping
    case list
    case blockScalar

    var scalar: ConfigScalar? {
        if case .scalar(let s, _, _) = self { return s }
        return nil
    }

    var kind: String {
        switch self {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .list: return "a list"
        case .blockScalar: return "a block scalar"
        }
    }
}

/// Where a YAML mapping's children are.
struct YAMLMapping: Sendable {
    var childIndent: Int
    /// End (before the line break) of the last content line of the mapping's subtree.
    var end: Int
}

/// Reads the YAML subset line by line, recording every key and where its value is.
struct YAMLParser {
    struct Line {
        var start: Int
        /// End of the content, before `\r\n` or `\n`.
        var end: Int
    }

    struct Frame {
        var indent: Int
        var path: [String]
        var key: String { path.joined(separator: ".") }
    }

    let b: [UInt8]
    let path: String
    var lines: [Line] = []
    var entries: [String: YAMLEntry] = [:]
    var order: [String] = []
    var mappings: [String: YAMLMapping] = [:]
    var indentStep: Int?
    var stack: [Frame] = []
    /// Where the `...` line that ends the document starts, when there is one.
    var documentEnd: Int?

    init(bytes: [UInt8], path: String) {
        b = bytes
        self.path = path
        var start = 0
        for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            let end = i > start && bytes[i - 1] == UInt8(ascii: "\r") ? i - 1 : i
            lines.append(Line(start: start, end: end))
            start = i + 1
        }
        if start < bytes.count {
            // A last line without a `\n` ends before a `\r` too, as the others do: else `a: c\r` read `c\r` until a
            // key added after it made the `\r` a line break (found by scripts/fuzz).
            let end =
                bytes.count > start && bytes[bytes.count - 1] == UInt8(ascii: "\r") ? bytes.count - 1 : bytes.count
            lines.append(Line(start: start, end: end))
        }
    }

    func fail(_ line: Int, _ message: String, key: String? = nil) -> VigilError {
        VigilError(.invalidConfig, file: path, key: key, "line \(line + 1): \(message)")
    }

    /// The number of leading spaces, or nil for a blank or comment-only line. Throws on a tab in
    /// the indentation when `strict`.
    func indentation(_ i: Int, strict: Bool = true) throws -> Int? {
        let line = lines[i]
        var p = line.start
        while p < line.end, b[p] == UInt8(ascii: " ") { p += 1 }
        var q = p
        while q < line.end, b[q] == UInt8(ascii: " ") || b[q] == UInt8(ascii: "\t") { q += 1 }
        if q == line.end || b[q] == UInt8(ascii: "#") { return nil }
        if q != p {
            if strict { throw fail(i, "tab character in indentation; indent with spaces") }
        }
        return p - line.start
    }

    func isDash(_ p: Int, _ end: Int) -> Bool {
        b[p] == UInt8(ascii: "-") && (p + 1 == end || b[p + 1] == UInt8(ascii: " "))
    }

    func isMarker(_ line: Line, _ marker: String) -> Bool {
        let m = Array(marker.utf8)
        guard line.end - line.start >= 3, Array(b[line.start..<line.start + 3]) == m else { return false }
        return line.start + 3 == line.end || b[line.start + 3] == UInt8(ascii: " ")
    }

    /// Marks the line's end as the end of every open mapping.
    mutating func extend(to end: Int) {
        for frame in stack { mappings[frame.key]?.end = end }
    }

    mutating func parse() throws {
        var pending: (path: [String], indent: Int)?
        var sawContent = false
        var sawStart = false
        var i = 0
        while i < lines.count {
            let line = lines[i]
            // YAML reads a lone `\r` as a line break, which would make the line's value span lines; keys added
            // after it moved the break (found by scripts/fuzz). Only `\n` and `\r\n` are supported.
            if b[line.start..<line.end].contains(UInt8(ascii: "\r")) {
                throw fail(i, "a carriage return (\\r) not followed by a line feed is not supported")
            }
            guard let indent = try indentation(i) else {
                i += 1
                continue
            }
            let c = line.start + indent
            if indent == 0, isMarker(line, "---") {
                if sawContent || sawStart { throw fail(i, "several documents in one file are not supported") }
                sawStart = true
                i += 1
                continue
            }
            if indent == 0, isMarker(line, "...") {
                for j in (i + 1)..<lines.count where try indentation(j) != nil {
                    throw fail(j, "content after the document end marker '...'")
                }
                documentEnd = line.start
                break
            }
            sawContent = true
            let dash = isDash(c, line.end)
            if let p = pending {
                pending = nil
                let key = p.path.joined(separator: ".")
                if dash && indent >= p.indent {
                    entries[key] = .list
                    i = try consumeList(from: i, dashIndent: indent)
                    continue
                }
                if !dash && indent > p.indent {
                    entries[key] = .mapping
                    mappings[key] = YAMLMapping(childIndent: indent, end: line.end)
                    stack.append(Frame(indent: indent, path: p.path))
                    if indentStep == nil { indentStep = indent - p.indent }
                }
            }
            if dash {
                throw fail(
                    i, stack.isEmpty ? "the top level must be a mapping, not a list" : "a list item must follow 'key:'")
            }
            if stack.isEmpty {
                stack.append(Frame(indent: indent, path: []))
                mappings[""] = YAMLMapping(childIndent: indent, end: line.end)
            }
            while let top = stack.last, indent < top.indent { stack.removeLast() }
            guard let top = stack.last, top.indent == indent else {
                let expected = stack.last.map { "\($0.indent)" } ?? "\(mappings[""]!.childIndent)"
                throw fail(i, "bad indentation: \(indent) spaces where \(expected) were expected")
            }
            let (name, afterColon) = try parseKey(i, from: c)
            let keyPath = top.path + [name]
            let key = keyPath.joined(separator: ".")
            if entries[key] != nil { throw fail(i, "duplicate key '\(name)'", key: key) }
            order.append(key)
            extend(to: line.end)
            var v = afterColon
            while v < line.end, b[v] == UInt8(ascii: " ") || b[v] == UInt8(ascii: "\t") { v += 1 }
            if v == line.end || b[v] == UInt8(ascii: "#") {
                entries[key] = .scalar(
                    ConfigScalar(key: key, value: nil, range: afterColon..<afterColon, quoting: .bare),
                    indent: indent, lineEnd: line.end)
                pending = (keyPath, indent)
                i += 1
                continue
            }
            switch b[v] {
            case UInt8(ascii: "|"), UInt8(ascii: ">"):
                entries[key] = .blockScalar
                i = try consumeBlockScalar(from: i + 1, keyIndent: indent)
                continue
            case UInt8(ascii: "["):
                try parseFlowList(i, from: v, key: key)
                entries[key] = .list
            case UInt8(ascii: "{"):
                throw fail(i, "flow mappings ({…}) are not supported; use an indented block", key: key)
            case UInt8(ascii: "&"), UInt8(ascii: "*"), UInt8(ascii: "!"):
                throw fail(i, "anchors, aliases and tags are not supported", key: key)
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                let (text, close) = try parseQuoted(i, from: v, key: key)
                try expectEnd(i, from: close, key: key)
                entries[key] = .scalar(
                    ConfigScalar(
                        key: key, value: .string(text), range: v..<close, quoting: ConfigQuoting(opening: b[v])),
                    indent: indent, lineEnd: line.end)
            default:
                var end = v
                while end < line.end {
                    if b[end] == UInt8(ascii: "#"), b[end - 1] == UInt8(ascii: " ") || b[end - 1] == UInt8(ascii: "\t")
                    {
                        break
                    }
                    end += 1
                }
                while end > v, b[end - 1] == UInt8(ascii: " ") || b[end - 1] == UInt8(ascii: "\t") { end -= 1 }
                let raw = String(decoding: b[v..<end], as: UTF8.self)
                if raw.contains(": ") || raw.hasSuffix(":") {
                    throw fail(i, "a plain value cannot contain ': ' or end with ':'; quote it", key: key)
                }
                try checkContinuation(after: i, keyIndent: indent, key: key)
                entries[key] = .scalar(
                    ConfigScalar(key: key, value: Self.resolvePlain(raw), range: v..<end, quoting: .bare),
                    indent: indent, lineEnd: line.end)
            }
            i += 1
        }
    }

    /// A deeper line right after a plain scalar would continue it (a multi-line plain scalar).
    func checkContinuation(after i: Int, keyIndent: Int, key: String) throws {
        var j = i + 1
        while j < lines.count {
            if let indent = try indentation(j) {
                if indent > keyIndent {
                    throw fail(
                        j,
                        "bad indentation: deeper than a key that has a value (multi-line plain values are not supported)",
                        key: key)
                }
                return
            }
            j += 1
        }
    }

    /// Skips a block list (items may span deeper lines); returns the next line to parse.
    mutating func consumeList(from start: Int, dashIndent: Int) throws -> Int {
        var i = start
        while i < lines.count {
            let line = lines[i]
            if let indent = try indentation(i, strict: false) {
                guard indent > dashIndent || (indent == dashIndent && isDash(line.start + indent, line.end)) else {
                    break
                }
                extend(to: line.end)
            }
            i += 1
        }
        return i
    }

    /// Skips a block scalar's lines (blank or deeper than its key); returns the next line to parse.
    mutating func consumeBlockScalar(from start: Int, keyIndent: Int) throws -> Int {
        var i = start
        while i < lines.count {
            let line = lines[i]
            var p = line.start
            while p < line.end, b[p] == UInt8(ascii: " ") { p += 1 }
            let blank = b[p..<line.end].allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            if !blank {
                guard p - line.start > keyIndent else { break }
                extend(to: line.end)
            }
            i += 1
        }
        return i
    }

    func parseKey(_ i: Int, from c: Int) throws -> (String, Int) {
        let end = lines[i].end
        var name: String
        var p: Int
        if b[c] == UInt8(ascii: "\"") || b[c] == UInt8(ascii: "'") {
            (name, p) = try parseQuoted(i, from: c, key: nil)
            while p < end, b[p] == UInt8(ascii: " ") { p += 1 }
            guard p < end, b[p] == UInt8(ascii: ":"), p + 1 == end || b[p + 1] == UInt8(ascii: " ") else {
                throw fail(i, "expected ':' after the quoted key")
            }
        } else {
            if "[{&*!|>%@`?,".utf8.contains(b[c]) {
                throw fail(i, "unsupported syntax '\(Character(UnicodeScalar(b[c])))' where a key was expected")
            }
            p = c
            while p < end {
                if b[p] == UInt8(ascii: ":"),
                    p + 1 == end || b[p + 1] == UInt8(ascii: " ") || b[p + 1] == UInt8(ascii: "\t")
                {
                    break
                }
                if b[p] == UInt8(ascii: "#"), b[p - 1] == UInt8(ascii: " ") { p = end }
                p += 1
            }
            guard p < end else { throw fail(i, "expected 'key: value'") }
            var e = p
            while e > c, b[e - 1] == UInt8(ascii: " ") { e -= 1 }
            name = String(decoding: b[c..<e], as: UTF8.self)
            if name == "<<" { throw fail(i, "merge keys (<<) are not supported") }
        }
        // An empty key (`: 1`, `"": 1`) cannot be addressed, and at the top level its path is the root's own, so
        // keys added to the root went under it instead (found by scripts/fuzz).
        guard !name.isEmpty else { throw fail(i, "an empty key is not supported") }
        return (name, p + 1)
    }

    /// Parses a quoted scalar starting at `q`; returns its text and the index just past the quote.
    func parseQuoted(_ i: Int, from q: Int, key: String?) throws -> (String, Int) {
        let end = lines[i].end
        let quote = b[q]
        var out: [UInt8] = []
        var p = q + 1
        while p < end {
            let c = b[p]
            if c == quote {
                if quote == UInt8(ascii: "'"), p + 1 < end, b[p + 1] == quote {
                    out.append(quote)
                    p += 2
                    continue
                }
                return (String(decoding: out, as: UTF8.self), p + 1)
            }
            if quote == UInt8(ascii: "\""), c == UInt8(ascii: "\\"), p + 1 < end {
                p += 1
                switch b[p] {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "0"): out.append(0)
                case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let width = b[p] == UInt8(ascii: "x") ? 2 : b[p] == UInt8(ascii: "u") ? 4 : 8
                    guard p + width < end,
                        let code = UInt32(String(decoding: b[(p + 1)...(p + width)], as: UTF8.self), radix: 16),
                        let scalar = UnicodeScalar(code)
                    else { throw fail(i, "invalid escape in a double-quoted string", key: key) }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    p += width
                default: out.append(b[p])
                }
                p += 1
                continue
            }
            out.append(c)
            p += 1
        }
        let kind = quote == UInt8(ascii: "\"") ? "double" : "single"
        throw fail(i, "unterminated \(kind)-quoted string (multi-line quoted values are not supported)", key: key)
    }

    func expectEnd(_ i: Int, from p: Int, key: String) throws {
        var p = p
        let end = lines[i].end
        let start = p
        while p < end, b[p] == UInt8(ascii: " ") || b[p] == UInt8(ascii: "\t") { p += 1 }
        if p == end || (b[p] == UInt8(ascii: "#") && p > start) { return }
        throw fail(i, "unexpected text after the value", key: key)
    }

    func parseFlowList(_ i: Int, from start: Int, key: String) throws {
        let end = lines[i].end
        var depth = 0
        var p = start
        while p < end {
            switch b[p] {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                p = try parseQuoted(i, from: p, key: key).1
                continue
            case UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 {
                    try expectEnd(i, from: p + 1, key: key)
                    return
                }
            default: break
            }
            p += 1
        }
        throw fail(i, "a flow list ([…]) must close on its line", key: key)
    }

    static func isNull(_ s: String) -> Bool {
        ["", "~", "null", "Null", "NULL"].contains(s)
    }

    /// YAML 1.2 core schema resolution of a plain scalar (nil for null).
    static func resolvePlain(_ s: String) -> ConfigValue? {
        if isNull(s) { return nil }
        switch s {
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .double(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .double(-.infinity)
        case ".nan", ".NaN", ".NAN": return .double(.nan)
        default: break
        }
        let u = Array(s.utf8)
        var p = 0
        if p < u.count, u[p] == UInt8(ascii: "-") || u[p] == UInt8(ascii: "+") { p += 1 }
        func digits() -> Int {
            let start = p
            while p < u.count, u[p] >= UInt8(ascii: "0"), u[p] <= UInt8(ascii: "9") { p += 1 }
            return p - start
        }
        let intDigits = digits()
        if intDigits > 0, p == u.count {
            if let v = Int(s) { return .int(v) }
            return Double(s).map { .double($0) } ?? .string(s)
        }
        var fracDigits = 0
        if p < u.count, u[p] == UInt8(ascii: ".") {
            p += 1
            fracDigits = digits()
        }
        guard intDigits + fracDigits > 0 else { return .string(s) }
        if p < u.count, u[p] == UInt8(ascii: "e") || u[p] == UInt8(ascii: "E") {
            p += 1
            if p < u.count, u[p] == UInt8(ascii: "-") || u[p] == UInt8(ascii: "+") { p += 1 }
            if digits() == 0 { return .string(s) }
        }
        guard p == u.count else { return .string(s) }
        var normalized = s
        if intDigits == 0 { normalized = normalized.replacingOccurrences(of: ".", with: "0.") }
        return Double(normalized).map { .double($0) } ?? .string(s)
    }
}
