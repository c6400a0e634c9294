// Locates the first syntax error in a JSON5 policy document.
//
// Foundation's `JSONDecoder` (with `allowsJSON5 = true`) decides whether a policy file is readable, but on Linux it
// only reports "The given data was not valid JSON." without a position. `JSON5Locator` re-scans the text and says
// where and why it first stops being valid, so the error shown to the person editing the file can point at it.
//
// The accepted language is JSON5 (https://spec.json5.org) narrowed to what Foundation's JSON5 reader accepts, since
// Foundation has the final word on validity:
// - whitespace is limited to space, tab, line feed, carriage return, vertical tab and form feed, plus one U+FEFF byte
//   order mark at the very start; other Unicode spaces (U+00A0, U+2028, U+2029, U+3000, ...) are rejected;
// - strings may not contain raw control characters (U+0000-U+001F, so not even a tab); the escapes are
//   \" \' \\ \/ \b \f \n \r \t \uXXXX \xXX and a backslash before a line break; \v, \0, unknown escapes, lone
//   surrogates and escaped NULs are rejected;
// - unquoted keys may also use \xXX escapes, and an escaped first character only has to be an identifier part;
// - objects and arrays may be nested at most 512 levels deep.
// Numbers follow the JSON5 grammar; whether a syntactically valid number fits the Swift type it is decoded into is
// not a syntax question and is left to the decoder.
//
// The same scan also finds the first key that one object holds twice (`firstDuplicateKey`): valid JSON5, which
// Foundation reads by keeping the last value silently.

/// Where a JSON5 document first stops being valid, and why.
public struct JSON5SyntaxIssue: Sendable, Equatable {
    /// The 1-based line number. Lines end at "\n", "\r\n" or a lone "\r".
    public var line: Int
    /// The 1-based column, counted in Unicode scalars (characters) from the start of the line. A byte order mark at
    /// the start of the document is not counted.
    public var column: Int
    /// What is wrong, phrased for a person editing the file by hand, e.g.
    /// `expected ',' or '}' after the value of key "restart", found '"'`.
    public var message: String

    /// Creates an issue at the given 1-based line and column.
    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }
}

/// Finds the position of the first syntax error in a JSON5 document.
public enum JSON5Locator {
    /// Scans `text` as JSON5 and returns the first syntax problem, or nil when the text is valid JSON5.
    public static func firstIssue(in text: String) -> JSON5SyntaxIssue? {
        var scanner = JSON5ScanState(text)
        do {
            try scanner.scanDocument()
            return nil
        } catch {
            let (line, column) = scanner.lineAndColumn(of: error.index)
            return JSON5SyntaxIssue(line: line, column: column, message: error.message)
        }
    }

    /// Scans `text` and returns the first key that one object holds twice (by the position of its second
    /// occurrence), or nil when there is none or the text is not valid JSON5 (`firstIssue` says why).
    ///
    /// Keys are compared as the decoder compares them: escapes decoded (`"a"`, `a` and `"\u0061"` are the same
    /// key), as Swift strings. Foundation keeps the last of duplicate keys without a word; a policy refuses them.
    public static func firstDuplicateKey(in text: String) -> JSON5DuplicateKey? {
        var scanner = JSON5ScanState(text)
        guard (try? scanner.scanDocument()) != nil, let duplicate = scanner.firstDuplicate else { return nil }
        let (line, column) = scanner.lineAndColumn(of: duplicate.index)
        let (firstLine, firstColumn) = scanner.lineAndColumn(of: duplicate.firstIndex)
        return JSON5DuplicateKey(
            key: duplicate.key, path: duplicate.path, line: line, column: column, firstLine: firstLine,
            firstColumn: firstColumn)
    }
}

// MARK: - Scanner

/// The first problem found, as an index into the scalars of the document.
private struct JSON5ScanFailure: Error {
    var index: Int
    var message: String
}

/// What the value being scanned belongs to; used to name the key in messages.
private enum JSON5Slot {
    case topLevel
    case member(key: String)
    /// An element of the array opened at `opener`; `isFirst` when no element precedes it.
    case element(arrayKey: String?, opener: Int, isFirst: Bool)

    /// The key whose value a container in this slot is, if any.
    var ownerKey: String? {
        switch self {
        case .topLevel: nil
        case .member(let key): key
        case .element(let arrayKey, _, _): arrayKey
        }
    }

    /// "expected a value for key "x"" and friends.
    var expectation: String {
        switch self {
        case .topLevel: "expected a value"
        case .member(let key): "expected a value for key \(quoted(key))"
        case .element(let arrayKey?, _, _): "expected an element of the array for key \(quoted(arrayKey))"
        case .element(nil, _, _): "expected an array element"
        }
    }
}

