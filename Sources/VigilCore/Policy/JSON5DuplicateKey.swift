/// A key that one object of a JSON5 document holds twice (`JSON5Locator.firstDuplicateKey(in:)`).
public struct JSON5DuplicateKey: Sendable, Equatable {
    /// The key, decoded.
    public var key: String
    /// The key path of the member, as policy errors name keys: `restart.maxRetries`, `rules[2].name`.
    public var path: String
    /// The 1-based line and column (in Unicode scalars) of the second occurrence.
    public var line: Int
    public var column: Int
    /// The 1-based line and column of the first occurrence.
    public var firstLine: Int
    public var firstColumn: Int

    /// A duplicate of `key` at `line`:`column`, first set at `firstLine`:`firstColumn`.
    public init(key: String, path: String, line: Int, column: Int, firstLine: Int, firstColumn: Int) {
        self.key = key
        self.path = path
        self.line = line
        self.column = column
        self.firstLine = firstLine
        self.firstColumn = firstColumn
    }
}

/// Where a value sits in a JSON5 document while it is scanned, and how keys read once their escapes are decoded.
struct JSON5KeyPath {
    /// One step down: a member of an object, or an element of an array.
    enum Component {
        case key(String)
        case index(Int)
    }

    var components: [Component] = []

    /// The path of a member `key` of the current object: `rules[0].name`.
    func appending(_ key: String) -> String {
        var text = ""
        for component in components + [.key(key)] {
            switch component {
            case .key(let name): text += text.isEmpty ? name : ".\(name)"
            case .index(let index): text += "[\(index)]"
            }
        }
        return text
    }

    /// The text of a key as the decoder reads it, from its raw text between the quotes (or unquoted): the
    /// escapes `JSON5Locator` accepts are decoded (`\"`, `\n`, `\u0061`, surrogate pairs, `\x41`, a backslash
    /// before a line break). The text has been validated by the scan, so nothing here can fail.
    static func decode(_ raw: String) -> String {
        guard raw.contains("\\") else { return raw }
        let scalars = Array(raw.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            guard scalars[i] == "\\", i + 1 < scalars.count else {
                out.append(scalars[i])
                i += 1
                continue
            }
            let (decoded, length) = escape(scalars, at: i)
            if let decoded { out.append(decoded) }
            i += length
        }
        return String(out)
    }

    /// The scalar an escape at `index` (a backslash) stands for (nil for a line continuation), and its length.
    private static func escape(_ scalars: [Unicode.Scalar], at index: Int) -> (Unicode.Scalar?, Int) {
        switch scalars[index + 1] {
        case "b": return ("\u{08}", 2)
        case "f": return ("\u{0C}", 2)
        case "n": return ("\n", 2)
        case "r": return ("\r", 2)
        case "t": return ("\t", 2)
        case "\n": return (nil, 2)
        case "\r": return (nil, index + 2 < scalars.count && scalars[index + 2] == "\n" ? 3 : 2)
        case "x": return (hex(scalars, at: index + 2, digits: 2).flatMap(Unicode.Scalar.init), 4)
        case "u":
            guard let high = hex(scalars, at: index + 2, digits: 4) else { return (nil, 2) }
            if (0xD800...0xDBFF).contains(high), index + 7 < scalars.count, scalars[index + 6] == "\\",
                scalars[index + 7] == "u", let low = hex(scalars, at: index + 8, digits: 4)
            {
                return (Unicode.Scalar(0x10000 + (high - 0xD800) << 10 + (low - 0xDC00)), 12)
            }
            return (Unicode.Scalar(high), 6)
        case let other: return (other, 2)  // \" \' \\ \/
        }
    }

    /// The value of `digits` hex digits at `index`, or nil.
    private static func hex(_ scalars: [Unicode.Scalar], at index: Int, digits: Int) -> UInt32? {
        guard index + digits <= scalars.count else { return nil }
        return UInt32(String(String.UnicodeScalarView(scalars[index..<(index + digits)])), radix: 16)
    }
}
