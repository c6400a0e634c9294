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

/// An INI (Python `configparser` style) or `.env` config file, editable in place.
///
/// INI: `[section]` headers; `key = value` or `key: value` (the first `=` or `:` splits); whole-line comments
/// starting with `;` or `#`; no inline comments (as configparser's default, `; …` after a value is part of it);
/// indented continuation lines extend the previous value. Keys are `section.key` (section names may contain dots:
/// the longest matching section wins); keys before the first section are addressed without a section (`key`).
/// Keys match case-insensitively within their section, as configparser lowercases them; `value(at:)` falls back
/// to `[DEFAULT]` as configparser does. A value wholly inside matching quotes keeps its quotes on edit and reads
/// as a string (configparser hands the quotes to the trainer); unquoted values read as int, double or bool
/// (`true`/`false`, any case) when they look like one, else string.
///
/// `.env`: `KEY=value` lines with an optional `export ` prefix; values bare (a `#` after whitespace starts a
/// comment), `'single'` or `"double"` quoted (double quotes take `\"`, `\\`, `\n` escapes and may span lines);
/// `#` comment lines; blank lines. Types are inferred from the unquoted text, since the quotes are syntax.
///
/// Edits replace only the value's characters, keeping the spacing around `=`/`:`, the `export` prefix and the
/// quote style. A missing key is appended after the last key of its section (creating `[section]` at the end of
/// the file when needed), or at the end of the `.env` file.
struct INIConfigDocument: ConfigDocument {
    let path: String
    let format: ConfigFormat

    private let source: ConfigSource
    private let entries: [INIEntry]
    /// Section headers in file order, with the offset just past the header line.
    private let sections: [(name: String, headerEnd: Int)]

    init(text: String, path: String, format: ConfigFormat) throws {
        guard format == .ini || format == .env else {
            throw VigilError(.invalidConfig, file: path, "INIConfigDocument reads .ini and .env files, not \(format)")
        }
        source = ConfigSource(text)
        self.path = path
        self.format = format
        var scanner = INIScanner(bytes: source.bytes, path: path)
        if format == .ini {
            try scanner.scanINI()
        } else {
            try scanner.scanEnv()
        }
        entries = scanner.entries
        sections = scanner.sections
    }

    var text: String { source.text }
    private var bytes: [UInt8] { source.bytes }

    var keys: [String] {
        var seen = Set<String>()
        return entries.map(\.fullKey).filter { seen.insert($0).inserted }
    }

    func value(at key: String) -> ConfigValue? {
        if let entry = find(key) { return entry.scalar.value }
        guard format == .ini, let (section, name) = split(key), section != nil, section != "DEFAULT" else {
            return nil
        }
        return find("DEFAULT." + name)?.scalar.value
    }

    func setting(_ key: String, to value: ConfigValue) throws -> String {
        if let entry = find(key) {
            var literal = try literal(value, for: entry, key: key)
            if entry.raw.isEmpty || entry.raw.hasPrefix("\n"), entry.scalar.quoting == .bare, !literal.isEmpty,
                entry.separator.first?.isWhitespace == true, entry.separator.last?.isWhitespace == false
            {
                literal = " " + literal
            }
            return source.replacing(entry.scalar, with: literal)
        }
        return format == .env ? try addingEnv(key, value) : try addingINI(key, value)
    }

    // MARK: - Lookup

    /// The entry for `key`: an exact match of its dotted form, else a case-insensitive match of the key within an
    /// exactly named section. For `.env` the last assignment wins, as when the file is loaded.
    private func find(_ key: String) -> INIEntry? {
        if format == .env { return entries.last { $0.fullKey == key } }
        if let entry = entries.first(where: { $0.fullKey == key }) { return entry }
        guard let (section, name) = split(key) else { return nil }
        let lowered = name.lowercased()
        return entries.first { $0.section == section && $0.key.lowercased() == lowered }
    }

    /// `key` as (section, key): the longest existing section that prefixes it, else its first component; a key
    /// without dots has no section.
    private func split(_ key: String) -> (String?, String)? {
        let existing = sections.map(\.name).filter { key.hasPrefix($0 + ".") && key.count > $0.count + 1 }
        if let section = existing.max(by: { $0.count < $1.count }) {
            return (section, String(key.dropFirst(section.count + 1)))
        }
        guard let dot = key.firstIndex(of: ".") else { return (nil, key) }
        let section = String(key[..<dot])
        let name = String(key[key.index(after: dot)...])
        return section.isEmpty || name.isEmpty ? nil : (section, name)
    }

