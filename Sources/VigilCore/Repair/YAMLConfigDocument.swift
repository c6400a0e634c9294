import Foundation

/// A YAML config file in the subset training configs use, editable value by value.
///
/// Supported: block mappings nested by space indentation; `key: value` scalars (plain,
/// 'single-quoted', "double-quoted"); ints, floats (`1e-4`, `3.0e-4`, `.5`, `.inf`, `.nan`),
/// bools (`true`/`false`, `True`/`False`, `TRUE`/`FALSE`; `yes`/`no`/`on`/`off` stay strings), null
/// (empty, `~`, `null`); full-line and trailing `#` comments; blank lines; a leading `---` (and a
/// closing `...`); lists in block form (`- a`, at the key's indentation or deeper) and in one-line
/// flow form (`[1, 2]`). Lists are kept byte for byte but are not addressable: `value(at:)` is nil
/// for them and setting them throws. Their items may be anything (even mappings): they are skipped.
///
/// Block scalars (`|`, `>`) are preserved but not addressable (setting one throws). Outside the
/// subset, and rejected with `VigilError(.invalidConfig, …)` naming the line: anchors, aliases,
/// tags and merge keys (`&x`, `*x`, `!tag`, `<<`), since they make a key's effective value live
/// elsewhere; flow mappings (`{a: 1}`); flow lists spanning lines; multi-line plain scalars; tabs
/// in indentation; inconsistent indentation; duplicate keys; several documents; a top-level list.
///
/// `keys` lists the keys whose value is a scalar (not null). Setting an existing key replaces only
/// the value's characters; a missing key is appended after the last line of its parent mapping, at
/// the parent's child indentation, creating missing parent mappings there (an empty `key:` counts
/// as an empty mapping). Written doubles always carry a `.` (`5.0e-05`) so that YAML 1.1 readers
/// such as PyYAML read a float, not a string.
struct YAMLConfigDocument: ConfigDocument {
    let text: String
    let keys: [String]
    private let path: String
    private let entries: [String: YAMLEntry]
    private let mappings: [String: YAMLMapping]
    private let newline: String
    private let indentStep: Int

    init(text: String, path: String) throws {
        var parser = YAMLParser(bytes: Array(text.utf8), path: path)
        try parser.parse()
        self.text = text
        self.path = path
        entries = parser.entries
        mappings = parser.mappings
        indentStep = parser.indentStep ?? 2
        newline = text.contains("\r\n") ? "\r\n" : "\n"
        keys = parser.order.filter {
            if case .scalar(let s)? = parser.entries[$0], s.value != nil { return true }
            return false
        }
    }

    func value(at key: String) -> ConfigValue? {
        if case .scalar(let s)? = entries[key] { return s.value }
        return nil
    }

