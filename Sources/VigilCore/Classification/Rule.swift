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

/// What a failure means for the run.
public enum VerdictClass: String, Sendable, Codable, CaseIterable {
    /// The trainer finished.
    case success
    /// Retry, using the retry budget.
    case recoverable
    /// Retrying cannot help: stop at once (exit 1).
    case unrecoverable
    /// Retry without using the budget (preemption, a stop Vigil asked for).
    case ignore
}

/// A regular expression from a policy, in ICU's syntax (as Python's `re` and `NSRegularExpression` read
/// it, for what policies use: see `RegexProgram`), with its source text.
public struct Pattern: Sendable, Equatable, CustomStringConvertible {
    public let source: String
    let program: RegexProgram
    /// A literal every match contains, to rule lines out cheaply; nil when none is certain.
    public let prefilter: LiteralPrefilter?

    public init(_ source: String) throws {
        self.source = source
        self.program = try RegexProgram(source)
        self.prefilter = LiteralPrefilter(pattern: source)
    }

    public func firstMatch(in line: String) -> String? {
        if let prefilter, !prefilter.occurs(in: line) { return nil }
        guard let found = program.firstMatch(in: line)?[0] else { return nil }
        return String(line[found])
    }

    /// Whether the regex matches somewhere in `line` (UTF-8 bytes, without its line break); the
    /// prefilter is the caller's.
    public func matches(_ line: UnsafeRawBufferPointer) -> Bool {
        program.matches(in: line.bindMemory(to: UInt8.self))
    }

    /// `matches(_:)` with the caller's machine, kept from line to line.
    func matches(_ line: UnsafeRawBufferPointer, reusing machine: inout RegexProgram.Machine?) -> Bool {
        program.matches(in: line.bindMemory(to: UInt8.self), reusing: &machine)
    }

    public static func == (a: Pattern, b: Pattern) -> Bool { a.source == b.source }
    public var description: String { source }
}

/// Which exit codes a rule matches: values and ranges, included or excluded.
public struct ExitCodeSet: Sendable, Equatable, CustomStringConvertible {
    public var ranges: [ClosedRange<Int>]
    /// When true the rule matches codes *not* in `ranges` (Kubernetes' `NotIn`).
    public var negated: Bool

    public init(_ ranges: [ClosedRange<Int>], negated: Bool = false) {
        self.ranges = ranges
        self.negated = negated
    }

    public func contains(_ code: Int) -> Bool {
        ranges.contains { $0.contains(code) } != negated
    }

    public var description: String {
        let list = ranges.map {
            $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)"
        }
        return (negated ? "not in " : "") + list.joined(separator: ", ")
    }
}

/// One classification rule. Every matcher it names must match (AND); within a matcher, any listed
/// value matches (OR). A rule with no matcher matches every failure (a fallback).
public struct Rule: Sendable, Equatable {
    public var name: String
    public var verdict: VerdictClass
    /// Why this class, in words (shown in the verdict's reason).
    public var reason: String?
    public var exitCodes: ExitCodeSet?
    public var signals: [Signal]?
    /// Python exception type names: a full name (`torch.cuda.OutOfMemoryError`) or its last component.
    public var exception: [String]?
    /// Regular expressions over the output tail (any line).
    public var output: [Pattern]?
    public var oomKilled: Bool?
    /// With `signals`: whether vigil itself sent the signal that ended the trainer (`false`: someone
    /// else did — a person's `kill -9`, a scheduler, a node agent).
    public var sentByVigil: Bool?
    public var timedOut: Bool?
    public var stalled: Bool?
    /// A watched metric diverged during the attempt (NaN, infinite, or a spike: `divergence`).
    public var diverged: Bool?
    /// Matchers over the JSON error file the trainer wrote to `VIGIL_ERROR_FILE`.
    public var errorFile: ErrorFileMatcher?
    /// Checked on every output line while the trainer runs: a match stops it at once (no
    /// checkpoint: the state is poisoned). Needs `output` or `diverged`, and no other matcher.
    public var live = false
    /// Changes to make before the retry (config keys, `env:`, `arg:`, roles), applied together.
    public var repairs: [Repair] = []
    /// The failure means the model's state went bad before it: checkpoints from the divergence's onset
    /// on are quarantined as poisoned, and the next attempt resumes from the newest before it, never
    /// twice from the same one. Unset: true for live rules and `diverged` rules.
    public var rollbackSetting: Bool?
    /// The failure, in an attempt that resumed and wrote no checkpoint, blames the checkpoint it
    /// resumed from (it would not load): that one is quarantined, the next attempt uses the one before.
    public var suspectCheckpoint = false

    /// Whether a match rolls back (`rollback`, or its default).
    public var rollback: Bool { rollbackSetting ?? rollsBackByDefault }
    public var rollsBackByDefault: Bool { live || diverged == true }

    public init(name: String, verdict: VerdictClass, reason: String? = nil) {
        self.name = name
        self.verdict = verdict
        self.reason = reason
    }

    /// Fields of the trainer's error file a rule can match.
    public struct ErrorFileMatcher: Sendable, Equatable {
        /// Exception type names, matched like `exception`.
        public var type: [String]?
        /// A regular expression over the message.
        public var message: Pattern?
        public init(type: [String]? = nil, message: Pattern? = nil) {
            self.type = type
            self.message = message
        }
    }
}