    // MARK: - Adding keys

    private func addingINI(_ key: String, _ value: ConfigValue) throws -> String {
        guard let (section, name) = split(key), !name.isEmpty,
            !name.contains(where: { $0 == "=" || $0 == ":" || $0 == "\n" || $0 == "[" }),
            name.first?.isWhitespace == false, name.last?.isWhitespace == false
        else {
            throw VigilError(.invalidConfig, file: path, key: key, "cannot be written as an INI key")
        }
        let inSection = entries.filter { $0.section == section }
        let separator = inSection.last?.separator ?? entries.last?.separator ?? " = "
        let line = name + separator + (try bare(value, key: key)) + "\n"
        // An indented line right after the new one would read as its continuation (a section header too).
        func before(_ offset: Int) throws -> String {
            var end = offset
            while end < bytes.count, bytes[end] != 10, bytes[end] != 13 { end += 1 }
            let next = bytes[offset..<end]
            if let first = next.first, first == 32 || first == 9, next.contains(where: { $0 != 32 && $0 != 9 }) {
                throw VigilError(
                    .invalidConfig, file: path, key: key,
                    "cannot be added: the line where it would go is indented, and INI readers would take it as the "
                        + "new key's continuation; add the key by hand")
            }
            return source.inserting(line, at: .lineStart(offset))
        }
        if let last = inSection.last { return try before(last.lineEnd) }
        if let section {
            if let header = sections.first(where: { $0.name == section }) {
                return try before(header.headerEnd)
            }
            // A new section at the end, after a blank line unless the file is empty or ends with one.
            let blank =
                !bytes.isEmpty && !bytes.suffix(2).elementsEqual([10, 10])
                && !bytes.suffix(3).elementsEqual([10, 13, 10])
            return source.inserting((blank ? "\n" : "") + "[" + section + "]\n" + line, at: source.end)
        }
        // A key before any section: at the very top (after a byte-order mark), or at the end when there are none.
        let top = sections.isEmpty ? bytes.count : (bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0)
        return try before(top)
    }

    private func addingEnv(_ key: String, _ value: ConfigValue) throws -> String {
        let valid = key.unicodeScalars.enumerated().allSatisfy { index, scalar in
            scalar == "_" || (scalar.isASCII && (scalar.properties.isAlphabetic || (index > 0 && "0"..."9" ~= scalar)))
        }
        guard valid, !key.isEmpty else {
            throw VigilError(.invalidConfig, file: path, key: key, "is not a valid environment variable name")
        }
        let last = entries.last
        let prefix = last?.exported == true ? "export " : ""
        let line = prefix + key + (last?.separator ?? "=") + (try bare(value, key: key)) + "\n"
        // New lines end like the file's lines; a `\n` inside a quoted `.env` value is escaped, never raw.
        return source.inserting(line, at: source.end)
    }

    // MARK: - Writing values

    /// The plain text of `value`; bools follow `original`'s capitalisation (`True`, `TRUE`) when it was one, and
    /// floats the style of `number`, the number it replaces.
    private func plain(
        _ value: ConfigValue, original: String? = nil, number: String? = nil, key: String
    ) throws -> String {
        switch value {
        case .int(let v): return String(v)
        case .string(let v): return v
        case .double(let v):
            guard let text = ConfigFloatSyntax.finite.format(v, like: number) else {
                throw VigilError(.invalidConfig, file: path, key: key, "\(v) is not a number")
            }
            return text
        case .bool(let v):
            let word = v ? "true" : "false"
            guard let original, ["true", "false"].contains(original.lowercased()) else { return word }
            if original == original.uppercased() { return word.uppercased() }
            if original.first?.isUppercase == true { return word.prefix(1).uppercased() + word.dropFirst() }
            return word
        }
    }

