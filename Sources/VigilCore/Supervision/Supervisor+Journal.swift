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

/// Keeping the journal true: every change written at once, never ending the run over a write.
extension Supervisor {
    /// Writes the journal. A write that fails (a full disk) never ends the run: it is said once, and
    /// retried at the next change, which writes the whole state again.
    func save() {
        do {
            try saveOrThrow()
            if let error = unsavedJournalError {
                unsavedJournalError = nil
                note("vigil: the journal is written again (after: \(error))")
            }
        } catch {
            guard unsavedJournalError == nil else { return }
            unsavedJournalError = "\(error)"
            note("vigil: warning: cannot write the journal: \(error); retrying at the next change")
            if let last = journal.invocations.indices.last, journal.invocations[last].journalError == nil {
                journal.invocations[last].journalError = "\(Journal.timestamp(clock.wallNow())): \(error)"
            }
        }
    }

    /// Writes the journal or throws (the first write of an invocation: no record, no run).
    func saveOrThrow() throws {
        journal.updatedAt = clock.wallNow()
        try journal.write(to: directory.journalPath, permissions: filePermissions)
    }

    /// The last write of an invocation: retried once a second for up to 30 s (space may come back).
    func saveFinal() {
        save()
        var tries = 0
        while unsavedJournalError != nil, tries < 30 {
            _ = events.next(until: clock.now() + 1)
            tries += 1
            save()
        }
        if let error = unsavedJournalError {
            note("vigil: error: the journal's final state could not be written: \(error)")
        }
    }

    /// A change the attempt machine made to attempt `index`'s record, written before the driver acts on it.
    /// Its text is redacted on the way in (a live rule's reason quotes the trainer's output).
    func recordStop(_ record: AttemptRecord, attempt index: Int) {
        let now = clock.wallNow()
        switch record {
        case .stop(let cause, let reason):
            journal.attempts[index].stopCause = cause.name
            journal.attempts[index].stopReason = redactor.redact(reason)
        case .stopReason(let reason):
            journal.attempts[index].stopReason = redactor.redact(reason)
        case .event(let text):
            journal.attempts[index].stopEvents =
                (journal.attempts[index].stopEvents ?? []) + [
                    Journal.StopEvent(at: now, event: redactor.redact(text))
                ]
        case .signal(let signal, let reason):
            journal.attempts[index].signalsSent.append(
                Journal.SentSignal(signal: signal.name, at: now, reason: redactor.redact(reason)))
        }
        save()
    }

    /// The log volume ran short of `output.keepFree` (or has room again): said once each way, journaled.
    func logSpaceChanged(attempt index: Int, suspended: Bool, free: Int) {
        let keep = request.policy.output.keepFree
        let text =
            suspended
            ? "log writing paused: \(free) bytes free on the log volume, less than output.keepFree (\(keep) bytes); the trainer keeps running"
            : "log writing resumed: \(free) bytes free on the log volume"
        note("vigil: \(text)")
        guard journal.attempts.indices.contains(index) else { return }
        journal.attempts[index].logEvents =
            (journal.attempts[index].logEvents ?? []) + [Journal.StopEvent(at: clock.wallNow(), event: text)]
        save()
    }
}
