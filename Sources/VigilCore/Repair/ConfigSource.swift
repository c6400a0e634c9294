import Foundation

/// How a scalar's text is quoted in its file. Each format maps its own quotes onto these three and keeps its own
/// rules for what each can hold.
enum ConfigQuoting: Sendable, Equatable {
    /// No quotes: a YAML plain scalar, a TOML or JSON number or boolean (or JSON's `null`), an unquoted INI or
    /// `.env` value.
    case bare
    /// `'…'`: YAML single-quoted, a TOML literal string, single quotes in INI or `.env`.
    case single
    /// `"…"`: YAML double-quoted, a TOML basic string, a JSON string, double quotes in INI or `.env`.
    case double

    /// The quoting that `byte` opens: `"` double, `'` single, anything else (or nil) bare.
    init(opening byte: UInt8?) {
        switch byte {
        case UInt8(ascii: "\"")?: self = .double
        case UInt8(ascii: "'")?: self = .single
        default: self = .bare
        }
    }
}

/// A scalar located in a config file's text: its dotted key, its value, where its text is and how it is quoted.
/// Editing the key splices new text over `range` and changes nothing else.
struct ConfigScalar: Sendable, Equatable {
    /// The dotted key (`training.batch_size`; for INI `section.key`).
    var key: String
    /// Nil for null (YAML `~` or an empty `key:`, JSON `null`).
    var value: ConfigValue?
    /// The bytes an edit replaces: the value's text with its quotes (YAML, TOML, JSON) or the characters inside
    /// them (INI and `.env`, whose editor keeps the quotes); empty, right after the colon, for YAML's `key:`.
    var range: Range<Int>
    var quoting: ConfigQuoting

    /// The keys of `order` that hold a scalar with a value (not null), in that order.
    static func keys(_ order: [String], scalarAt scalar: (String) -> ConfigScalar?) -> [String] {
        order.filter { scalar($0)?.value != nil }
    }
}

/// Where the text for a new key goes, and how it meets the lines around it.
struct ConfigInsertion: Sendable, Equatable {
    enum Placement: Sendable, Equatable {
        /// Inside a line (JSON's members): the text goes in as it is.
        case inLine
        /// At the end of a line's content, before its line break: a line break goes first, then the new lines.
        case afterLine
        /// At the start of a line, or at the end of the file: the text is whole lines, each with its line break;
        /// at the end of a file whose last line has none, a line break goes first.
        case lineStart
    }

    /// What the new text replaces: nothing (an empty range at the offset), except for JSON's empty object, whose
    /// inside is rewritten.
    var range: Range<Int>
    var placement: Placement

    /// Right after the content of the line that ends at `offset`.
    static func afterLine(endingAt offset: Int) -> ConfigInsertion {
        ConfigInsertion(range: offset..<offset, placement: .afterLine)
    }

    /// At `offset`, the start of a line or the end of the file.
    static func lineStart(_ offset: Int) -> ConfigInsertion {
        ConfigInsertion(range: offset..<offset, placement: .lineStart)
    }

    /// Over `range`, inside a line.
    static func inLine(_ range: Range<Int>) -> ConfigInsertion {
        ConfigInsertion(range: range, placement: .inLine)
    }
}

/// A config file's text as UTF-8 bytes, and the two edits every format's editor makes of it: new text over a
/// located scalar, and a new key's lines at an insertion point. Everything else stays byte for byte.
struct ConfigSource: Sendable {
    let text: String
    let bytes: [UInt8]
    /// `\r\n` when the file has it, else `\n`: what the line breaks of inserted text are written as.
    let newline: String

    init(_ text: String) {
        self.text = text
        bytes = Array(text.utf8)
        newline = text.contains("\r\n") ? "\r\n" : "\n"
    }

    /// The end of the file, as an insertion point for whole lines.
    var end: ConfigInsertion { .lineStart(bytes.count) }

    /// `scalar`'s text when the file has a number there (an integer or a float), for writing the new one in its
    /// style (`ConfigFloatSyntax.format(_:like:)`); else nil.
    func numberLiteral(of scalar: ConfigScalar) -> String? {
        guard scalar.value?.number != nil else { return nil }
        return String(decoding: bytes[scalar.range], as: UTF8.self)
    }

    /// The file's text with `scalar`'s bytes replaced by `replacement`, written as it is.
    func replacing(_ scalar: ConfigScalar, with replacement: String) -> String {
        splice(replacement, over: scalar.range)
    }

    /// The file's text with `text` at `point` (a line break first where the placement asks for one), each `\n`
    /// of it written as the file's line break. `text` holds no other line break: each format escapes them.
    func inserting(_ text: String, at point: ConfigInsertion) -> String {
        var text = text
        var completing = ""
        switch point.placement {
        case .inLine:
            break
        case .afterLine:
            text = "\n" + text
        case .lineStart:
            let offset = point.range.lowerBound
            if offset == bytes.count, offset > 0, bytes[offset - 1] != UInt8(ascii: "\n") {
                // After a last line ending in `\r`, a `\n` completes its line break: a `\r\n` there made `\r\r\n`,
                // which left the `\r` in the line's value (found by scripts/fuzz).
                if bytes[offset - 1] == UInt8(ascii: "\r") { completing = "\n" } else { text = "\n" + text }
            }
        }
        if newline != "\n" { text = text.replacingOccurrences(of: "\n", with: newline) }
        return splice(completing + text, over: point.range)
    }

    private func splice(_ replacement: String, over range: Range<Int>) -> String {
        var result = Array(bytes[..<range.lowerBound])
        result.append(contentsOf: replacement.utf8)
        result.append(contentsOf: bytes[range.upperBound...])
        return String(decoding: result, as: UTF8.self)
    }
}

/// A dotted key's components, as every format's editor reads them when it adds a key.
enum ConfigKeyPath {
    /// `key` split at its dots; nil when a component is empty (`a..b`, `.a`, `a.`, ``).
    static func components(_ key: String) -> [String]? {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        return parts.contains(where: \.isEmpty) ? nil : parts
    }
}