    func setting(_ key: String, to value: ConfigValue) throws -> String {
        var bytes = Array(text.utf8)
        if let entry = entries[key] {
            guard case .scalar(let s) = entry else {
                throw VigilError(.invalidConfig, file: path, key: key, "\(key) is \(entry.kind) and cannot be set")
            }
            var rendered = Self.render(value, style: s.style)
            if s.start == s.end { rendered = " " + rendered }
            bytes.replaceSubrange(s.start..<s.end, with: Array(rendered.utf8))
            return String(decoding: bytes, as: UTF8.self)
        }
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !parts.contains(where: \.isEmpty) else {
            throw VigilError(.invalidConfig, file: path, key: key, "\"\(key)\" is not a valid key path")
        }
        // The deepest existing ancestor decides where the new lines go.
        var depth = parts.count - 1
        while depth > 0, entries[parts[0..<depth].joined(separator: ".")] == nil { depth -= 1 }
        let parentKey = parts[0..<depth].joined(separator: ".")
        var childIndent = 0
        var insertAt: Int?
        if depth > 0 {
            switch entries[parentKey]! {
            case .mapping:
                childIndent = mappings[parentKey]!.childIndent
                insertAt = mappings[parentKey]!.end
            case .scalar(let s) where s.start == s.end:
                childIndent = s.indent + indentStep
                insertAt = s.lineEnd
            case let other:
                throw VigilError(
                    .invalidConfig, file: path, key: key, "\(parentKey) is \(other.kind), not a mapping")
            }
        } else if let root = mappings[""] {
            childIndent = root.childIndent
            insertAt = root.end
        }
        var lines: [String] = []
        for index in depth..<parts.count {
            let indent = String(repeating: " ", count: childIndent + (index - depth) * indentStep)
            let name = Self.renderKey(parts[index])
            lines.append(
                index == parts.count - 1
                    ? "\(indent)\(name): \(Self.render(value, style: .plain))" : "\(indent)\(name):")
        }
        let block = lines.joined(separator: newline)
        if let insertAt {
            bytes.insert(contentsOf: Array((newline + block).utf8), at: insertAt)
        } else {
            let needsBreak = !bytes.isEmpty && bytes.last != UInt8(ascii: "\n")
            bytes.append(contentsOf: Array(((needsBreak ? newline : "") + block + newline).utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Rendering

    static func render(_ value: ConfigValue, style: YAMLStyle) -> String {
        switch style {
        case .double: return doubleQuoted(quotedText(value))
        case .single: return "'" + quotedText(value).replacingOccurrences(of: "'", with: "''") + "'"
        case .plain:
            switch value {
            case .int(let v): return String(v)
            case .double(let v): return plainDouble(v)
            case .bool(let v): return v ? "true" : "false"
            case .string(let v): return needsQuotes(v) ? doubleQuoted(v) : v
            }
        }
    }

    private static func quotedText(_ value: ConfigValue) -> String {
        if case .double(let v) = value { return plainDouble(v) }
        return value.description
    }

    /// Swift's shortest round-trip form, with a `.` added to exponent forms (`5e-05` → `5.0e-05`).
    static func plainDouble(_ v: Double) -> String {
        if v.isNaN { return ".nan" }
        if v.isInfinite { return v < 0 ? "-.inf" : ".inf" }
        var s = String(describing: v)
        if !s.contains("."), let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            s.insert(contentsOf: ".0", at: e)
        }
        return s
    }

    private static func doubleQuoted(_ s: String) -> String {
        ConfigText.doubleQuoted(s) { "\\x" + String(format: "%02X", $0) }
    }

    /// Whether a string written plain would read back as something else (or not parse).
    static func needsQuotes(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last else { return true }
        if first == " " || last == " " || last == ":" { return true }
        if "-?:,[]{}#&*!|>'\"%@`".contains(first) { return true }
        if s.contains(": ") || s.contains(" #") { return true }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return true }
        if ["yes", "no", "on", "off", "y", "n"].contains(s.lowercased()) { return true }
        if case .string? = YAMLParser.resolvePlain(s) { return false }
        return true
    }

    private static func renderKey(_ key: String) -> String {
        let plain = key.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-"
        }
        return plain && !key.hasPrefix("-") ? key : doubleQuoted(key)
    }
}

enum YAMLStyle: Sendable { case plain, single, double }

private struct YAMLScalar: Sendable {
    /// Byte range of the value's text (quotes included); empty (just after the colon) for `key:`.
    var start: Int
    var end: Int
    var style: YAMLStyle
    /// Nil for null.
    var value: ConfigValue?
    /// The key's indentation and the end of its line's content (for children of an empty `key:`).
    var indent: Int
    var lineEnd: Int
}

private enum YAMLEntry: Sendable {
    case scalar(YAMLScalar)
    case mapping
    case list
    case blockScalar

    var kind: String {
        switch self {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .list: return "a list"
        case .blockScalar: return "a block scalar"
        }
    }
}

private struct YAMLMapping: Sendable {
    var childIndent: Int
    /// End (before the line break) of the last content line of the mapping's subtree.
    var end: Int
}

private struct YAMLParser {
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

    init(bytes: [UInt8], path: String) {
        b = bytes
        self.path = path
        var start = 0
        for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            let end = i > start && bytes[i - 1] == UInt8(ascii: "\r") ? i - 1 : i
            lines.append(Line(start: start, end: end))
            start = i + 1
        }
        if start < bytes.count { lines.append(Line(start: start, end: bytes.count)) }
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
                    YAMLScalar(
                        start: afterColon, end: afterColon, style: .plain, value: nil, indent: indent,
                        lineEnd: line.end))
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
                let style: YAMLStyle = b[v] == UInt8(ascii: "\"") ? .double : .single
                entries[key] = .scalar(
                    YAMLScalar(
                        start: v, end: close, style: style, value: .string(text), indent: indent, lineEnd: line.end))
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
                    YAMLScalar(
                        start: v, end: end, style: .plain, value: Self.resolvePlain(raw), indent: indent,
                        lineEnd: line.end))
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
