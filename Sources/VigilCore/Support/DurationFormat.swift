import Foundation

/// Durations as people write them in policies and flags: `90s`, `15m`, `6h`, `1h30m`, `250ms`, `0`.
public enum DurationFormat {
    /// Parses `text` into seconds, or returns nil when it is not a duration.
    public static func seconds(from text: String) -> Double? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        if text.isEmpty { return nil }
        if text == "0" { return 0 }
        var total = 0.0
        var number = ""
        var index = text.startIndex
        var sawUnit = false
        while index < text.endIndex {
            let ch = text[index]
            if ch.isNumber || ch == "." {
                number.append(ch)
                index = text.index(after: index)
                continue
            }
            guard let value = Double(number) else { return nil }
            var unit = String(ch)
            let next = text.index(after: index)
            if ch == "m", next < text.endIndex, text[next] == "s" { unit = "ms" }
            let multiplier: Double
            switch unit {
            case "ms": multiplier = 0.001
            case "s": multiplier = 1
            case "m": multiplier = 60
            case "h": multiplier = 3600
            case "d": multiplier = 86400
            default: return nil
            }
            total += value * multiplier
            number = ""
            sawUnit = true
            index = text.index(index, offsetBy: unit.count)
        }
        // Enough digits overflow a Double: `1e400` seconds is not a duration (found by scripts/fuzz).
        guard number.isEmpty, sawUnit, total.isFinite else { return nil }
        return total
    }

    /// Formats seconds the way they are written: `1h30m`, `90s` → `1m30s`, `0.25s` → `250ms`.
    public static func string(from seconds: Double) -> String {
        if seconds <= 0 { return "0s" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds < 59.95, seconds != seconds.rounded() {
            return String(format: "%.1fs", seconds)
        }
        // A policy may give any number of seconds (`1e300`, JSON5's `Infinity`): past about 3e11 years
        // `Int(_:)` below would trap, so write whole days without it (found by scripts/fuzz).
        if seconds >= 1e15 {
            return seconds.isFinite ? String(format: "%.0fd", (seconds / 86400).rounded()) : "\(seconds)"
        }
        var rest = Int(seconds.rounded())
        var out = ""
        let days = rest / 86400; rest %= 86400
        let hours = rest / 3600; rest %= 3600
        let minutes = rest / 60; rest %= 60
        if days > 0 { out += "\(days)d" }
        if hours > 0 { out += "\(hours)h" }
        if minutes > 0 { out += "\(minutes)m" }
        if rest > 0 || out.isEmpty { out += "\(rest)s" }
        return out
    }
}

/// Sizes as people write them: `100MB`, `64KiB`, `1g`, `4096`.
public enum ByteSizeFormat {
    public static func bytes(from text: String) -> Int? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = text.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(digits) else { return nil }
        let unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let multiplier: Double
        switch unit {
        case "", "b": multiplier = 1
        case "k", "kb", "kib": multiplier = 1024
        case "m", "mb", "mib": multiplier = 1024 * 1024
        case "g", "gb", "gib": multiplier = 1024 * 1024 * 1024
        default: return nil
        }
        // `Int(_:)` traps past Int.max (`11111111111g`, found by scripts/fuzz): such a size is not one.
        let bytes = value * multiplier
        guard bytes < 0x1p63 else { return nil }
        return Int(bytes)
    }
}