    /// The text for an existing entry's value, in its quote style.
    private func literal(_ value: ConfigValue, for entry: INIEntry, key: String) throws -> String {
        let text = try plain(
            value, original: entry.scalar.quoting == .bare ? entry.raw : nil,
            number: source.numberLiteral(of: entry.scalar), key: key)
        switch (format, entry.scalar.quoting) {
        case (.env, .double):
            return Self.escaped(text, escaping: "\"", newlines: true)
        case (.env, .single):
            return Self.escaped(text, escaping: "'", newlines: false)
        case (.env, .bare):
            // Nothing before a comment would make the comment the value (`A=   # c` reads `# c`; scripts/fuzz).
            let after = bytes[entry.scalar.range.upperBound...].drop {
                $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t")
            }
            if text.isEmpty, after.first == UInt8(ascii: "#") { return "\"\"" }
            return Self.needsQuotes(text) ? "\"" + Self.escaped(text, escaping: "\"", newlines: true) + "\"" : text
        default:
            guard !text.contains(where: \.isNewline) else {
                throw VigilError(.invalidConfig, file: path, key: key, "a multi-line value cannot be written")
            }
            return entry.scalar.quoting == .bare ? try unpadded(text, key: key) : text
        }
    }

    /// The text for a new entry's value: bare when it reads back the same, else double-quoted (`.env`).
    private func bare(_ value: ConfigValue, key: String) throws -> String {
        let text = try plain(value, key: key)
        if format == .env {
            return Self.needsQuotes(text) ? "\"" + Self.escaped(text, escaping: "\"", newlines: true) + "\"" : text
        }
        guard !text.contains(where: \.isNewline) else {
            throw VigilError(.invalidConfig, file: path, key: key, "a multi-line value cannot be written")
        }
        return try unpadded(text, key: key)
    }

    /// `text`, which configparser would read back as it is when written bare: not when it starts or ends with
    /// whitespace, which it strips (`" x "` read back as `x`; found by scripts/fuzz).
    private func unpadded(_ text: String, key: String) throws -> String {
        guard text.first?.isWhitespace != true, text.last?.isWhitespace != true else {
            throw VigilError(
                .invalidConfig, file: path, key: key,
                "a value with leading or trailing spaces cannot be written unquoted")
        }
        return text
    }

    /// Whether a bare `.env` value would not read back as `text`.
    private static func needsQuotes(_ text: String) -> Bool {
        text.first?.isWhitespace == true || text.last?.isWhitespace == true || text.first == "\""
            || text.first == "'" || text.contains(where: \.isNewline) || text.contains(" #") || text.contains("\t#")
    }

    private static func escaped(_ text: String, escaping quote: Character, newlines: Bool) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\", quote: out += "\\" + String(character)
            case "\n" where newlines: out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}

/// One `key = value` (or `KEY=value`) in the file.
private struct INIEntry {
    var section: String?
    var key: String
    /// The value's characters without its quotes, and its quoting; its value is set once the entry is read whole.
    var scalar: ConfigScalar
    /// The value as read: quotes removed, `.env` escapes decoded, continuation lines joined with newlines.
    var raw: String
    var multiline = false
    /// Everything between the key and the value (or its opening quote): ` = `, `: `, `=`.
    var separator: String
    var exported = false
    /// The offset just past the entry's last line (its newline included).
    var lineEnd: Int
    /// The key line's indentation, for telling continuation lines.
    var indent = 0

    init(
        section: String?, key: String, range: Range<Int>, raw: String, separator: String, exported: Bool = false,
        lineEnd: Int, indent: Int = 0
    ) {
        self.section = section
        self.key = key
        scalar = ConfigScalar(key: section.map { $0 + "." + key } ?? key, value: nil, range: range, quoting: .bare)
        self.raw = raw
        self.separator = separator
        self.exported = exported
        self.lineEnd = lineEnd
        self.indent = indent
    }

    var fullKey: String { scalar.key }

    /// The value `raw` reads as: a string when multi-line or quoted in INI, else int, double or bool when it looks
    /// like one.
    func value(format: ConfigFormat) -> ConfigValue {
        if multiline || (format == .ini && scalar.quoting != .bare) { return .string(raw) }
        if let int = Int(raw) { return .int(int) }
        if raw.contains(where: \.isNumber), raw.allSatisfy({ "0123456789+-.eE".contains($0) }),
            let double = Double(raw), double.isFinite
        {
            return .double(double)
        }
        switch raw.lowercased() {
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: return .string(raw)
        }
    }
}