/// A recursive-descent validator over the Unicode scalars of the document.
private struct JSON5ScanState {
    typealias Failure = JSON5ScanFailure

    /// Foundation refuses documents nested deeper than this.
    static let maximumDepth = 512

    let scalars: [Unicode.Scalar]
    /// Index of the first scalar after an optional leading byte order mark.
    let startIndex: Int
    var pos: Int
    /// Indices of the '{' and '[' that are currently open, innermost last.
    var openers: [Int] = []
    /// The raw contents of the string scanned last.
    var lastString = ""
    /// Where the value being scanned sits: `restart.maxRetries`, `rules[2].name` (decoded keys).
    var path = JSON5KeyPath()
    /// The first key found twice in one object: where, where it was first, and its path.
    var firstDuplicate: (key: String, path: String, index: Int, firstIndex: Int)?

    init(_ text: String) {
        scalars = Array(text.unicodeScalars)
        startIndex = scalars.first == "\u{FEFF}" ? 1 : 0
        pos = startIndex
    }

    var count: Int { scalars.count }

    func scalar(at index: Int) -> Unicode.Scalar? {
        index < scalars.count ? scalars[index] : nil
    }

    // MARK: Positions

    func lineAndColumn(of index: Int) -> (line: Int, column: Int) {
        var line = 1
        var lineStart = startIndex
        var i = startIndex
        let end = min(index, scalars.count)
        while i < end {
            switch scalars[i] {
            case "\n":
                line += 1
                lineStart = i + 1
            case "\r" where scalar(at: i + 1) != "\n":
                line += 1
                lineStart = i + 1
            default:
                break
            }
            i += 1
        }
        return (line, index - lineStart + 1)
    }

    func locationText(of index: Int) -> String {
        let (line, column) = lineAndColumn(of: index)
        return "line \(line), column \(column)"
    }

    /// " (the '{' at line 1, column 1 is never closed)" for the innermost open container, or "".
    var unclosedHint: String {
        guard let opener = openers.last else { return "" }
        return " (the '\(scalars[opener])' at \(locationText(of: opener)) is never closed)"
    }

    /// "found '}'", "found end of file", "found U+00A0 (no-break space)".
    func found(at index: Int) -> String {
        guard let c = scalar(at: index) else { return "found end of file" }
        return "found \(describe(c))"
    }

    // MARK: Document

    mutating func scanDocument() throws(Failure) {
        try skipTrivia()
        guard pos < count else {
            let detail = count == startIndex ? "the document is empty" : "the document contains no value"
            throw Failure(index: pos, message: "expected a value, but \(detail)")
        }
        let valueStart = pos
        try scanValue(.topLevel)
        try skipTrivia()
        guard pos < count else { return }
        var message = "trailing data after the document, \(found(at: pos))"
        switch scalars[pos] {
        case ":" where isQuote(scalars[valueStart]):
            message += " (to write an object, wrap its members in '{' and '}')"
        case "}", "]":
            message += " (is there one closing bracket too many?)"
        case ",":
            message += " (a document holds a single value; wrap several values in '[' and ']')"
        case let c:
            message += commentHint(c)
        }
        throw Failure(index: pos, message: message)
    }

    // MARK: Whitespace and comments

    /// Skips whitespace and comments the way Foundation does.
    mutating func skipTrivia() throws(Failure) {
        while pos < count {
            let c = scalars[pos]
            switch c {
            case " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}":
                pos += 1
            case "/":
                switch scalar(at: pos + 1) {
                case "/":
                    pos += 2
                    while pos < count, scalars[pos] != "\n", scalars[pos] != "\r" {
                        pos += 1
                    }
                case "*":
                    let open = pos
                    pos += 2
                    while true {
                        guard pos + 1 < count else {
                            throw Failure(index: open, message: "unterminated block comment (missing '*/')")
                        }
                        if scalars[pos] == "*", scalars[pos + 1] == "/" {
                            pos += 2
                            break
                        }
                        pos += 1
                    }
                default:
                    return
                }
            default:
                if c.properties.isWhitespace || c == "\u{FEFF}" {
                    throw Failure(
                        index: pos,
                        message: "unsupported whitespace character \(describe(c)); "
                            + "only spaces, tabs and line breaks are allowed outside strings")
                }
                return
            }
        }
    }

    /// Like `skipTrivia`, but never fails and never moves `pos`; used for look-ahead.
    func indexAfterTrivia(from start: Int) -> Int {
        var i = start
        while i < count {
            switch scalars[i] {
            case " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}":
                i += 1
            case "/" where scalar(at: i + 1) == "/":
                i += 2
                while i < count, scalars[i] != "\n", scalars[i] != "\r" {
                    i += 1
                }
            case "/" where scalar(at: i + 1) == "*":
                i += 2
                while i + 1 < count, !(scalars[i] == "*" && scalars[i + 1] == "/") {
                    i += 1
                }
                i = min(i + 2, count)
            default:
                return i
            }
        }
        return i
    }

