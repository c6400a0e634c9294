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

/// The vigil version written into reports.
public let vigilVersion = "0.1.0"

extension Supervisor {
    /// Scrubs secrets from everything a report shows: secret-looking environment values and
    /// `key=value` tokens, and the policy's `redact` patterns (validated when the policy loaded).
    var redactor: Redactor {
        if let cached = redactorCache { return cached }
        let made =
            (try? Redactor(environment: request.environment, extraPatterns: request.policy.redact))
            ?? Redactor.namesOnly
        redactorCache = made
        return made
    }

    var filePermissions: mode_t { request.policy.output.privateFiles ? 0o600 : 0o644 }

    /// Writes `attempt-NNN.report.json` and `.md`; returns the JSON's path (nil if it could not be written).
    func writeAttemptReport(_ attempt: Journal.Attempt, tail: OutputTail) -> String? {
        let report = AttemptReport.make(
            journal: journal, attempt: attempt, tail: tail, tailLines: 60, host: ProcessInfo.processInfo.hostName,
            version: vigilVersion, redactor: redactor)
        do {
            try report.write(to: directory.path, permissions: filePermissions)
        } catch {
            note("vigil: warning: cannot write the attempt report: \(error)")
            return nil
        }
        return directory.path + "/" + AttemptReport.fileNames(attempt: attempt.number).json
    }

    /// Writes `report.md`, the run's summary, and prints it; returns its path.
    func writeRunSummary() -> String? {
        let summary = RunSummary(journal: journal, redactor: redactor)
        let color = isatty(2) == 1 && request.environment["NO_COLOR"] == nil
        printFormatted(summary.terminalText(color: color))
        do {
            try summary.write(to: directory.path, permissions: filePermissions)
        } catch {
            note("vigil: warning: cannot write the run report: \(error)")
            return nil
        }
        return directory.path + "/report.md"
    }
}
