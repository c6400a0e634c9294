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
/// as an empty mapping). Written doubles in exponent form always carry a `.` and a sign (`5.0e-05`)
/// so that YAML 1.1 readers such as PyYAML read a float, not a string.
struct YAMLConfigDocument: ConfigDocument {
    let keys: [String]
    private let source: ConfigSource
    private let path: String
    private let entries: [String: YAMLEntry]
    private let mappings: [String: YAMLMapping]
    private let indentStep: Int
    private let documentEnd: Int?

    var text: String { source.text }

    init(text: String, path: String) throws {
        source = ConfigSource(text)
        var parser = YAMLParser(bytes: source.bytes, path: path)
        try parser.parse()
        self.path = path
        let entries = parser.entries
        self.entries = entries
        mappings = parser.mappings
        indentStep = parser.indentStep ?? 2
        documentEnd = parser.documentEnd
        keys = ConfigScalar.keys(parser.order) { entries[$0]?.scalar }
    }

    func value(at key: String) -> ConfigValue? {
        entries[key]?.scalar?.value
    }

    func setting(_ key: String, to value: ConfigValue) throws -> String {
        if let entry = entries[key] {
            guard let scalar = entry.scalar else {
                throw VigilError(.invalidConfig, file: path, key: key, "\(key) is \(entry.kind) and cannot be set")
            }
            var rendered = Self.render(value, style: scalar.quoting, like: source.numberLiteral(of: scalar))
            if scalar.range.isEmpty { rendered = " " + rendered }
            return source.replacing(scalar, with: rendered)
        }
        guard let parts = ConfigKeyPath.components(key) else {
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
            case .scalar(let s, let indent, let lineEnd) where s.range.isEmpty:
                childIndent = indent + indentStep
                insertAt = lineEnd
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
                    ? "\(indent)\(name): \(Self.render(value, style: .bare))" : "\(indent)\(name):")
        }
        let block = lines.joined(separator: "\n")
        if let insertAt { return source.inserting(block, at: .afterLine(endingAt: insertAt)) }
        // In a document without keys, before its `...` end marker, which nothing may follow (found by scripts/fuzz).
        if let documentEnd { return source.inserting(block + "\n", at: .lineStart(documentEnd)) }
        return source.inserting(block + "\n", at: source.end)
    }

    // MARK: Rendering

    /// `value`'s text in `style`: in quotes of that kind, or bare (a string that would then read back as something
    /// else is double-quoted; a float in the style of `literal`, the number it replaces).
    static func render(_ value: ConfigValue, style: ConfigQuoting, like literal: String? = nil) -> String {
        switch style {
        case .double: return doubleQuoted(quotedText(value))
        case .single:
            // Single quotes escape only `'`: a line break or another control character needs double quotes, which
            // the value then gets (a raw newline made a multi-line scalar, refused on the next read; scripts/fuzz).
            let text = quotedText(value)
            guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                return doubleQuoted(text)
            }
            return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
        case .bare:
            switch value {
            case .int(let v): return String(v)
            case .double(let v): return ConfigFloatSyntax.yaml.format(v, like: literal) ?? plainDouble(v)
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
        ConfigFloatSyntax.yaml.format(v) ?? String(describing: v)
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
