import Foundation

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

/// How a format writes a float: its words for NaN and infinity, and whether an exponent form needs a `.`.
/// Every format writes finite floats in Swift's shortest form that reads back exactly (`0.00015`, `1e-05`).
struct ConfigFloatSyntax: Sendable {
    /// The words for NaN and (positive) infinity; nil when the format cannot write them.
    var nan: String?
    var infinity: String?
    /// Whether an exponent form needs a `.` in its mantissa (`5.0e-05`), for YAML 1.1 readers such as PyYAML.
    var exponentNeedsPoint = false

    /// YAML: `.nan`, `.inf`, `-.inf`; exponents with a `.`.
    static let yaml = ConfigFloatSyntax(nan: ".nan", infinity: ".inf", exponentNeedsPoint: true)
    /// TOML: `nan`, `inf`, `-inf`.
    static let toml = ConfigFloatSyntax(nan: "nan", infinity: "inf")
    /// JSON, INI and `.env`: finite floats only.
    static let finite = ConfigFloatSyntax(nan: nil, infinity: nil)

    /// `v` as the format writes it, or nil when it cannot.
    func format(_ v: Double) -> String? {
        if v.isNaN { return nan }
        if v.isInfinite { return infinity.map { v < 0 ? "-" + $0 : $0 } }
        var s = String(describing: v)
        if exponentNeedsPoint, !s.contains("."), let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            s.insert(contentsOf: ".0", at: e)
        }
        return s
    }
}
