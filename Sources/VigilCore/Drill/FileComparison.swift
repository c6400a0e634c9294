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

/// Two numbers are equal within `tolerance` when they differ by at most `tolerance × max(1, |a|, |b|)`:
/// relative for large values, absolute below 1. NaN equals NaN (a run that printed NaN where the
/// reference did has not diverged from it).
public enum Tolerance {
    public static func equal(_ a: Double, _ b: Double, within tolerance: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        if a == b { return true }
        guard a.isFinite && b.isFinite else { return false }
        return abs(a - b) <= tolerance * max(1, abs(a), abs(b))
    }
}

/// A file the supervised run wrote (`--compare`), against the reference run's: byte for byte, and
/// for `.json` and `.npy` number by number within the tolerance when the bytes differ.
public struct FileComparison: Codable, Sendable, Equatable {
    public enum Result: String, Codable, Sendable {
        /// The same bytes.
        case identical
        /// Different bytes, but the same structure and every number within the tolerance.
        case withinTolerance = "within-tolerance"
        case differs
        /// Not written by one of the runs.
        case missing
    }

    /// The path as given, relative to the working directory.
    public var file: String
    public var result: Result
    /// What differs, in words: `weights[2]: 0.7217 vs 0.7219`, `byte 29 of 120`.
    public var detail: String?
    /// The largest difference between numbers, for JSON and NPY.
    public var largestDifference: Double?

    public var matches: Bool { result == .identical || result == .withinTolerance }

    public init(file: String, result: Result, detail: String? = nil, largestDifference: Double? = nil) {
        self.file = file
        self.result = result
        self.detail = detail
        self.largestDifference = largestDifference
    }

    /// Compares `path` (the supervised run's) with `reference`; `name` is how the report calls it.
    public static func compare(_ path: String, reference: String, name: String, tolerance: Double) -> FileComparison {
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: reference) else {
            return FileComparison(file: name, result: .missing, detail: "the reference run did not write it")
        }
        guard fileManager.fileExists(atPath: path) else {
            return FileComparison(file: name, result: .missing, detail: "the interrupted run did not write it")
        }
        guard let mine = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped),
            let theirs = try? Data(contentsOf: URL(fileURLWithPath: reference), options: .alwaysMapped)
        else {
            return FileComparison(file: name, result: .missing, detail: "cannot be read")
        }
        if mine == theirs { return FileComparison(file: name, result: .identical) }
        let lower = name.lowercased()
        if lower.hasSuffix(".json") {
            if let result = compareJSON(mine, theirs, name: name, tolerance: tolerance) { return result }
        } else if lower.hasSuffix(".npy") {
            if let result = compareNPY(mine, theirs, name: name, tolerance: tolerance) { return result }
        }
        let common = min(mine.count, theirs.count)
        let first = zip(mine, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? common
        var detail = "first differing byte at offset \(first)"
        if mine.count != theirs.count { detail += "; \(mine.count) bytes vs the reference's \(theirs.count)" }
        return FileComparison(file: name, result: .differs, detail: detail)
    }

    // MARK: - JSON

    /// Nil when either side is not JSON (then the bytes decide).
    static func compareJSON(_ mine: Data, _ theirs: Data, name: String, tolerance: Double) -> FileComparison? {
        guard let a = JSONValue.parse(mine), let b = JSONValue.parse(theirs) else { return nil }
        var walk = JSONWalk(tolerance: tolerance)
        walk.compare(a, b, path: "")
        if let difference = walk.firstDifference {
            return FileComparison(
                file: name, result: .differs, detail: difference,
                largestDifference: walk.largest.isFinite ? walk.largest : nil)
        }
        return FileComparison(
            file: name, result: .withinTolerance, detail: "every number within \(tolerance)",
            largestDifference: walk.largest)
    }

    private struct JSONWalk {
        let tolerance: Double
        var firstDifference: String?
        var largest = 0.0

        mutating func compare(_ a: JSONValue, _ b: JSONValue, path: String) {
            guard firstDifference == nil else { return }
            let shown = path.isEmpty ? "the top level" : path
            switch (a, b) {
            case (.object(let x), .object(let y)):
                let keys = Set(x.keys).symmetricDifference(y.keys)
                if let key = keys.sorted().first {
                    firstDifference =
                        "\(shown): key '\(key)' is only in \(x[key] == nil ? "the reference" : "this run")"
                    return
                }
                for key in x.keys.sorted() { compare(x[key]!, y[key]!, path: path.isEmpty ? key : path + "." + key) }
            case (.array(let x), .array(let y)):
                guard x.count == y.count else {
                    firstDifference = "\(shown): \(x.count) elements vs the reference's \(y.count)"
                    return
                }
                for (index, (u, v)) in zip(x, y).enumerated() { compare(u, v, path: "\(path)[\(index)]") }
            default:
                if let u = FileComparison.number(a), let v = FileComparison.number(b) {
                    if u.isFinite && v.isFinite { largest = max(largest, abs(u - v)) }
                    if !Tolerance.equal(u, v, within: tolerance) {
                        firstDifference = "\(shown): \(u) vs the reference's \(v)"
                    }
                } else if a != b {
                    firstDifference = "\(shown): \(FileComparison.text(a)) vs the reference's \(FileComparison.text(b))"
                }
            }
        }
    }

    /// A JSON number as a `Double` (`1` and `1.0` are the same number); nil for anything else.
    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let n): return Double(n)
        case .double(let d): return d
        default: return nil
        }
    }

    /// A scalar as the JSON shows it.
    static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .string(let s): return s
        default: return value.jsonText() ?? "?"
        }
    }

    // MARK: - NPY

    /// Nil when either side is not an NPY array of a numeric dtype (then the bytes decide).
    static func compareNPY(_ mine: Data, _ theirs: Data, name: String, tolerance: Double) -> FileComparison? {
        guard let a = NPYArray(mine), let b = NPYArray(theirs) else { return nil }
        guard a.shape == b.shape, a.fortranOrder == b.fortranOrder else {
            return FileComparison(
                file: name, result: .differs,
                detail: "shape \(a.shape)\(a.fortranOrder ? " (Fortran order)" : "") vs the reference's \(b.shape)"
                    + (b.fortranOrder ? " (Fortran order)" : ""))
        }
        var largest = 0.0
        for index in 0..<a.count {
            let (u, v) = (a.element(index, in: mine), b.element(index, in: theirs))
            if u.isFinite && v.isFinite { largest = max(largest, abs(u - v)) }
            if !Tolerance.equal(u, v, within: tolerance) {
                return FileComparison(
                    file: name, result: .differs,
                    detail: "element \(index) of \(a.count) (\(a.descr)): \(u) vs the reference's \(v) (\(b.descr))",
                    largestDifference: largest)
            }
        }
        return FileComparison(
            file: name, result: .withinTolerance,
            detail: a.descr == b.descr
                ? "every element within \(tolerance)"
                : "dtype \(a.descr) vs \(b.descr), every element within \(tolerance)",
            largestDifference: largest)
    }
}
