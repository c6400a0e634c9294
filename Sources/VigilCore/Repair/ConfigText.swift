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

/// Text helpers shared by the format editors: the double-quoted string most formats write, and floats.
enum ConfigText {
    /// `s` in double quotes with `"`, `\\`, newline, tab and carriage return escaped; other control
    /// characters (and DEL) through `control`, since each format has its own: YAML `\xHH`, TOML `\uHHHH`, JSON
    /// `\b`, `\f` or `\uhhhh` (and DEL as it is).
    static func doubleQuoted(_ s: String, control: (UInt32) -> String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += control(scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// How a format writes a float: its words for NaN and infinity, and whether an exponent form needs a `.` and a sign.
/// Every format writes a finite float with Swift's shortest digits that read back exactly: in Swift's form
/// (`0.00015`, `1e-05`) for a new key or one that held no float, and in the style of the float it replaces when
/// there was one (`format(_:like:)`).
struct ConfigFloatSyntax: Sendable {
    /// The words for NaN and (positive) infinity; nil when the format cannot write them.
    var nan: String?
    var infinity: String?
    /// Whether an exponent form needs a `.` in its mantissa and a sign in its exponent (`5.0e-05`, `1.0e+20`), for
    /// YAML 1.1 readers such as PyYAML, which read anything else as a string.
    var exponentNeedsPointAndSign = false

    /// YAML: `.nan`, `.inf`, `-.inf`; exponents with a `.` and a sign.
    static let yaml = ConfigFloatSyntax(nan: ".nan", infinity: ".inf", exponentNeedsPointAndSign: true)
    /// TOML: `nan`, `inf`, `-inf`.
    static let toml = ConfigFloatSyntax(nan: "nan", infinity: "inf")
    /// JSON, INI and `.env`: finite floats only.
    static let finite = ConfigFloatSyntax(nan: nil, infinity: nil)

    /// `v` as the format writes it, or nil when it cannot.
    func format(_ v: Double) -> String? {
        if v.isNaN { return nan }
        if v.isInfinite { return infinity.map { v < 0 ? "-" + $0 : $0 } }
        var s = String(describing: v)
        if exponentNeedsPointAndSign, !s.contains("."), let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            s.insert(contentsOf: ".0", at: e)
        }
        return s
    }

    /// `v` in the style of `literal`, the number the file has where `v` goes. In exponent form when it was one
    /// (`3e-4` halved is `1.5e-4`), with its `e` or `E`, a `+` when it had one, and at least as many exponent digits;
    /// as a plain decimal when it was one (`0.0001` halved is `0.00005`), between 1e-24 and 1e21. Otherwise (an
    /// integer, `inf`, zero, or no literal) as `format(_:)` writes it. The digits are always the shortest that read
    /// back exactly, so the text is `v` to the last bit.
    func format(_ v: Double, like literal: String?) -> String? {
        guard let literal, v.isFinite, v != 0, let style = FloatStyle(literal) else { return format(v) }
        let (digits, exponent) = Self.decimal(abs(v))
        let sign = v < 0 ? "-" : ""
        switch style {
        case .plain:
            guard (-24..<21).contains(exponent) else { return format(v) }
            let whole: String
            let fraction: String
            if exponent >= 0 {
                let padded = digits + String(repeating: "0", count: max(0, exponent + 1 - digits.count))
                whole = String(padded.prefix(exponent + 1))
                fraction = String(padded.dropFirst(exponent + 1))
            } else {
                whole = "0"
                fraction = String(repeating: "0", count: -exponent - 1) + digits
            }
            return sign + whole + "." + (fraction.isEmpty ? "0" : fraction)
        case .exponent(let letter, let plus, let width):
            var mantissa = String(digits.prefix(1))
            if digits.count > 1 {
                mantissa += "." + digits.dropFirst()
            } else if exponentNeedsPointAndSign {
                mantissa += ".0"
            }
            let magnitude = String(abs(exponent))
            let padded = String(repeating: "0", count: max(0, width - magnitude.count)) + magnitude
            let exponentSign = exponent < 0 ? "-" : (plus || exponentNeedsPointAndSign ? "+" : "")
            return sign + mantissa + String(letter) + exponentSign + padded
        }
    }

    /// A positive finite `v` as its shortest round-trip digits (no leading or trailing zeros) and the decimal
    /// exponent of the first: `0.00015` is ("15", -4), `1.2e+17` is ("12", 17).
    static func decimal(_ v: Double) -> (digits: String, exponent: Int) {
        var text = Substring(String(describing: v))
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        let whole = text.prefix { $0 != "." }
        let fraction = text.dropFirst(whole.count + 1)
        var digits = Array(whole + fraction)
        exponent += whole.count - 1
        while digits.count > 1, digits.first == "0" {
            digits.removeFirst()
            exponent -= 1
        }
        while digits.count > 1, digits.last == "0" { digits.removeLast() }
        return (String(digits), exponent)
    }
}

/// How a float literal in a file is written: a plain decimal (`0.001`, `.5`, `1_000.5`) or an exponent form
/// (`3e-4`, `3.0E+04`). Integers, hexadecimal, `inf` and `nan` are neither.
private enum FloatStyle {
    case plain
    case exponent(letter: Character, plus: Bool, width: Int)

    init?(_ literal: String) {
        var s = Substring(literal)
        if s.first == "+" || s.first == "-" { s = s.dropFirst() }
        let isDigit = { (c: Character) in c >= "0" && c <= "9" }
        let isMantissa = { (m: Substring) in
            m.contains(where: isDigit) && m.allSatisfy { isDigit($0) || $0 == "." || $0 == "_" }
                && m.filter { $0 == "." }.count <= 1
        }
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            var exponent = s[s.index(after: e)...]
            let plus = exponent.first == "+"
            if exponent.first == "+" || exponent.first == "-" { exponent = exponent.dropFirst() }
            guard isMantissa(s[..<e]), !exponent.isEmpty, exponent.allSatisfy(isDigit) else { return nil }
            self = .exponent(letter: s[e], plus: plus, width: exponent.count)
        } else {
            guard s.contains("."), isMantissa(s) else { return nil }
            self = .plain
        }
    }
}
