import Foundation
import VigilCore

/// Decimal text with `digits` places (the bench's own, to stay off `String(format:)`).
func fixed(_ value: Double, _ digits: Int) -> String {
    let scale = (0..<digits).reduce(1.0) { value, _ in value * 10 }
    let scaled = (value * scale).rounded()
    let whole = Int(scaled / scale)
    guard digits > 0 else { return String(whole) }
    let fraction = String(Int(abs(scaled).truncatingRemainder(dividingBy: scale)))
    let sign = scaled < 0 && whole == 0 ? "-" : ""
    return sign + String(whole) + "." + String(repeating: "0", count: digits - fraction.count) + fraction
}

/// `SYM0042`: a symbol of the benchmark's universe.
func symbol(_ index: Int) -> String {
    let digits = String(index)
    return "SYM" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

/// A queue of `total` jobs in `directory`/logs/queue.json, the first `pending` of them pending and
/// running `command` (nil: the trainer's), the others done an hour ago with a success.
@discardableResult
func writeBenchQueue(directory: String, total: Int, pending: Int, command: [String]? = nil) throws -> QueueFile {
    let store = QueueStore(path: directory + "/logs/queue.json")
    let now = Date()
    var queue = QueueFile()
    for index in 0..<total {
        let name = "train-\(symbol(index))-lightgbm"
        var job = QueueJob(
            name: name, sequence: index + 1,
            command: command ?? ["python3", "train.py", "--symbol", symbol(index), "--model", "lightgbm"],
            workingDirectory: directory, addedAt: now)
        job.matrix = [.init(key: "symbol", value: symbol(index)), .init(key: "model", value: "lightgbm")]
        job.policy = command == nil ? "lightgbm" : nil
        job.runArguments = ["--checkpoint-dir=checkpoints/\(name)"]
        job.retrainAfter = 30 * 86_400
        if index >= pending {
            job.state = .done
            job.attempts = 2
            job.runs = 1
            job.lastVerdict = .init(verdict: "success", rule: "exit-0", reason: "the trainer exited with code 0")
            job.reason = "the trainer finished successfully (attempt 2)"
            job.lastExitCode = 0
            job.lastSucceededAt = now
            job.lastStartedAt = now.addingTimeInterval(-3600)
            job.lastEndedAt = now
            job.timeUsedSeconds = 3600
        }
        queue.jobs.append(job)
    }
    queue.nextSequence = total + 1
    try store.write(queue)
    return queue
}

/// The queue runner's own work per job, with 1,000 jobs in the file: when a job's vigil has exited,
/// read its journal, take the queue's lock, read the queue, record the end, plan, claim the next job,
/// start its vigil, write the queue. The "vigil" started here is `/bin/true`, so what is measured is
/// the runner alone (a real `vigil run` adds its own start and end; scripts/bench measures that too).
/// 60 jobs are pending, the other 940 done; the time between two consecutive starts is the cycle.
func queueOverheadBench(directory: String) throws {
    let total = 1000
    let pending = 60
    let logs = directory + "/logs"
    let store = QueueStore(path: logs + "/queue.json")
    let now = Date()
    let queue = try writeBenchQueue(directory: directory, total: total, pending: pending)
    for job in queue.jobs.prefix(pending) { try writeJournal(for: job, in: logs, now: now) }

    let request = QueueRunRequest(
        store: store, logDirectory: logs, vigilExecutable: "/bin/true",
        environment: ProcessInfo.processInfo.environment,
        workingDirectory: directory, policyLoader: { _, _ in nil })
    let runner = QueueRunner(request: request, note: { _ in }, relay: { _, _ in })
    let started = Date()
    let (code, _) = try runner.run()
    let elapsed = Date().timeIntervalSince(started)
    let after = try store.load()
    let starts = after.jobs.prefix(pending).compactMap(\.lastStartedAt).sorted()
    let gaps = zip(starts, starts.dropFirst()).map { ($1.timeIntervalSince($0)) * 1000 }.sorted()
    guard code == .success, gaps.count == pending - 1 else {
        print(pad("queue overhead per job") + "failed: exit \(code.rawValue), \(gaps.count + 1) jobs started")
        return
    }
    let median = gaps[gaps.count / 2]
    let p90 = gaps[Int(Double(gaps.count) * 0.9)]
    print(
        pad("queue overhead per job (1,000 in the file)")
            + "\(fixed(median, 1)) ms median (target ≤ 50 ms; p90 \(fixed(p90, 1)) ms, \(pending) jobs in "
            + "\(fixed(elapsed, 2)) s; pick, journal, start)")
}

/// A succeeded run's journal, as `vigil run` leaves it: two attempts, the second a success.
private func writeJournal(for job: QueueJob, in logs: String, now: Date) throws {
    let directory = RunDirectory(logDirectory: logs, name: job.name)
    try directory.create()
    var journal = Journal(
        run: job.name, runID: UUID().uuidString.lowercased(), command: job.command,
        workingDirectory: job.workingDirectory, policy: "lightgbm", now: now)
    for number in 1...2 {
        var attempt = Journal.Attempt(
            number: number, argv: job.command, startedAt: now, supervisorPID: 1, log: directory.attemptLogName(number))
        attempt.endedAt = now
        attempt.exit = .exited(number == 2 ? 0 : 1)
        attempt.verdict = Verdict(
            verdict: number == 2 ? .success : .recoverable, rule: number == 2 ? "exit-0" : "any-failure",
            reason: number == 2 ? "the trainer exited with code 0" : "the trainer failed; retrying")
        journal.attempts.append(attempt)
    }
    journal.state = .succeeded
    try journal.write(to: directory.journalPath)
}

/// CPU seconds of this process per run of `body` (steadier than the wall clock on a busy machine).
func cpuTime(_ iterations: Int, _ body: () -> Void) -> Double {
    func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
    let start = now()
    for _ in 0..<iterations { body() }
    return (now() - start) / Double(iterations)
}

/// Where a cycle's time goes: each part alone, on the same 1,000-job queue (CPU time).
func queuePartsBench(directory: String) throws {
    let store = QueueStore(path: directory + "/logs/queue.json")
    let data = FileManager.default.contents(atPath: store.path)!
    var queue = QueueFile()
    let decode = cpuTime(20) { queue = try! QueueFile.decode(data) }
    let encode = cpuTime(20) { _ = queue.encoded() }
    let write = cpuTime(20) { try! store.write(queue) }
    let modify = cpuTime(20) { try! store.modify { $0.jobs[0].runs += 1 } }
    let view = cpuTime(20) {
        let v = QueueView(queue: queue, now: Date(), liveness: QueueView.liveness(localHost: "x"))
        _ = QueuePlan(view: v, selection: QueueSelection())
    }
    let journalPath = directory + "/logs/" + queue.jobs[0].name + "/journal.json"
    let journal = cpuTime(20) { _ = try! Journal.read(from: journalPath) }
    for (name, seconds) in [
        ("decode", decode), ("encode", encode), ("write", write), ("modify", modify), ("view+plan", view),
        ("journal read", journal),
    ] {
        print(pad("  queue part: \(name)") + fixed(seconds * 1000, 2) + " ms")
    }
}
