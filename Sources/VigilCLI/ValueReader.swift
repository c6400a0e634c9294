import VigilCore

/// Converts the text given to an option into what its declaration says it holds, strictly: a
/// message names the option and what it accepts.
enum ValueReader {
    /// The words a flag accepts after `=`.
    static let booleanWords = (yes: ["true", "yes", "1"], no: ["false", "no", "0"])

    /// `--flag=VALUE`: true, false, yes, no, 1 or 0 (in any case).
    static func boolean(_ text: String, for option: OptionSpec) throws -> Bool {
        let word = text.lowercased()
        if booleanWords.yes.contains(word) { return true }
        if booleanWords.no.contains(word) { return false }
        throw VigilError(
            .usage, "option \(option.spelling) takes no value or one of true, false, yes, no, 1, 0; got '\(text)'")
    }

    /// The value of a value option, checked against its kind.
    static func value(_ text: String, _ kind: ValueKind, for option: OptionSpec) throws -> ParsedValue {
        switch kind {
        case .text: return .text(text)
        case .integer(let range): return .integer(try integer(text, in: range, for: option))
        case .duration: return .duration(try duration(text, for: option))
        case .number(let range): return .number(try number(text, in: range, for: option))
        }
    }

    /// A finite decimal number (digits, an optional fraction and exponent), in range.
    static func number(_ text: String, in range: ClosedRange<Double>, for option: OptionSpec) throws -> Double {
        let allowed = Set("0123456789.eE+-")
        guard !text.isEmpty, text.allSatisfy({ allowed.contains($0) }), let value = Double(text), value.isFinite,
            range.contains(value)
        else {
            throw VigilError(
                .usage,
                "option \(option.spelling) expects a number from \(range.lowerBound) to \(range.upperBound), got '\(text)'"
            )
        }
        return value
    }

    /// Decimal digits (with a leading `-` only where the range has negative numbers), in range.
    static func integer(_ text: String, in range: ClosedRange<Int>, for option: OptionSpec) throws -> Int {
        let digits = range.lowerBound < 0 && text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ ("0"..."9").contains($0) }), let value = Int(text),
            range.contains(value)
        else {
            throw VigilError(
                .usage,
                "option \(option.spelling) expects an integer from \(range.lowerBound) to \(range.upperBound), "
                    + "got '\(text)'")
        }
        return value
    }

    /// `DurationFormat`'s durations, finite, from 0 to `ValueKind.longestDuration`.
    static func duration(_ text: String, for option: OptionSpec) throws -> Double {
        guard let seconds = DurationFormat.seconds(from: text) else {
            throw VigilError(
                .usage, "option \(option.spelling) expects a duration like 90s, 15m, 6h or 1h30m, got '\(text)'")
        }
        guard seconds.isFinite, seconds >= 0, seconds <= ValueKind.longestDuration else {
            throw VigilError(
                .usage,
                "option \(option.spelling) expects a duration from 0s to \(ValueKind.longestDurationText), got '\(text)'"
            )
        }
        return seconds
    }
}