    // MARK: Values

    /// Scans one value starting at `pos`, which must already be past any whitespace.
    mutating func scanValue(_ slot: JSON5Slot) throws(Failure) {
        guard let c = scalar(at: pos) else {
            throw Failure(index: pos, message: "\(slot.expectation), found end of file\(unclosedHint)")
        }
        switch c {
        case "{":
            try scanObject(ownerKey: slot.ownerKey)
        case "[":
            try scanArray(ownerKey: slot.ownerKey)
        case "\"", "'":
            _ = try scanString()
        case "0"..."9", "+", "-", ".":
            try scanNumber()
        default:
            if isIdentifierStart(c) {
                try scanWord(slot)
            } else {
                try rejectValue(slot)
            }
        }
    }

    /// Fails for a value that starts with a character that cannot start a value.
    func rejectValue(_ slot: JSON5Slot) throws(Failure) {
        let c = scalars[pos]
        if isStructural(c) {
            throw Failure(index: pos, message: "\(slot.expectation), \(found(at: pos))")
        }
        if c == "#" {
            throw Failure(index: pos, message: "unexpected character '#' (comments start with '//' or '/*')")
        }
        let word = bareWord(from: pos)
        if word.contains(where: { $0.isLetter || $0.isNumber }) {
            throw Failure(index: pos, message: unquotedValueMessage(word))
        }
        throw Failure(index: pos, message: "unexpected character \(describe(c)) (\(slot.expectation))")
    }

    /// Scans `true`, `false`, `null`, `Infinity`, `NaN`, or reports an unquoted word.
    mutating func scanWord(_ slot: JSON5Slot) throws(Failure) {
        let start = pos
        var end = pos
        while end < count, isIdentifierPart(scalars[end]) {
            end += 1
        }
        let word = String(String.UnicodeScalarView(scalars[start..<end]))
        let bare = bareWord(from: start)
        let isKey = isFollowedByKeySeparator(end)
        if case .topLevel = slot, isKey || scalar(at: indexAfterTrivia(from: end)) == "=" {
            throw Failure(
                index: start,
                message: "expected a value, found key '\(word)' (to write an object, wrap its members in '{' and '}')")
        }
        if case .member = slot, isKey {
            throw Failure(index: start, message: "\(slot.expectation), found key '\(word)'")
        }
        if case .element(_, let opener, let isFirst) = slot, isKey {
            throw Failure(
                index: start,
                message: "\(slot.expectation), found key '\(word)'\(arrayColonHint(opener: opener, isFirst: isFirst))")
        }
        if bare.unicodeScalars.count == end - start {
            switch word {
            case "true", "false", "null", "Infinity", "NaN":
                pos = end
                return
            default:
                break
            }
            switch word.lowercased() {
            case "true", "false", "null":
                throw Failure(index: start, message: "unknown literal '\(word)' (did you mean '\(word.lowercased())'?)")
            case "infinity":
                throw Failure(index: start, message: "unknown literal '\(word)' (did you mean 'Infinity'?)")
            case "nan":
                throw Failure(index: start, message: "unknown literal '\(word)' (did you mean 'NaN'?)")
            case "nil", "none", "undefined":
                throw Failure(
                    index: start,
                    message: "unquoted value '\(word)' (write null for no value, or use quotes for a string)")
            default:
                break
            }
        }
        throw Failure(index: start, message: unquotedValueMessage(bare))
    }

    /// Whether the word ending at `end` is followed by ':' as a key would be (and not by "://" as in a URL).
    func isFollowedByKeySeparator(_ end: Int) -> Bool {
        let next = indexAfterTrivia(from: end)
        return scalar(at: next) == ":" && scalar(at: next + 1) != "/"
    }

    func unquotedValueMessage(_ word: String) -> String {
        "unquoted value '\(abbreviated(word))' (strings need quotes)"
    }

    /// The run of characters starting at `start` that a person would read as one word: everything up to whitespace,
    /// a structural character, a quote or a comment. Used only to build messages.
    func bareWord(from start: Int) -> String {
        var i = start
        while i < count {
            let c = scalars[i]
            if c.properties.isWhitespace || c == "\u{FEFF}" || isStructural(c) && c != ":" || isQuote(c) || c == ";" {
                break
            }
            if c == ":" {
                // Keep "10:30" and "https://host" together.
                guard let next = scalar(at: i + 1), next == "/" || isIdentifierPart(next) else { break }
            }
            if c == "/", let next = scalar(at: i + 1), next == "/" || next == "*", i == start || scalars[i - 1] != ":" {
                break
            }
            i += 1
        }
        return String(String.UnicodeScalarView(scalars[start..<i]))
    }

