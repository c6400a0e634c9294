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

/// Kubernetes' termination message: one line about how `vigil run` ended, written once at exit to the
/// container's `terminationMessagePath` (`/dev/termination-log`), where `kubectl describe pod` and the
/// pod's status (`state.terminated.message`) show it, and where a controller can read it.
public enum TerminationLog {
    /// Kubernetes' default `terminationMessagePath`.
    public static let kubernetesPath = "/dev/termination-log"
    /// Kubernetes keeps at most this much of a container's message.
    public static let maxBytes = 4096

    /// Where the line goes: `--termination-log FILE` when given; else, inside a Kubernetes pod
    /// (`KUBERNETES_SERVICE_HOST` set), `defaultPath` when it exists and vigil may write it; else nowhere.
    public static func path(
        flag: String?, environment: [String: String], defaultPath: String = kubernetesPath
    )
        -> String?
    {
        if let flag, !flag.isEmpty { return flag }
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else { return nil }
        var info = stat()
        guard stat(defaultPath, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR, access(defaultPath, W_OK) == 0
        else { return nil }
        return defaultPath
    }

    /// What an exit code means, in the words of the exit-code contract (README).
    public static func meaning(of code: Int32) -> String {
        switch ExitCode(rawValue: code) {
        case .success?: return "succeeded"
        case .unrecoverable?: return "failed, unrecoverable: do not retry"
        case .retriesExhausted?: return "gave up, retries exhausted: do not retry"
        case .usage?: return "usage error: fix the command line"
        case .noInput?: return "not found: fix the path"
        case .runBusy?: return "another vigil supervises this run"
        case .resumable?: return "stopped, resumable: run it again"
        case .invalidConfiguration?: return "invalid policy or config: fix the file"
        case nil: return "exit \(code)"
        }
    }

    /// The line for a run that ended with `code`, from its journal (nil when vigil stopped before it
    /// had one): `exit 75 (stopped, resumable: run it again) | verdict: ignore | rule: stopped-by-vigil |
    /// reason: …`, with the SLURM requeue when there was one. `error` is vigil's own (`--policy` not
    /// found, an invalid config), which is then the reason. Redacted, one line, at most `maxBytes`.
    public static func line(exitCode code: Int32, journal: Journal?, error: String?, redactor: Redactor) -> String {
        var fields = ["exit \(code) (\(meaning(of: code)))"]
        if let verdict = journal?.attempts.last?.verdict, error == nil {
            fields.append("verdict: \(verdict.verdict.rawValue)")
            fields.append("rule: \(verdict.rule)")
        }
        if let reason = error ?? journal?.outcome?.reason ?? journal?.attempts.last?.verdict?.reason {
            fields.append("reason: \(reason)")
        }
        if let requeue = journal?.invocations.last?.requeue {
            fields.append("slurm: \(requeue.requeued ? "requeued job \(requeue.job)" : requeue.result)")
        }
        let text = redactor.redact(fields.joined(separator: " | "))
        // One line, printable: a reason may carry a trainer's newline or escape sequence.
        let flat = String(
            text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
        return truncated(flat, to: maxBytes - 1)
    }

    /// `text` cut to at most `limit` UTF-8 bytes at a character boundary, ending with `…` when cut.
    static func truncated(_ text: String, to limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var result = ""
        var used = 0
        let ellipsis = "…"
        for character in text {
            let size = String(character).utf8.count
            if used + size + ellipsis.utf8.count > limit { break }
            result.append(character)
            used += size
        }
        return result + ellipsis
    }

    /// Writes `line` and a newline over whatever `path` held (truncated first; a file Kubernetes
    /// mounted cannot be replaced by a rename). A missing regular file is created (0644).
    public static func write(_ line: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            throw VigilError(.io, file: path, "cannot open the termination log: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { systemWrite(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw VigilError(
                    .io, file: path, "cannot write the termination log: \(String(cString: strerror(errno)))")
            }
            written += n
        }
    }
}
