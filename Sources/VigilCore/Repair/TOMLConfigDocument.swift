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

/// A TOML config file, editable value by value.
///
/// Parsed: `[table]` headers, dotted keys (`a.b = 1`), bare and quoted keys, basic strings with
/// escapes, literal strings, ints (with `_`, `0x`/`0o`/`0b`), floats (`inf`, `nan`), bools and
/// comments. Addressable scalars are single-line strings, ints, floats and bools: `training.lr`
/// is key `lr` of `[training]` (or `training.lr = …` at the top, or `lr` under a dotted
/// `training`). Kept byte for byte but not addressable (`value(at:)` is nil, setting throws):
/// arrays (also multi-line), inline tables `{…}` (and any key inside them), multi-line strings,
/// dates and times, and everything under `[[array.of.tables]]`.
///
/// Errors (`VigilError(.invalidConfig, …)` naming the line): unterminated strings, arrays or inline
/// tables; a missing `=`; an invalid value; text after a value; duplicate keys and tables; a key
/// that redefines a value as a table.
///
/// A missing key is added after the last key line of its table (so before trailing blank lines,
/// comments and the next header), at that line's indentation. When its table has no header, it
/// goes in the nearest enclosing table defined by dotted keys as a dotted key, or else in a new
/// `[table]` at the end of the file. A top-level key in a file without top-level keys goes right
/// before the first table header.
struct TOMLConfigDocument: ConfigDocument {
    let keys: [String]
    private let source: ConfigSource
    private let path: String
    private let parsed: TOMLParser

    var text: String { source.text }

    init(text: String, path: String) throws {
        source = ConfigSource(text)
        var parser = TOMLParser(bytes: source.bytes, path: path)
        try parser.parse()
        self.path = path
        parsed = parser
        let entries = parser.entries
        keys = ConfigScalar.keys(parser.order) { entries[$0]?.scalar }
    }

    func value(at key: String) -> ConfigValue? {
        parsed.entries[key]?.scalar?.value
    }

    func setting(_ key: String, to value: ConfigValue) throws -> String {
        if let entry = parsed.entries[key] {
            guard let scalar = entry.scalar else {
                throw VigilError(.invalidConfig, file: path, key: key, "\(key) is \(entry.kind) and cannot be set")
            }
            let literal = source.numberLiteral(of: scalar)
            return source.replacing(scalar, with: Self.render(value, style: scalar.quoting, like: literal))
        }
        guard let parts = ConfigKeyPath.components(key) else {
            throw VigilError(.invalidConfig, file: path, key: key, "\"\(key)\" is not a valid key path")
        }
        for depth in 1..<parts.count {
            let prefix = parts[0..<depth].joined(separator: ".")
            if let entry = parsed.entries[prefix], entry.kind != "a table" {
                throw VigilError(.invalidConfig, file: path, key: key, "\(prefix) is \(entry.kind), not a table")
            }
        }
        let parent = Array(parts.dropLast())
        let assignment = { (names: ArraySlice<String>) in
            names.map(Self.renderKey).joined(separator: ".") + " = " + Self.render(value, style: .bare)
        }
        // A table defined by dotted keys takes new keys as dotted keys in the table that holds them.
        for depth in stride(from: parent.count, through: 1, by: -1) {
            if let owner = parsed.implicit[parent[0..<depth].joined(separator: ".")] {
                let table = parsed.tables[owner]
                return insert(assignment(parts[table.path.count...]), in: table)
            }
        }
        if parent.isEmpty {
            var root = parsed.tables[0]
            root.headerStart = parsed.tables.count > 1 ? parsed.tables[1].headerStart : nil
            return insert(assignment(parts[0...]), in: root)
        }
        if let index = parsed.explicit[parent.joined(separator: ".")] {
            return insert(assignment(parts[parent.count...]), in: parsed.tables[index])
        }
        // A new table at the end of the file, after a blank line.
        let table = "[" + parent.map(Self.renderKey).joined(separator: ".") + "]\n" + assignment(parts[parent.count...])
        return source.inserting((source.bytes.isEmpty ? "" : "\n") + table + "\n", at: source.end)
    }

    /// The text with `line` added to `table`: after its last key line, else (a top-level key in a file without
    /// any) before the first table header, else at the end of the file.
    private func insert(_ line: String, in table: TOMLTable) -> String {
        if let end = table.end { return source.inserting(table.indent + line, at: .afterLine(endingAt: end)) }
        if let header = table.headerStart { return source.inserting(line + "\n\n", at: .lineStart(header)) }
        return source.inserting(line + "\n", at: source.end)
    }

    // MARK: Rendering

    /// `value`'s text in `style`: a basic string, a literal one when it can hold the text, or bare (a string is
    /// then a basic string; a float in the style of `literal`, the number it replaces).
    static func render(_ value: ConfigValue, style: ConfigQuoting, like literal: String? = nil) -> String {
        let text: String
        if case .double(let v) = value {
            text = ConfigFloatSyntax.toml.format(v, like: literal) ?? plainDouble(v)
        } else {
            text = value.description
        }
        switch style {
        case .double: return basicString(text)
        case .single:
            let safe = !text.contains("'") && !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
            return safe ? "'" + text + "'" : basicString(text)
        case .bare:
            if case .string(let v) = value { return basicString(v) }
            return text
        }
    }

    /// Swift's shortest round-trip form; `nan`, `inf`, `-inf`.
    static func plainDouble(_ v: Double) -> String {
        ConfigFloatSyntax.toml.format(v) ?? String(describing: v)
    }

    static func basicString(_ s: String) -> String {
        ConfigText.doubleQuoted(s) { "\\u" + String(cFormat: "%04X", $0) }
    }

    static func renderKey(_ key: String) -> String {
        let bare = key.utf8.allSatisfy { TOMLParser.isBareKeyByte($0) }
        return bare ? key : basicString(key)
    }
}