    // MARK: Numbers

    /// Scans a number; the token extends over the same characters Foundation takes as one number.
    mutating func scanNumber() throws(Failure) {
        let start = pos
        var end = pos + 1
        while end < count, isNumberTokenCharacter(scalars[end]) {
            end += 1
        }
        if let (index, detail) = numberProblem(start: start, end: end) {
            throw numberFailure(start: start, end: end, index: index, detail: detail)
        }
        let word = bareWord(from: start)
        if word.unicodeScalars.count > end - start, hasDigitSeparators(word) || looksLikeText(word) {
            // A valid number glued to more text, such as `1_000` or `10:30`. Anything else after the number is left
            // to the enclosing object or array to report.
            throw numberFailure(start: start, end: end, index: end, detail: "")
        }
        pos = end
    }

    /// Returns where and why the number token `scalars[start..<end]` is invalid, or nil when it is valid.
    func numberProblem(start: Int, end: Int) -> (index: Int, detail: String)? {
        func isDigit(_ i: Int) -> Bool { i < end && ("0"..."9").contains(scalars[i]) }
        var i = start
        if scalars[i] == "+" || scalars[i] == "-" {
            i += 1
        }
        guard i < end else {
            return (i, "expected a digit after '\(scalars[start])'")
        }
        let first = scalars[i]
        if first.properties.isAlphabetic {
            let word = String(String.UnicodeScalarView(scalars[i..<end]))
            if word == "Infinity" || word == "NaN" {
                return nil
            }
            switch word.lowercased() {
            case "infinity": return (i, "did you mean 'Infinity'?")
            case "nan": return (i, "did you mean 'NaN'?")
            default: return (i, "unexpected \(describe(first))")
            }
        }
        if first == "0", i + 1 < end, scalars[i + 1] == "x" || scalars[i + 1] == "X" {
            var j = i + 2
            guard j < end else {
                return (j, "expected hex digits after '0\(scalars[i + 1])'")
            }
            while j < end, scalars[j].properties.isASCIIHexDigit {
                j += 1
            }
            return j < end ? (j, "\(describe(scalars[j])) is not a hex digit") : nil
        }
        var j = i
        while isDigit(j) {
            j += 1
        }
        let integerDigits = j - i
        if integerDigits > 1, first == "0" {
            return (i, "leading zeros are not allowed")
        }
        var fractionDigits = 0
        if j < end, scalars[j] == "." {
            j += 1
            while isDigit(j) {
                j += 1
                fractionDigits += 1
            }
        }
        if integerDigits == 0 {
            if first != "." {
                return (i, "unexpected \(describe(first))")
            }
            if fractionDigits == 0 {
                return (i + 1, "expected a digit after '.'")
            }
        }
        if j < end, scalars[j] == "e" || scalars[j] == "E" {
            j += 1
            if j < end, scalars[j] == "+" || scalars[j] == "-" {
                j += 1
            }
            guard isDigit(j) else {
                return (j, "expected digits in the exponent")
            }
            while isDigit(j) {
                j += 1
            }
        }
        return j < end ? (j, "unexpected \(describe(scalars[j]))") : nil
    }

    /// Builds the failure for an invalid number, preferring "unquoted value" when the token reads like text.
    func numberFailure(start: Int, end: Int, index: Int, detail: String) -> Failure {
        let token = String(String.UnicodeScalarView(scalars[start..<end]))
        let word = bareWord(from: start)
        if hasDigitSeparators(word) {
            return Failure(index: start, message: "invalid number '\(word)' ('_' digit separators are not allowed)")
        }
        if looksLikeText(word) {
            return Failure(index: start, message: unquotedValueMessage(word))
        }
        return Failure(index: index, message: "invalid number '\(abbreviated(token))': \(detail)")
    }

