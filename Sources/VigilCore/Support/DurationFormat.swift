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

/// Durations as people write them in policies and flags: `90s`, `15m`, `6h`, `1h30m`, `250ms`, `0`.
public enum DurationFormat {
    /// The units, longest first, with their length in seconds. A duration names each at most once, in this order.
    static let units: [(name: String, seconds: Double)] = [
        ("d", 86_400), ("h", 3600), ("m", 60), ("s", 1), ("ms", 0.001),
    ]

    /// Parses `text` into seconds, or returns nil when it is not a duration.
    ///
    /// A duration is `0`, or one or more *number unit* pairs without spaces (surrounding whitespace and the case
    /// of the units do not matter): the number is ASCII digits with an optional fraction (`1.5`, `.5`), the units
    /// `d`, `h`, `m`, `s`, `ms` come longest first and at most once each (`1h30m`, not `30m1h` or `5s5s`). The
    /// result is finite and not negative; a value too large to be a finite `Double` is not a duration. Whether
    /// it is a sensible length is the caller's range check.
    public static func seconds(from text: String) -> Double? {
        let scalars = Array(text.trimmingSpaces().lowercased().unicodeScalars)
        if scalars == ["0"] { return 0 }
        var total = 0.0
        var index = 0
        var nextUnit = 0  // units before this one are used up
        while index < scalars.count {
            guard let (value, afterNumber) = number(in: scalars, at: index),
                let (unit, afterUnit) = unit(in: scalars, at: afterNumber), unit >= nextUnit
            else { return nil }
            total += value * units[unit].seconds
            nextUnit = unit + 1
            index = afterUnit
        }
        guard index > 0, total.isFinite, total >= 0 else { return nil }
        return total
    }

    /// The number starting at `index` (`12`, `1.5`, `.5`) and the index after it, or nil when there is none.
    private static func number(in scalars: [Unicode.Scalar], at index: Int) -> (Double, Int)? {
        var end = index
        var digits = 0
        var sawPoint = false
        while end < scalars.count {
            let c = scalars[end]
            if ("0"..."9").contains(c) {
                digits += 1
            } else if c == ".", !sawPoint {
                sawPoint = true
            } else {
                break
            }
            end += 1
        }
        // A point needs a digit after it: `5.s` is a typo, not five seconds.
        guard digits > 0, scalars[end - 1] != "." else { return nil }
        let text = String(String.UnicodeScalarView(scalars[index..<end]))
        guard let value = Double(text), value.isFinite else { return nil }
        return (value, end)
    }

    /// The unit starting at `index` (its position in `units`) and the index after it.
    private static func unit(in scalars: [Unicode.Scalar], at index: Int) -> (Int, Int)? {
        guard index < scalars.count else { return nil }
        if scalars[index] == "m", index + 1 < scalars.count, scalars[index + 1] == "s" {
            return (units.count - 1, index + 2)
        }
        guard let position = units.firstIndex(where: { $0.name == String(scalars[index]) }) else { return nil }
        return (position, index + 1)
    }

    /// Formats seconds the way they are written: `1h30m`, `90s` → `1m30s`, `0.25s` → `250ms`.
    /// Not a number and nothing below a millisecond's half is `0s`; more than 10^15 seconds is written as that.
    public static func string(from seconds: Double) -> String {
        guard seconds >= 0.0005 else { return "0s" }
        let seconds = min(seconds, 1e15)
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds < 59.95, seconds != seconds.rounded() {
            return String(cFormat: "%.1fs", seconds)
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
    /// The units (all binary) and their multipliers.
    static let units: [String: Double] = [
        "": 1, "b": 1, "k": 0x1p10, "kb": 0x1p10, "kib": 0x1p10, "m": 0x1p20, "mb": 0x1p20, "mib": 0x1p20,
        "g": 0x1p30, "gb": 0x1p30, "gib": 0x1p30,
    ]

    /// Parses `text` into bytes (rounded down to a whole byte), or nil when it is not a size or is too large
    /// for an `Int`.
    public static func bytes(from text: String) -> Int? {
        guard let value = value(from: text), value < 0x1p63 else { return nil }
        return Int(value)
    }

    /// The size `text` stands for, in bytes, not rounded: ASCII digits with an optional fraction, then an
    /// optional unit (`b`; `k`, `kb`, `kib`; `m`, `mb`, `mib`; `g`, `gb`, `gib`; any case, spaces allowed
    /// between). Finite and not negative, or nil.
    public static func value(from text: String) -> Double? {
        let text = text.trimmingSpaces().lowercased()
        let digits = text.prefix { ("0"..."9").contains($0) || $0 == "." }
        guard digits.contains(where: { $0 != "." }), digits.last != ".", let value = Double(digits) else { return nil }
        let unit = text.dropFirst(digits.count).trimmingSpaces()
        guard let multiplier = units[unit] else { return nil }
        let bytes = value * multiplier
        return bytes.isFinite ? bytes : nil
    }

    /// A size the way `bytes(from:)` reads it back: `64MiB`, `1KiB`, `1024GiB`, `1500` (bytes).
    public static func string(from bytes: Int) -> String {
        for (unit, size) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes != 0 && bytes % size == 0
        {
            return "\(bytes / size)\(unit)"
        }
        return String(bytes)
    }
}
