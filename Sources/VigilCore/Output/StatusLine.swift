import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One live line at the bottom of a terminal (stderr): attempt k/n, progress with percent and ETA,
/// elapsed vs the deadline, the last checkpoint and its age, the last failure. It exists only when
/// stderr is a terminal; the trainer's output passing through clears it first, and the supervisor
/// redraws it once a second. `NO_COLOR` turns colour off.
public final class StatusLine: @unchecked Sendable {
    // @unchecked: `visible` and every write to the terminal are guarded by `lock`.
    private let lock = NSLock()
    private var visible = false
    private let color: Bool

    /// Nil when stderr is not a terminal.
    public init?(environment: [String: String]) {
        guard isatty(2) == 1 else { return nil }
        color = environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
    }

    /// Removes the line before other output goes to the terminal.
    public func clear() {
        lock.lock()
        defer { lock.unlock() }
        eraseLocked()
    }

    /// Runs `write` (the trainer's output going to the terminal) with the line removed and no
    /// redraw able to slip in between.
    public func writing<R>(_ write: () -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        eraseLocked()
        return write()
    }

    private func eraseLocked() {
        if visible {
            let erase = "\r\u{1B}[K"
            _ = erase.withCString { systemWrite(2, $0, strlen($0)) }
            visible = false
        }
    }

    /// Draws `text` (cut to the terminal's width) in place of the previous line.
    public func draw(_ text: String) {
        var size = winsize()
        let width = ioctl(2, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 10 ? Int(size.ws_col) - 1 : 119
        var line = String(TerminalText.line(text).prefix(width))
        if color { line = "\u{1B}[2m" + line + "\u{1B}[0m" }
        lock.lock()
        defer { lock.unlock() }
        let output = "\r\u{1B}[K" + line
        _ = output.withCString { systemWrite(2, $0, strlen($0)) }
        visible = true
    }

    /// The line's text from plain facts (a pure function, tested without a terminal).
    public static func render(
        attempt: Int, maxAttempts: Int, step: Int?, total: Int?, firstStep: Int? = nil, attemptStarted: Date,
        invocationStarted: Date,
        deadline: Date?, lastCheckpoint: (name: String, modified: Date)?, lastFailure: String?, now: Date,
        lead: Double? = nil
    ) -> String {
        var parts = ["vigil: attempt \(attempt)/\(maxAttempts)"]
        if let step {
            if let total, total > 0 {
                let fraction = min(1, Double(step) / Double(total))
                let filled = Int((fraction * 20).rounded())
                var progress = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled)
                progress += "] \(step)/\(total) \(Int((fraction * 100).rounded()))%"
                // The pace of this attempt: steps done since it started (it may have resumed halfway).
                let elapsed = now.timeIntervalSince(attemptStarted)
                let done = step - (firstStep ?? 0)
                if done > 0 && step < total {
                    progress += " ETA \(DurationFormat.string(from: elapsed / Double(done) * Double(total - step)))"
                }
                parts.append(progress)
            } else {
                parts.append("step \(step)")
            }
        }
        var clock = DurationFormat.string(from: now.timeIntervalSince(invocationStarted))
        if let deadline { clock += " / " + DurationFormat.string(from: deadline.timeIntervalSince(invocationStarted)) }
        if deadline != nil, let lead { clock += " (checkpoint \(DurationFormat.string(from: lead)) before)" }
        parts.append(clock)
        if let lastCheckpoint {
            parts.append(
                "ckpt \(lastCheckpoint.name) \(DurationFormat.string(from: now.timeIntervalSince(lastCheckpoint.modified))) ago"
            )
        }
        if let lastFailure { parts.append("last failure: \(lastFailure)") }
        return parts.joined(separator: " · ")
    }
}