    /// Whether `word` is digits with '_' separators, such as `1_000_000`.
    func hasDigitSeparators(_ word: String) -> Bool {
        word.contains("_") && word.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || $0 == "_" || $0 == "." }
    }

    /// Whether a word that starts like a number is more likely meant as text, such as `10s`, `1.5GB`, `10:30` or
    /// `192.168.0.1`.
    func looksLikeText(_ word: String) -> Bool {
        var body = Substring(word)
        if body.first == "+" || body.first == "-" {
            body = body.dropFirst()
        }
        let isHex = body.hasPrefix("0x") || body.hasPrefix("0X")
        if isHex {
            body = body.dropFirst(2)
        }
        if body.filter({ $0 == "." }).count > 1 || body.contains(where: { ":/%".contains($0) }) {
            return true
        }
        let letters = body.filter(\.isLetter)
        if isHex {
            return letters.contains { !$0.isHexDigit }
        }
        if ["infinity", "nan"].contains(letters.lowercased()) {
            return false
        }
        return letters.count > 1 || (letters.count == 1 && letters != "e" && letters != "E")
    }

    // MARK: Strings

    /// Scans a single- or double-quoted string and returns its raw contents (escapes are not decoded).
    mutating func scanString() throws(Failure) -> String {
        let open = pos
        let quote = scalars[pos]
        pos += 1
        while true {
            guard pos < count else {
                throw Failure(
                    index: open,
                    message: "unterminated string (missing closing \(describe(quote)) before the end of the file)")
            }
            let c = scalars[pos]
            switch c {
            case quote:
                pos += 1
                lastString = String(String.UnicodeScalarView(scalars[(open + 1)..<(pos - 1)]))
                return lastString
            case "\\":
                try scanEscape(openQuote: open)
            case "\n", "\r":
                throw Failure(
                    index: open,
                    message: "unterminated string (missing closing \(describe(quote)) at the end of the line; "
                        + "to continue a string on the next line, end the line with '\\')")
            case "\t":
                throw Failure(index: pos, message: "tab character inside a string (write it as '\\t')")
            default:
                if c.value < 0x20 {
                    throw Failure(
                        index: pos,
                        message: "control character \(describe(c)) inside a string (write it as '\\u\(hex4(c.value))')")
                }
                pos += 1
            }
        }
    }

    /// Scans one escape sequence in a string; `pos` is at the backslash.
    mutating func scanEscape(openQuote: Int) throws(Failure) {
        let backslash = pos
        let backslashHint = " (to include a backslash, write '\\\\')"
        guard let e = scalar(at: pos + 1) else {
            throw Failure(
                index: openQuote,
                message: "unterminated string (missing closing \(describe(scalars[openQuote])) before the end of "
                    + "the file)")
        }
        switch e {
        case "\"", "'", "\\", "/", "b", "f", "n", "r", "t", "\n":
            pos += 2
        case "\r":
            pos += scalar(at: pos + 2) == "\n" ? 3 : 2
        case "u":
            guard let value = hexValue(at: pos + 2, digits: 4) else {
                throw Failure(
                    index: backslash, message: "invalid escape: expected 4 hex digits after '\\u'\(backslashHint)")
            }
            pos += 6
            switch value {
            case 0:
                throw Failure(index: backslash, message: "'\\u0000' (NUL) is not allowed in strings")
            case 0xD800...0xDBFF:
                guard scalar(at: pos) == "\\", scalar(at: pos + 1) == "u",
                    let low = hexValue(at: pos + 2, digits: 4), (0xDC00...0xDFFF).contains(low)
                else {
                    throw Failure(
                        index: backslash,
                        message: "unpaired surrogate '\\u\(hex4(value))' (it must be followed by a low surrogate "
                            + "'\\uDC00' to '\\uDFFF')")
                }
                pos += 6
            case 0xDC00...0xDFFF:
                throw Failure(
                    index: backslash,
                    message: "unpaired surrogate '\\u\(hex4(value))' (it must follow a high surrogate "
                        + "'\\uD800' to '\\uDBFF')")
            default:
                break
            }
        case "x":
            guard let value = hexValue(at: pos + 2, digits: 2) else {
                throw Failure(
                    index: backslash, message: "invalid escape: expected 2 hex digits after '\\x'\(backslashHint)")
            }
            if value == 0 {
                throw Failure(index: backslash, message: "'\\x00' (NUL) is not allowed in strings")
            }
            pos += 4
        case "v":
            throw Failure(index: backslash, message: "unsupported escape sequence '\\v' (write '\\u000B' instead)")
        case "0":
            throw Failure(
                index: backslash, message: "unsupported escape sequence '\\0' (NUL is not allowed in strings)")
        default:
            let shown = isPrintable(e) ? "'\\\(e)'" : "'\\' followed by \(describe(e))"
            throw Failure(index: backslash, message: "unsupported escape sequence \(shown)\(backslashHint)")
        }
    }

    func hexValue(at index: Int, digits: Int) -> UInt32? {
        guard index + digits <= count else { return nil }
        var value: UInt32 = 0
        for c in scalars[index..<(index + digits)] {
            guard c.properties.isASCIIHexDigit, let digit = UInt32(String(c), radix: 16) else { return nil }
            value = value * 16 + digit
        }
        return value
    }

    // MARK: Objects

    /// Records the '{' or '[' at `index` as open, refusing to nest deeper than Foundation does.
    mutating func enterContainer(at index: Int) throws(Failure) {
        guard openers.count < Self.maximumDepth else {
            throw Failure(
                index: index, message: "too deeply nested (more than \(Self.maximumDepth) levels of '{' and '[')")
        }
        openers.append(index)
    }

    mutating func scanObject(ownerKey: String?) throws(Failure) {
        let open = pos
        try enterContainer(at: open)
        defer { openers.removeLast() }
        pos += 1
        let inObject = ownerKey.map { " in the object for key \(quoted($0))" } ?? ""
        var seen: [String: Int] = [:]  // decoded key → where it first appears

        try skipTrivia()
        if scalar(at: pos) == "}" {
            pos += 1
            return
        }
        while true {
            guard pos < count else {
                throw Failure(index: pos, message: "expected a key or '}'\(inObject), found end of file\(unclosedHint)")
            }
            let keyStart = pos
            let isQuoted = isQuote(scalars[pos])
            let key = try scanKey(inObject: inObject)
            try skipTrivia()
            guard let separator = scalar(at: pos) else {
                throw Failure(
                    index: pos, message: "expected ':' after key \(quoted(key)), found end of file\(unclosedHint)")
            }
            if separator != ":" {
                try rejectSeparator(key: key, keyStart: keyStart, isQuoted: isQuoted)
            }
            pos += 1
            try skipTrivia()
            let valueStart = pos
            let decoded = JSON5KeyPath.decode(key)
            noteKey(decoded, at: keyStart, seen: &seen)
            path.components.append(.key(decoded))
            try scanValue(.member(key: key))
            path.components.removeLast()
            try skipTrivia()

            let afterValue = "expected ',' or '}' after the value of key \(quoted(key))"
            guard let c = scalar(at: pos) else {
                throw Failure(index: pos, message: "\(afterValue), found end of file\(unclosedHint)")
            }
            switch c {
            case ",":
                pos += 1
                try skipTrivia()
                if scalar(at: pos) == "}" {
                    pos += 1
                    return
                }
            case "}":
                pos += 1
                return
            case "]":
                throw Failure(
                    index: pos,
                    message: "\(afterValue), found ']' (the '{' at \(locationText(of: open)) is not closed)")
            case ":" where isQuote(scalars[valueStart]):
                // `a: "b": 1` - most likely the value of `a` is missing.
                throw Failure(
                    index: valueStart,
                    message: "expected a value for key \(quoted(key)), found key \(quoted(lastString))")
            default:
                if let nextKey = memberKey(at: pos) {
                    throw Failure(index: pos, message: "missing ',' before key \(quoted(nextKey))")
                }
                throw Failure(index: pos, message: "\(afterValue), \(found(at: pos))\(commentHint(c))")
            }
        }
    }

    /// Records `key` of the object being scanned, and the first duplicate of the document.
    mutating func noteKey(_ key: String, at index: Int, seen: inout [String: Int]) {
        guard let first = seen[key] else {
            seen[key] = index
            return
        }
        if firstDuplicate == nil {
            firstDuplicate = (key, path.appending(key), index, first)
        }
    }

    /// Scans a quoted or unquoted key and returns its raw text.
    mutating func scanKey(inObject: String) throws(Failure) -> String {
        let c = scalars[pos]
        if isQuote(c) {
            return try scanString()
        }
        if isIdentifierStart(c) || c == "\\" {
            return try scanIdentifierKey()
        }
        if ("0"..."9").contains(c) || c == "-" || c == "+" || c == "." {
            let word = keyWord(from: pos)
            let afterDigitAndComma = pos >= 2 && scalars[pos - 1] == "," && ("0"..."9").contains(scalars[pos - 2])
            let hint = afterDigitAndComma ? "numbers are written without ',' separators" : "put the key in quotes"
            throw Failure(
                index: pos,
                message: "unquoted key '\(abbreviated(word))' must start with a letter, '_' or '$' (\(hint))")
        }
        if isStructural(c) {
            throw Failure(index: pos, message: "expected a key or '}'\(inObject), \(found(at: pos))")
        }
        if c == "#" {
            throw Failure(index: pos, message: "unexpected character '#' (comments start with '//' or '/*')")
        }
        throw Failure(index: pos, message: "unexpected character \(describe(c)) (expected a key or '}'\(inObject))")
    }

    /// Scans an ECMAScript IdentifierName used as a key, with the escapes Foundation accepts.
    mutating func scanIdentifierKey() throws(Failure) -> String {
        let start = pos
        while pos < count {
            let c = scalars[pos]
            if c == "\\" {
                let isUnicode = scalar(at: pos + 1) == "u"
                guard isUnicode || scalar(at: pos + 1) == "x" else {
                    throw Failure(
                        index: pos,
                        message: "invalid escape in unquoted key '\(keyWord(from: start))' (put the key in quotes)")
                }
                let digits = isUnicode ? 4 : 2
                guard let value = hexValue(at: pos + 2, digits: digits), let escaped = Unicode.Scalar(value),
                    isIdentifierPart(escaped)
                else {
                    throw Failure(
                        index: pos,
                        message: "invalid escape in unquoted key '\(keyWord(from: start))' (put the key in quotes)")
                }
                pos += 2 + digits
            } else if isIdentifierPart(c) {
                pos += 1
            } else {
                break
            }
        }
        if let c = scalar(at: pos), !c.properties.isWhitespace, c != ":", c != "=", !isStructural(c), !isQuote(c),
            c != "\u{FEFF}", !(c == "/" && [.some("/"), .some("*")].contains(scalar(at: pos + 1)))
        {
            let word = keyWord(from: start)
            throw Failure(
                index: pos,
                message: "unquoted key '\(abbreviated(word))' contains \(describe(c)) (put the key in quotes)")
        }
        return String(String.UnicodeScalarView(scalars[start..<pos]))
    }

    /// Fails because something other than ':' follows a key; `pos` is at that character.
    func rejectSeparator(key: String, keyStart: Int, isQuoted: Bool) throws(Failure) {
        let c = scalars[pos]
        let expected = "expected ':' after key \(quoted(key))"
        if c == "=" {
            throw Failure(index: pos, message: "\(expected), found '=' (use ':' instead of '=')")
        }
        let keyEnd = indexAfterIdentifier(from: keyStart)
        if !isQuoted, isIdentifierStart(c), scalars[keyEnd..<pos].allSatisfy({ $0 == " " || $0 == "\t" }),
            scalar(at: indexAfterTrivia(from: indexAfterIdentifier(from: pos))) == ":"
        {
            let words = String(String.UnicodeScalarView(scalars[keyStart..<indexAfterIdentifier(from: pos)]))
            throw Failure(
                index: pos,
                message: "unquoted key '\(abbreviated(words))' contains a space (put the key in quotes)")
        }
        if canStartValue(c) {
            throw Failure(index: pos, message: "missing ':' after key \(quoted(key))")
        }
        throw Failure(index: pos, message: "\(expected), \(found(at: pos))\(commentHint(c))")
    }

    /// If a member key followed by ':' (or '=') starts at `index`, returns the key; used to spot a missing comma.
    func memberKey(at index: Int) -> String? {
        guard let c = scalar(at: index) else { return nil }
        var end: Int
        let key: String
        if isQuote(c) {
            end = index + 1
            while end < count, scalars[end] != c, scalars[end] != "\n", scalars[end] != "\r" {
                end += scalars[end] == "\\" ? 2 : 1
            }
            guard end < count, scalars[end] == c else { return nil }
            key = String(String.UnicodeScalarView(scalars[(index + 1)..<end]))
            end += 1
        } else if isIdentifierStart(c) {
            end = indexAfterIdentifier(from: index)
            key = String(String.UnicodeScalarView(scalars[index..<end]))
        } else {
            return nil
        }
        let separator = scalar(at: indexAfterTrivia(from: end))
        return separator == ":" || separator == "=" ? key : nil
    }

    func indexAfterIdentifier(from start: Int) -> Int {
        var end = start
        while end < count, isIdentifierPart(scalars[end]) {
            end += 1
        }
        return end
    }

    /// The text of a would-be key starting at `start`, for messages: up to whitespace, ':', a structural character
    /// or a quote.
    func keyWord(from start: Int) -> String {
        var end = start
        while end < count {
            let c = scalars[end]
            if c.properties.isWhitespace || isStructural(c) || isQuote(c) || c == "=" {
                break
            }
            end += 1
        }
        return String(String.UnicodeScalarView(scalars[start..<end]))
    }

    // MARK: Arrays

    mutating func scanArray(ownerKey: String?) throws(Failure) {
        let open = pos
        try enterContainer(at: open)
        defer { openers.removeLast() }
        pos += 1
        let element = ownerKey.map { "an element of the array for key \(quoted($0))" } ?? "an array element"

        try skipTrivia()
        if scalar(at: pos) == "]" {
            pos += 1
            return
        }
        var isFirstElement = true
        var elementIndex = 0
        while true {
            path.components.append(.index(elementIndex))
            try scanValue(.element(arrayKey: ownerKey, opener: open, isFirst: isFirstElement))
            path.components.removeLast()
            elementIndex += 1
            try skipTrivia()
            let afterValue = "expected ',' or ']' after \(element)"
            guard let c = scalar(at: pos) else {
                throw Failure(index: pos, message: "\(afterValue), found end of file\(unclosedHint)")
            }
            switch c {
            case ",":
                pos += 1
                isFirstElement = false
                try skipTrivia()
                if scalar(at: pos) == "]" {
                    pos += 1
                    return
                }
            case "]":
                pos += 1
                return
            case "}":
                throw Failure(
                    index: pos,
                    message: "\(afterValue), found '}' (the '[' at \(locationText(of: open)) is not closed)")
            case ":":
                throw Failure(
                    index: pos,
                    message: "\(afterValue), found ':'\(arrayColonHint(opener: open, isFirst: isFirstElement))")
            default:
                if canStartValue(c) {
                    let between = ownerKey.map { "elements of the array for key \(quoted($0))" } ?? "array elements"
                    throw Failure(index: pos, message: "missing ',' between \(between)")
                }
                throw Failure(index: pos, message: "\(afterValue), \(found(at: pos))\(commentHint(c))")
            }
        }
    }

    /// Explains a ':' inside an array: either the array should have been an object, or its ']' is missing.
    func arrayColonHint(opener: Int, isFirst: Bool) -> String {
        isFirst
            ? " (key-value pairs belong in an object: use '{' and '}')"
            : " (missing ']' for the '[' at \(locationText(of: opener))?)"
    }

    // MARK: Character classes

    func isQuote(_ c: Unicode.Scalar) -> Bool { c == "\"" || c == "'" }

    func isStructural(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "{", "}", "[", "]", ",", ":": true
        default: false
        }
    }

    func canStartValue(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "{", "[", "\"", "'", "0"..."9", "+", "-", ".": true
        default: isIdentifierStart(c)
        }
    }

    /// Characters Foundation takes as part of a number token after its first character.
    func isNumberTokenCharacter(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "0"..."9", "a"..."z", "A"..."Z", ".", "+", "-": true
        default: false
        }
    }

    /// ECMAScript IdentifierStart (without escapes): a letter, '$' or '_'.
    func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "$", "_":
            return true
        case "\0"..."\u{7F}":
            return false
        default:
            switch c.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .letterNumber:
                return true
            default:
                return false
            }
        }
    }

    /// ECMAScript IdentifierPart (without escapes).
    func isIdentifierPart(_ c: Unicode.Scalar) -> Bool {
        if isIdentifierStart(c) || ("0"..."9").contains(c) {
            return true
        }
        if c.value < 0x80 {
            return false
        }
        if c == "\u{200C}" || c == "\u{200D}" {
            return true
        }
        switch c.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .decimalNumber, .connectorPunctuation:
            return true
        default:
            return false
        }
    }
}

