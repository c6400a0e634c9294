import Foundation

/// Builds the outcome `vigil policy explain` classifies from a saved log, the same way `vigil run`
/// builds it from a live attempt (same tail size, error file first).
public enum PolicyExplainer {
    public static func outcome(
        logFile: String, status: Termination, tailBytes: Int, errorFile: String? = nil,
        signalSentByVigil: Bool = false, resumeArguments: [String] = []
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
        return AttemptOutcome(
            status: status, signalSentByVigil: signalSentByVigil, tail: OutputTail(stdout: [], stderr: ring.lines),
            errorFile: error, resumeArguments: resumeArguments)
    }
}