/// Reads entries and sections out of INI or `.env` bytes.
private struct INIScanner {
    let bytes: [UInt8]
    let path: String
    var entries: [INIEntry] = []
    var sections: [(name: String, headerEnd: Int)] = []

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    /// The lines as (start, end of content before `\r\n`/`\n`, start of the next line).
    func lines() -> [(start: Int, end: Int, next: Int)] {
        var result: [(Int, Int, Int)] = []
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let next = min(end + 1, bytes.count)
            let contentEnd = end > start && bytes[end - 1] == UInt8(ascii: "\r") ? end - 1 : end
            result.append((start, contentEnd, next))
            start = next
        }
        return result
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    func error(line: Int, _ message: String) -> VigilError {
        VigilError(.invalidConfig, file: path, "line \(line): \(message)")
    }

    // MARK: INI

    mutating func scanINI() throws {
        var section: String?
        /// The entry that indented lines continue, while one may.
        var open: Int?
        for (index, line) in lines().enumerated() {
            let number = index + 1
            var first = line.start
            while first < line.end, isBlank(bytes[first]) { first += 1 }
            var last = line.end
            while last > first, isBlank(bytes[last - 1]) { last -= 1 }
            if first == last || bytes[first] == UInt8(ascii: ";") || bytes[first] == UInt8(ascii: "#") {
                open = nil
                continue
            }
            if let current = open, first - line.start > entries[current].indent {
                if entries[current].scalar.quoting != .bare {
                    // Continued, the value is not wholly inside the first line's quotes: configparser reads `'a'`
                    // then `  b` as `'a'\nb`, quotes and all, so an edit replaces them too (it kept the opening
                    // quote and dropped the closing one; found by scripts/fuzz).
                    let inside = entries[current].scalar.range
                    entries[current].scalar.range = inside.lowerBound - 1..<inside.upperBound + 1
                    entries[current].raw = string(entries[current].scalar.range)
                    entries[current].scalar.quoting = .bare
                }
                entries[current].scalar.range = entries[current].scalar.range.lowerBound..<last
                entries[current].raw += "\n" + string(first..<last)
                entries[current].multiline = true
                entries[current].lineEnd = line.next
                continue
            }
            open = nil
            if bytes[first] == UInt8(ascii: "[") {
                guard let close = bytes[first..<last].lastIndex(of: UInt8(ascii: "]")) else {
                    throw error(line: number, "section header without a closing ']'")
                }
                let name = string(first + 1..<close).trimmingSpaces()
                guard !name.isEmpty else { throw error(line: number, "empty section name") }
                if sections.contains(where: { $0.name == name }) {
                    throw error(line: number, "section [\(name)] appears twice")
                }
                sections.append((name, line.next))
                section = name
                continue
            }
            guard
                let delimiter = bytes[first..<last].firstIndex(where: {
                    $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ":")
                })
            else {
                throw error(line: number, "expected 'key = value' or 'key: value', found '\(string(first..<last))'")
            }
            var keyEnd = delimiter
            while keyEnd > first, isBlank(bytes[keyEnd - 1]) { keyEnd -= 1 }
            guard keyEnd > first else {
                throw error(line: number, "missing key before '\(string(delimiter..<delimiter + 1))'")
            }
            let key = string(first..<keyEnd)
            if entries.contains(where: { $0.section == section && $0.key.lowercased() == key.lowercased() }) {
                throw error(line: number, "key '\(key)' appears twice in \(section.map { "[\($0)]" } ?? "the file")")
            }
            var valueStart = delimiter + 1
            while valueStart < last, isBlank(bytes[valueStart]) { valueStart += 1 }
            var entry = INIEntry(
                section: section, key: key, range: valueStart..<last,
                raw: string(valueStart..<max(valueStart, last)), separator: string(keyEnd..<valueStart),
                lineEnd: line.next, indent: first - line.start)
            if valueStart + 1 < last, bytes[valueStart] == bytes[last - 1],
                bytes[valueStart] == UInt8(ascii: "\"") || bytes[valueStart] == UInt8(ascii: "'")
            {
                entry.scalar.quoting = ConfigQuoting(opening: bytes[valueStart])
                entry.scalar.range = valueStart + 1..<last - 1
                entry.raw = string(entry.scalar.range)
            }
            entries.append(entry)
            open = entries.count - 1
        }
        // Continuation lines are in: every value is read whole.
        for index in entries.indices { entries[index].scalar.value = entries[index].value(format: .ini) }
    }

    // MARK: .env

    mutating func scanEnv() throws {
        var position = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var line = 1
        func isKeyByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                return true
            default: return false
            }
        }
        func atLineEnd(_ offset: Int) -> Bool {
            offset >= bytes.count || bytes[offset] == UInt8(ascii: "\n")
                || (bytes[offset] == UInt8(ascii: "\r") && (offset + 1 == bytes.count || bytes[offset + 1] == 10))
        }
        func skipBlanks(_ offset: inout Int) {
            while offset < bytes.count, isBlank(bytes[offset]) { offset += 1 }
        }
        /// Moves past the end of the current line.
        func finishLine(_ offset: inout Int) {
            while offset < bytes.count, bytes[offset] != UInt8(ascii: "\n") { offset += 1 }
            if offset < bytes.count { offset += 1 }
        }

        while position < bytes.count {
            let lineStart = position
            skipBlanks(&position)
            if atLineEnd(position) || bytes[position] == UInt8(ascii: "#") {
                finishLine(&position)
                line += 1
                continue
            }
            var exported = false
            if bytes[position...].starts(with: "export".utf8), position + 6 < bytes.count,
                isBlank(bytes[position + 6])
            {
                exported = true
                position += 6
                skipBlanks(&position)
            }
            let keyStart = position
            while position < bytes.count, isKeyByte(bytes[position]) { position += 1 }
            let keyEnd = position
            skipBlanks(&position)
            guard keyEnd > keyStart, position < bytes.count, bytes[position] == UInt8(ascii: "=") else {
                var end = lineStart
                while !atLineEnd(end) { end += 1 }
                throw error(line: line, "expected KEY=value, found '\(string(lineStart..<end))'")
            }
            position += 1
            skipBlanks(&position)
            let startLine = line
            var entry = INIEntry(
                section: nil, key: string(keyStart..<keyEnd), range: position..<position, raw: "",
                separator: string(keyEnd..<position), exported: exported, lineEnd: position)
            if position < bytes.count, bytes[position] == UInt8(ascii: "\"") || bytes[position] == UInt8(ascii: "'") {
                let quote = bytes[position]
                position += 1
                entry.scalar.quoting = ConfigQuoting(opening: quote)
                let valueStart = position
                var decoded: [UInt8] = []
                while true {
                    guard position < bytes.count else {
                        throw error(line: startLine, "unterminated \(quote == 34 ? "double" : "single")-quoted value")
                    }
                    let byte = bytes[position]
                    if byte == quote { break }
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    if byte == UInt8(ascii: "\\"), position + 1 < bytes.count {
                        let next = bytes[position + 1]
                        let escapes: [UInt8: UInt8] =
                            quote == 34 ? [34: 34, 92: 92, 39: 39, 110: 10, 116: 9, 114: 13] : [39: 39, 92: 92]
                        if let decodedByte = escapes[next] {
                            decoded.append(decodedByte)
                            position += 2
                            continue
                        }
                    }
                    decoded.append(byte)
                    position += 1
                }
                entry.scalar.range = valueStart..<position
                entry.raw = String(decoding: decoded, as: UTF8.self)
                entry.multiline = entry.raw.contains("\n")
                position += 1
                skipBlanks(&position)
                if !atLineEnd(position), bytes[position] != UInt8(ascii: "#") {
                    throw error(line: line, "unexpected text after the closing quote of \(entry.key)")
                }
            } else {
                var end = position
                while !atLineEnd(end) {
                    if bytes[end] == UInt8(ascii: "#"), end > position, isBlank(bytes[end - 1]) { break }
                    end += 1
                }
                while end > position, isBlank(bytes[end - 1]) { end -= 1 }
                entry.scalar.range = position..<end
                entry.raw = string(position..<end)
            }
            finishLine(&position)
            entry.lineEnd = position
            entry.scalar.value = entry.value(format: .env)
            line += 1
            entries.append(entry)
        }
    }
}
