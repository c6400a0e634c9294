import Foundation

/// Reads one object of a policy strictly: every key must be known, every value of the expected type;
/// errors name the file, the key path and what was expected.
struct ObjectReader {
    let file: String
    let path: String
    private let members: [String: JSONValue]
    private var known: [String] = []

    init(_ value: JSONValue, file: String, path: String) throws {
        self.file = file
        self.path = path
        guard case .object(let members) = value else {
            throw VigilError(
                .invalidPolicy, file: file, key: path.isEmpty ? nil : path,
                "expected an object, got \(value.typeName) \(value.preview)")
        }
        self.members = members
    }

    /// The object's keys (for maps with user-chosen keys, such as a schema).
    var memberKeys: [String] { members.keys.sorted() }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func fail(_ key: String, _ message: String) -> VigilError {
        VigilError(.invalidPolicy, file: file, key: keyPath(key), message)
    }

    /// The raw value of `key`, registering the key as known.
    mutating func value(_ key: String) -> JSONValue? {
        known.append(key)
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    mutating func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let s) = value else { throw mismatch(key, "a string", value) }
        return s
    }

    mutating func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let b) = value else { throw mismatch(key, "true or false", value) }
        return b
    }

    /// An integer in `range`. A number written with a fraction or an exponent counts when it is a whole number
    /// (`1e3`); `2.5`, `1e308`, `NaN` and `Infinity` do not, and nothing is rounded.
    mutating func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = value(key) else { return nil }
        let expected = "an integer from \(PolicyRanges.text(range))"
        let integer: Int?
        switch value {
        case .int(let i): integer = i
        case .double(let d): integer = Int(exactly: d)
        default: throw mismatch(key, expected, value)
        }
        guard let integer, range.contains(integer) else { throw outOfRange(key, expected, value) }
        return integer
    }

    /// A finite number in `range`.
    mutating func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let value = value(key) else { return nil }
        let expected = "a number from \(PolicyRanges.text(range))"
        let number: Double
        switch value {
        case .int(let i): number = Double(i)
        case .double(let d): number = d
        default: throw mismatch(key, expected, value)
        }
        // `contains` is false for NaN; an infinite bound is never used, so neither is an infinite number.
        guard number.isFinite, range.contains(number) else { throw outOfRange(key, expected, value) }
        return number
    }

    /// A duration in `range`, written `90s`, `15m`, `6h`, `1h30m` (or a number of seconds).
    mutating func duration(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let value = value(key) else { return nil }
        let seconds: Double
        switch value {
        case .int(let i): seconds = Double(i)
        case .double(let d): seconds = d
        case .string(let s):
            guard let parsed = DurationFormat.seconds(from: s) else {
                throw fail(key, "expected a duration like \"90s\", \"15m\", \"6h\" or \"1h30m\", got \"\(s)\"")
            }
            seconds = parsed
        default:
            throw mismatch(key, "a duration like \"90s\", \"15m\", \"6h\" or \"1h30m\"", value)
        }
        guard seconds.isFinite, range.contains(seconds) else {
            throw outOfRange(key, "a duration from \(PolicyRanges.durationText(range))", value)
        }
        return seconds
    }

    /// A size in `range`, written `100MB`, `64KiB` (or a whole number of bytes). A size in a string is rounded
    /// down to a whole byte (`"1.5k"` is 1536, `"0.1k"` 102).
    mutating func byteSize(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = value(key) else { return nil }
        let expected = "a size from \(PolicyRanges.sizeText(range))"
        let bytes: Double
        var got = value.preview
        switch value {
        case .int(let i): bytes = Double(i)
        case .double(let d): bytes = d
        case .string(let s):
            guard let parsed = ByteSizeFormat.value(from: s) else {
                throw fail(key, "expected a size like \"100MB\" or \"64KiB\", got \"\(s)\"")
            }
            bytes = parsed.rounded(.down)
            got += " (\(bytes < 1e18 ? String(Int(bytes)) : PolicyRanges.text(bytes)) bytes)"
        default:
            throw mismatch(key, "a size like \"100MB\" or \"64KiB\"", value)
        }
        // Compared as a Double, so that no size, however large, becomes an Int before it is known to fit.
        guard bytes == bytes.rounded(.down), bytes >= Double(range.lowerBound), bytes <= Double(range.upperBound)
        else { throw fail(key, "expected \(expected), got \(got)") }
        return Int(bytes)
    }

    /// A list of strings; a single string is taken as a list of one.
    mutating func strings(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        switch value {
        case .string(let s): return [s]
        case .array(let items):
            return try items.enumerated().map { index, item in
                guard case .string(let s) = item else {
                    throw VigilError(
                        .invalidPolicy, file: file, key: "\(keyPath(key))[\(index)]",
                        "expected a string, got \(item.typeName) \(item.preview)")
                }
                return s
            }
        default: throw mismatch(key, "a list of strings", value)
        }
    }

    mutating func object(_ key: String) throws -> ObjectReader? {
        guard let value = value(key) else { return nil }
        return try ObjectReader(value, file: file, path: keyPath(key))
    }

    mutating func array(_ key: String) throws -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else { throw mismatch(key, "a list", value) }
        return items
    }

    /// One of a fixed set of strings.
    mutating func choice(_ key: String, _ choices: [String]) throws -> String? {
        guard let s = try string(key) else { return nil }
        guard choices.contains(s) else {
            throw fail(key, "expected one of \(choices.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(s)\"")
        }
        return s
    }

    func mismatch(_ key: String, _ expected: String, _ value: JSONValue) -> VigilError {
        fail(key, "expected \(expected), got \(value.typeName) \(value.preview)")
    }

    /// "expected EXPECTED, got VALUE" for a number of the right kind outside its range (or not whole).
    func outOfRange(_ key: String, _ expected: String, _ value: JSONValue) -> VigilError {
        fail(key, "expected \(expected), got \(value.preview)")
    }

    /// Throws for the first key that was never asked for, suggesting the nearest known one.
    func finish() throws {
        for key in members.keys.sorted() where !known.contains(key) {
            var message = "unknown key '\(key)'"
            if let suggestion = Spelling.nearest(key, in: known) {
                message += " (did you mean '\(suggestion)'?)"
            } else {
                message += " (known keys here: \(Set(known).sorted().joined(separator: ", ")))"
            }
            throw VigilError(.invalidPolicy, file: file, key: keyPath(key), message)
        }
    }
}
