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

/// Builds the outcome `vigil policy explain` classifies from a saved log, the same way `vigil run`
/// builds it from a live attempt (same tail size, error file first; with the policy, the live rules
/// and the divergence watch over every line, in order).
public enum PolicyExplainer {
    public static func outcome(
        logFile: String, status: Termination, tailBytes: Int, errorFile: String? = nil,
        signalSentByVigil: Bool = false, resumeArguments: [String] = [], policy: Policy? = nil
    ) throws -> AttemptOutcome {
        guard let data = FileManager.default.contents(atPath: logFile) else {
            throw VigilError(.notFound, file: logFile, "log file not found")
        }
        var ring = ByteRing(capacity: tailBytes)
        data.withUnsafeBytes { ring.append($0) }
        var error: TrainerErrorFile?
        if let errorFile {
            guard FileManager.default.fileExists(atPath: errorFile) else {
                throw VigilError(.notFound, file: errorFile, "error file not found")
            }
            error = TrainerErrorFile.read(at: errorFile)
        }
        // A log interleaves both streams; it is read as stderr, where tracebacks are looked for first.
        var outcome = AttemptOutcome(
            status: status, signalSentByVigil: signalSentByVigil, tail: OutputTail(stdout: [], stderr: ring.lines),
            errorFile: error, resumeArguments: resumeArguments)
        if let policy { try replay(data, policy: policy, into: &outcome) }
        return outcome
    }

    /// Reads the log line by line as `vigil run` reads output: through the policy's metrics and the
    /// divergence watch, and its live rules; the first live match (or divergence) goes into `outcome`.
    static func replay(_ data: Data, policy: Policy, into outcome: inout AttemptOutcome) throws {
        let liveRules = policy.rules.filter(\.live)
        let divergedRule = liveRules.first { $0.diverged == true }?.name
        let scanner = OutputScanner(patterns: liveRules.flatMap { $0.output ?? [] })
        let found = Locked<(Divergence, String)?>(nil)
        let recorder = try MetricsRecorder(
            path: nil, progress: policy.output.progress, metrics: policy.output.metrics, attempt: 1,
            divergence: DivergenceWatch(policy.divergence)
        ) { divergence, line in found.withLock { $0 = $0 ?? (divergence, line) } }
        let lines = data.split(omittingEmptySubsequences: false, whereSeparator: OutputScanner.isLineEnd)
        for line in lines {
            line.withUnsafeBytes { recorder?.record($0) }
            if let (divergence, text) = found.current {
                outcome.divergence = divergence
                if let divergedRule {
                    outcome.liveMatch = LiveMatch(
                        rule: divergedRule, line: text, poisonedAfter: Date(), divergence: divergence)
                    return
                }
            }
            if let match = line.withUnsafeBytes({ scanner.firstMatch(in: $0) }) {
                let rule = liveRules.first { $0.output?.contains { $0.source == match.pattern } == true }
                outcome.liveMatch = LiveMatch(rule: rule?.name ?? "live", line: match.line, poisonedAfter: Date())
                return
            }
        }
    }
}
