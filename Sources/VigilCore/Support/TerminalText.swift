/// What Vigil prints of text it did not write itself — file names, trainer arguments, exception
/// messages, reasons — made harmless for a terminal: control characters (ESC sequences that move
/// the cursor or clear the screen, carriage returns that overwrite a line, bells, C1 controls) are
/// shown as escapes (`\e`, `\r`, `\x07`, `\u{9B}`), so nothing can rewrite the screen or fake a line
/// of Vigil's. The trainer's own output passes through untouched; this is for Vigil's messages.
public enum TerminalText {
    /// `text` with every control character but the newline (and the tab) escaped: for Vigil's own
    /// messages, which may span lines.
    public static func safe(_ text: String) -> String {
        escaped(text, keepNewlines: true)
    }

    /// `text` as one line: newlines escaped too (`\n`), for a value inside a line.
    public static func line(_ text: String) -> String {
        escaped(text, keepNewlines: false)
    }

    private static func escaped(_ text: String, keepNewlines: Bool) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepNewlines) }) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar, keepNewlines) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\u{1B}": out += "\\e"
            default:
                let hex = String(scalar.value, radix: 16)
                out += scalar.value < 0x80 ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{\(hex)}"
            }
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar, _ keepNewlines: Bool) -> Bool {
        let value = scalar.value
        if value == 0x0A { return !keepNewlines }
        if value == 0x09 { return false }
        return value < 0x20 || value == 0x7F || (value >= 0x80 && value < 0xA0)
            || value == 0x2028 || value == 0x2029
    }
}