// MARK: - Message helpers

/// " (comments start with '//' or '/*')" after a '#', " (separate members with ',')" after a ';', else "".
private func commentHint(_ c: Unicode.Scalar) -> String {
    switch c {
    case "#": " (comments start with '//' or '/*')"
    case ";": " (separate values with ',')"
    default: ""
    }
}

/// `"key"`, with the key shortened if it is very long.
private func quoted(_ key: String) -> String {
    "\"\(abbreviated(key))\""
}

private func abbreviated(_ text: String, limit: Int = 40) -> String {
    guard text.unicodeScalars.count > limit else { return text }
    return String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit))) + "…"
}

private func hex4(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

private func isPrintable(_ c: Unicode.Scalar) -> Bool {
    switch c.properties.generalCategory {
    case .control, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned,
        .nonspacingMark, .enclosingMark:
        return false
    default:
        return true
    }
}

/// `'x'` for printable characters, `"'"` for an apostrophe, `U+00A0 (no-break space)` for invisible ones.
private func describe(_ c: Unicode.Scalar) -> String {
    if c == "'" {
        return "\"'\""
    }
    if isPrintable(c) {
        return "'\(c)'"
    }
    let code = "U+\(hex4(c.value))"
    return invisibleScalarNames[c.value].map { "\(code) (\($0))" } ?? code
}

/// Names for the invisible characters people most often paste into a file by accident.
private let invisibleScalarNames: [UInt32: String] = [
    0x00: "NUL", 0x09: "tab", 0x0A: "line feed", 0x0B: "vertical tab", 0x0C: "form feed", 0x0D: "carriage return",
    0x20: "space", 0x85: "next line", 0xA0: "no-break space", 0x200B: "zero-width space", 0x2028: "line separator",
    0x2029: "paragraph separator", 0x3000: "ideographic space", 0xFEFF: "byte order mark",
]
