import Foundation
import Testing
import VigilCLI

@testable import VigilCore

/// The queue's parts as plain values: the file format, the matrix, the edits, the view and the plan
/// (on an injected clock), the runner's reading of a job's end, the exit code.
@Suite("Queue: file, matrix, edits, view, plan")
struct QueueTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)

    static func job(
        _ name: String, _ state: QueueJob.State = .pending, after: [String] = [], sequence: Int = 0
    )
        -> QueueJob
    {
        var job = QueueJob(
            name: name, sequence: sequence, command: ["python3", "train.py"], workingDirectory: "/w", addedAt: t0)
        job.state = state
        job.after = after
        return job
    }

    static func queue(_ jobs: [QueueJob]) -> QueueFile {
        QueueFile(
            jobs: jobs.enumerated().map { index, job in
                var job = job
                if job.sequence == 0 { job.sequence = index + 1 }
                return job
            })
    }

    static func view(_ queue: QueueFile, now: Date = t0, claims: QueueView.ClaimStatus = .live) -> QueueView {
        QueueView(queue: queue, now: now, liveness: { _ in claims })
    }

    // MARK: - File

    @Test("a queue file survives writing and reading: escapes, unicode, claims, every field")
    func roundTrip() throws {
        var job = QueueTests.job("train-BTCEUR-lstm", .running, after: ["prep"])
        job.command = ["python3", "train.py", "--tag", "quote \" back\\slash\nnewline\ttab é 𝛼 \u{1}"]
        job.policy = "lightgbm"
        job.runArguments = ["--checkpoint-dir=ckpt/BTCEUR-lstm", "--max-retries=5"]
        job.matrix = [.init(key: "symbol", value: "BTCEUR"), .init(key: "model", value: "lstm")]
        job.priority = -3
        job.retrainAfter = 30 * 86_400
        job.fresh = true
        job.retraining = true
        job.attempts = 2
        job.runs = 3
        job.lastVerdict = .init(verdict: "recoverable", rule: "any-failure", reason: "the trainer failed")
        job.lastExitCode = 75
        job.reason = "stopped: the runtime deadline"
        job.lastSucceededAt = QueueTests.t0.addingTimeInterval(-5.25)
        job.lastStartedAt = QueueTests.t0.addingTimeInterval(1.5)
        job.lastEndedAt = QueueTests.t0.addingTimeInterval(2.125)
        job.timeUsedSeconds = 12.5
        var claim = QueueJob.Claim(
            runner: .init(pid: 4242, startTime: 987_654_321), host: "gpu-box",
            vigil: .init(pid: 4243, startTime: 987_654_400),
            slot: "1", at: QueueTests.t0)
        claim.retrain = true
        job.claim = claim
        let queue = QueueTests.queue([QueueTests.job("prep", .done), job])
        let data = queue.encoded()
        #expect(try QueueFile.decode(data) == queue)
        // One job per line, and valid JSON for any other reader.
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.split(separator: "\n").filter { $0.contains("\"name\"") }.count == 2)
        #expect((try? JSONSerialization.jsonObject(with: data)) != nil)
        #expect(try QueueFile.decode(QueueFile().encoded()) == QueueFile())
    }

    @Test(
        "a corrupt queue file is an error naming the line and column, never a silent reset",
        arguments: [
            (
                #"{"version": 1, "jobs": [ {"name": "a","#,
                "line 1, column 39: expected a string for a key in jobs[0] (the file ends here: cut short?)"
            ),
            (
                #"{"version": 1, "jobs": [ {"name": "a", "comand": ["x"]}]}"#,
                "unknown key 'comand' in jobs[0] (did you mean 'command'?)"
            ),
            (
                "{\"version\": 1,\n \"jobs\": [ {\"name\": \"a\", \"command\": [\"x\"], \"workingDirectory\": \"/\", \"state\": \"done-ish\"}]}",
                "line 2, column 78: jobs[0].state: 'done-ish' is not a state"
            ),
            (#"{"version": 7, "jobs": []}"#, "version 7 is not one this vigil reads"),
            (
                #"{"version": 1, "jobs": [{"name": "../x", "command": ["x"], "workingDirectory": "/"}]}"#,
                "invalid run name '../x'"
            ),
            (#"{"version": 1, "jobs": [{"command": ["x"], "workingDirectory": "/"}]}"#, "jobs[0] has no \"name\""),
            (
                #"{"version": 1, "jobs": [{"name": "a", "command": ["x"], "workingDirectory": "/", "attempts": "2"}]}"#,
                "line 1, column 94: expected a number for jobs[0].attempts"
            ),
            (
                #"{"version": 1, "jobs": [{"name": "a", "command": ["x"], "name": "b"}]}"#,
                "line 1, column 57: duplicate key 'name' in jobs[0]"
            ),
            (
                #"{"version": 1, "jobs": [{"name": "a", "command": ["x"], "workingDirectory": "/", "lastVerdict": {"rule": "r", "verdit": "x"}}]}"#,
                "unknown key 'verdit' in jobs[0].lastVerdict (did you mean 'verdict'?)"
            ),
            (
                #"{"version": 1, "jobs": [{"name": "a", "command": ["x"], "workingDirectory": "/", "claim": {"runnerPID": 1, "runnerPID": 2}}]}"#,
                "duplicate key 'runnerPID' in jobs[0].claim"
            ),
            (#"{"version": 1, "version": 1, "jobs": []}"#, "line 1, column 16: duplicate key 'version' in the queue"),
            (#"{"version": 1, "jobs": [], "nextSequence": 1.5}"#, "expected a whole number for nextSequence"),
            ("not json", "expected an object for the queue"),
            (#"{"jobs": []}"#, "not a queue file"),
        ])
    func corrupt(text: String, message: String) {
        let error = #expect(throws: QueueJSON.Problem.self) { try QueueFile.decode(Data(text.utf8)) }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "no error")")
    }

    @Test("keys are matched on their bytes in any order, escaped ones too; numbers in every JSON spelling")
    func keySpellings() throws {
        let text = #"""
            {"jobs": [{"workingDirectory": "/w", "name": "a", "command": ["x"], "attempts": 3, "runs": 2.0,
              "priority": -4, "timeUsedSeconds": 1.5e1, "lastExitCode": 0, "retrainAfter": 10, "sequence": 007}],
             "nextSequence": 9, "version": 1}
            """#
        let file = try QueueFile.decode(Data(text.utf8))
        let job = try #require(file.jobs.first)
        #expect(job.name == "a" && job.workingDirectory == "/w" && job.command == ["x"])
        #expect(job.attempts == 3 && job.runs == 2 && job.priority == -4 && job.sequence == 7)
        #expect(job.timeUsedSeconds == 15 && job.lastExitCode == 0 && job.retrainAfter == 10)
        #expect(file.nextSequence == 9)
    }

    @Test("the store refuses a corrupt file with exit 78, naming it and the way out, and leaves it as it was")
    func corruptStore() throws {
        let dir = try TestSupport.temporaryDirectory("vigil-queue-unit")
        defer { TestSupport.remove(dir) }
        let store = QueueStore(path: dir + "/queue.json")
        let garbage = Data(#"{"version": 1, "jobs": [ {"name": "#.utf8)
        try garbage.write(to: URL(fileURLWithPath: store.path))
        let error = #expect(throws: VigilError.self) { try store.modify { $0.jobs.append(QueueTests.job("x")) } }
        #expect(error?.exitCode == .invalidConfiguration)
        #expect(error?.file == store.path)
        #expect(error?.message.contains("vigil queue clear --fresh") == true)
        #expect(FileManager.default.contents(atPath: store.path) == garbage)
        let moved = try #require(try store.moveAside(now: QueueTests.t0))
        #expect(FileManager.default.contents(atPath: moved) == garbage)
        #expect(try store.read() == nil)
    }

    // MARK: - Matrix

    @Test("a 2 × 2 matrix: four jobs, the first key slowest, placeholders filled, the script's name first")
    func matrix() throws {
        var request = QueueAddRequest(
            command: ["python", "train.py", "--symbol", "{symbol}", "--model", "{model}"], workingDirectory: "/w")
        request.matrix = [try JobMatrix.parse("symbol=BTCEUR,ETHEUR"), try JobMatrix.parse("model=lightgbm, lstm")]
        request.runArguments = ["--checkpoint-dir=ckpt/{symbol}-{model}"]
        request.after = ["prep-{symbol}"]
        request.policy = "{model}"
        let (jobs, warnings) = try JobMatrix.expand(request, now: QueueTests.t0)
        #expect(warnings.isEmpty)
        #expect(
            jobs.map(\.name) == [
                "train-BTCEUR-lightgbm", "train-BTCEUR-lstm", "train-ETHEUR-lightgbm", "train-ETHEUR-lstm",
            ])
        #expect(jobs[1].command == ["python", "train.py", "--symbol", "BTCEUR", "--model", "lstm"])
        #expect(jobs[1].key == "BTCEUR-lstm")
        #expect(jobs[1].runArguments == ["--checkpoint-dir=ckpt/BTCEUR-lstm"])
        #expect(jobs[2].after == ["prep-ETHEUR"] && jobs[2].policy == "lightgbm")
    }

    @Test("names: --name with placeholders, --name with the values appended, the vigil run name without a matrix")
    func names() throws {
        var request = QueueAddRequest(command: ["python3", "fit.py", "{s}"], workingDirectory: "/w")
        request.matrix = [(key: "s", values: ["A", "B/C"])]
        request.name = "job-{s}-x"
        #expect(try JobMatrix.expand(request, now: QueueTests.t0).jobs.map(\.name) == ["job-A-x", "job-B-C-x"])
        request.matrix = [(key: "s", values: ["A", "B"])]
        #expect(try JobMatrix.expand(request, now: QueueTests.t0).jobs.map(\.name) == ["job-A-x", "job-B-x"])
        request.name = "nightly"
        #expect(try JobMatrix.expand(request, now: QueueTests.t0).jobs.map(\.name) == ["nightly-A", "nightly-B"])
        request.name = nil
        request.matrix = [(key: "s", values: ["a b", "c:d"])]
        #expect(try JobMatrix.expand(request, now: QueueTests.t0).jobs.map(\.name) == ["fit-a-b", "fit-c-d"])
        request.matrix = []
        let single = try JobMatrix.expand(request, now: QueueTests.t0).jobs
        #expect(
            single.map(\.name) == [
                RunDirectory.defaultName(command: ["python3", "fit.py", "{s}"], workingDirectory: "/w")
            ])
        #expect(single[0].key == "")
    }

    @Test("matrix mistakes: an unused key warns; a key twice, two jobs of one name, a bad key are refused")
    func matrixMistakes() throws {
        var request = QueueAddRequest(command: ["python3", "fit.py", "{a}"], workingDirectory: "/w")
        request.matrix = [(key: "a", values: ["1", "2", "1"]), (key: "unused", values: ["x"])]
        let (jobs, warnings) = try JobMatrix.expand(request, now: QueueTests.t0)
        #expect(jobs.count == 2)
        #expect(warnings.contains { $0.contains("matrix key 'unused' is not used") })
        #expect(warnings.contains { $0.contains("1 repeated values ignored") })
        request.matrix = [(key: "a", values: ["1"]), (key: "a", values: ["2"])]
        #expect(throws: VigilError.self) { try JobMatrix.expand(request, now: QueueTests.t0) }
        request.matrix = [(key: "a", values: ["1", "2"]), (key: "b", values: ["x", "y"])]
        request.name = "fit-{a}"
        let twice = #expect(throws: VigilError.self) { try JobMatrix.expand(request, now: QueueTests.t0) }
        #expect(twice?.message.contains("two jobs would be called 'fit-1'") == true)
        for bad in ["1x=a", "=a", "a-b=c", "a=", "a=x,,y", "novalues"] {
            #expect(throws: VigilError.self, "\(bad)") { try JobMatrix.parse(bad) }
        }
    }

    @Test("--matrix-file: KEY=FILE or FILE (its base name is the key); comments and blank lines skipped")
    func matrixFile() throws {
        let dir = try TestSupport.temporaryDirectory("vigil-queue-unit")
        defer { TestSupport.remove(dir) }
        try "# the universe\nBTCEUR\n\n  ETHEUR  \n".write(
            toFile: dir + "/symbols.txt", atomically: true, encoding: .utf8)
        #expect(
            try JobMatrix.read(file: "symbol=symbols.txt", workingDirectory: dir) == ("symbol", ["BTCEUR", "ETHEUR"]))
        #expect(try JobMatrix.read(file: dir + "/symbols.txt", workingDirectory: "/").key == "symbols")
        let missing = #expect(throws: VigilError.self) { try JobMatrix.read(file: "s=none.txt", workingDirectory: dir) }
        #expect(missing?.exitCode == .noInput)
    }

    // MARK: - Edits

    @Test("adding again is a no-op that says so; --replace keeps the state of the same work, resets other work")
    func addAgain() throws {
        var queue = QueueFile()
        var first = QueueTests.job("a")
        first.priority = 1
        #expect(try QueueEdit.add([first], replace: false, to: &queue).added == ["a"])
        queue.jobs[0].state = .done
        queue.jobs[0].runs = 1
        #expect(try QueueEdit.add([first], replace: false, to: &queue).existing == ["a"])
        var samePriority5 = first
        samePriority5.priority = 5
        #expect(try QueueEdit.add([samePriority5], replace: true, to: &queue).updated == ["a"])
        #expect(queue.jobs[0].state == .done && queue.jobs[0].priority == 5)
        var other = first
        other.command = ["python3", "train.py", "--epochs", "9"]
        #expect(try QueueEdit.add([other], replace: true, to: &queue).replaced == ["a"])
        #expect(queue.jobs[0].state == .pending && queue.jobs[0].fresh && queue.jobs[0].sequence == 1)
        queue.jobs[0].state = .running
        let busy = #expect(throws: VigilError.self) { try QueueEdit.add([first], replace: true, to: &queue) }
        #expect(busy?.exitCode == .runBusy)
    }

    @Test("--after: an unknown job is refused with the nearest name; a cycle is refused, named, and nothing changes")
    func dependencies() throws {
        var queue = QueueFile()
        _ = try QueueEdit.add([QueueTests.job("train-BTCEUR")], replace: false, to: &queue)
        let unknown = #expect(throws: VigilError.self) {
            try QueueEdit.add([QueueTests.job("eval", after: ["train-BTCEUT"])], replace: false, to: &queue)
        }
        #expect(unknown?.exitCode == .noInput)
        #expect(unknown?.message.contains("did you mean 'train-BTCEUR'?") == true)
        _ = try QueueEdit.add([QueueTests.job("eval", after: ["train-BTCEUR"])], replace: false, to: &queue)
        let before = queue
        let cycle = #expect(throws: VigilError.self) {
            try QueueEdit.add([QueueTests.job("train-BTCEUR", after: ["eval"])], replace: true, to: &queue)
        }
        #expect(cycle?.exitCode == .usage)
        #expect(cycle?.message.contains("train-BTCEUR → eval → train-BTCEUR") == true, "\(cycle?.message ?? "")")
        #expect(queue == before)
        let selfCycle = #expect(throws: VigilError.self) {
            try QueueEdit.add([QueueTests.job("loop", after: ["loop"])], replace: false, to: &queue)
        }
        #expect(selfCycle?.message.contains("loop → loop") == true)
    }

    @Test("remove, retry and clear: globs, unknown names with the nearest one, running jobs kept")
    func removeRetryClear() throws {
        var queue = QueueTests.queue([
            QueueTests.job("train-A", .failed), QueueTests.job("train-B", .gaveUp),
            QueueTests.job("eval-A", after: ["train-A"]),
            QueueTests.job("live", .running), QueueTests.job("old", .done),
        ])
        let unknown = #expect(throws: VigilError.self) { try QueueEdit.resolve(["trian-A"], in: queue) }
        #expect(unknown?.message == "no job 'trian-A' in the queue (did you mean 'train-A'?)")
        #expect(try QueueEdit.resolve(["train-*"], in: queue) == [0, 1])
        let (retried, left) = try QueueEdit.retry(["train-*", "old"], in: &queue)
        #expect(retried == ["train-A", "train-B"])
        #expect(left.map(\.0) == ["old"])
        #expect(queue.jobs[0].state == .pending && queue.jobs[0].fresh)
        #expect(throws: VigilError.self) { try QueueEdit.remove(["train-A"], from: &queue) }  // eval-A needs it
        #expect(try QueueEdit.remove(["train-A", "eval-A"], from: &queue) == ["train-A", "eval-A"])
        #expect(
            (#expect(throws: VigilError.self) { try QueueEdit.remove(["live"], from: &queue) })?.exitCode == .runBusy)
        #expect(throws: VigilError.self) { try QueueEdit.clear(onlyDone: false, in: &queue) }
        #expect(try QueueEdit.clear(onlyDone: true, in: &queue) == 1)
        #expect(queue.jobs.map(\.name) == ["train-B", "live"])
    }

    // MARK: - View and plan

    @Test("blocked is transitive; waiting is for jobs not done; a claim whose processes died is stopped-resumable")
    func view() {
        var running = QueueTests.job("r", .running)
        running.claim = .init(runner: .init(pid: 1, startTime: 1), host: "h", vigil: nil, slot: nil, at: QueueTests.t0)
        let queue = QueueTests.queue([
            QueueTests.job("a", .failed), QueueTests.job("b", after: ["a"]), QueueTests.job("c", after: ["b"]),
            QueueTests.job("d"), QueueTests.job("e", after: ["d", "gone"]), running,
        ])
        let live = QueueTests.view(queue)
        #expect(live.rows.map(\.shown) == [.failed, .blocked, .blocked, .pending, .pending, .running])
        #expect(live.rows[2].blockedBy == ["b"])
        #expect(live.rows[4].waitingFor == ["d"])  // a job no longer in the queue was done and cleared
        #expect(QueueTests.view(queue, claims: .stale).rows[5].shown == .stopped)
        #expect(QueueTests.view(queue, claims: .vigilOnly).rows[5].shown == .running)
    }

    @Test("retraining is due once the last success is older than --retrain-after (an injected clock)")
    func due() {
        var job = QueueTests.job("r", .done)
        job.retrainAfter = 30 * 86_400
        job.lastSucceededAt = QueueTests.t0
        let queue = QueueTests.queue([job])
        let before = QueueTests.view(queue, now: QueueTests.t0.addingTimeInterval(29 * 86_400))
        let after = QueueTests.view(queue, now: QueueTests.t0.addingTimeInterval(30 * 86_400 + 1))
        #expect(!before.rows[0].due && after.rows[0].due)
        #expect(QueuePlan(view: before, selection: QueueSelection()).candidates.isEmpty)
        let plan = QueuePlan(view: after, selection: QueueSelection())
        #expect(plan.candidates.map(\.reason) == [.due(since: QueueTests.t0.addingTimeInterval(30 * 86_400))])
        #expect(plan.describe(after)[0].contains("due for retraining since 2026-12-18"))
        #expect(QueuePlan(view: after, selection: QueueSelection(retrain: .skip)).candidates.isEmpty)
        #expect(QueueListing.retrain(job, after.rows[0], now: after.now) == "due (since 1s)")
        #expect(QueueListing.retrain(job, before.rows[0], now: before.now) == "in 1d")
    }

    @Test("the order: waited-for vigils, cut-off jobs, then priority, then insertion; --only and --retrain-only")
    func order() {
        var high = QueueTests.job("high", sequence: 5)
        high.priority = 10
        var due = QueueTests.job("due", .done, sequence: 6)
        due.retrainAfter = 1
        due.lastSucceededAt = QueueTests.t0.addingTimeInterval(-10)
        var retrainCut = QueueTests.job("cut-retrain", .stopped, sequence: 7)
        retrainCut.retraining = true
        let queue = QueueFile(jobs: [
            QueueTests.job("first", sequence: 1), QueueTests.job("cut", .stopped, sequence: 2),
            QueueTests.job("second", sequence: 3), high, due, retrainCut,
            QueueTests.job("blocked", after: ["x"], sequence: 8),
            QueueTests.job("x", .gaveUp, sequence: 9),
        ])
        let view = QueueTests.view(queue)
        let names = QueuePlan(view: view, selection: QueueSelection()).candidates.map(\.name)
        #expect(names == ["cut", "cut-retrain", "high", "first", "second", "due"])
        #expect(
            QueuePlan(view: view, selection: QueueSelection(), stopped: ["cut"]).candidates.map(\.name).first
                == "cut-retrain")
        #expect(
            QueuePlan(view: view, selection: QueueSelection(only: ["s*", "cut"])).candidates.map(\.name) == [
                "cut", "second",
            ])
        #expect(
            QueuePlan(view: view, selection: QueueSelection(retrain: .only)).candidates.map(\.name) == [
                "cut-retrain", "due",
            ])
        let lines = QueuePlan(view: view, selection: QueueSelection()).describe(view)
        #expect(lines.contains { $0.contains("blocked") && $0.contains("after x, which did not succeed") })
    }

    // MARK: - Runner decisions

    @Test(
        "a job's end is read from its journal first, then its vigil's exit code",
        arguments: [
            (Journal.RunState.succeeded, Termination.exited(0), QueueJob.State.done),
            (.failed, .exited(1), .failed), (.gaveUp, .exited(2), .gaveUp), (.stopped, .exited(75), .stopped),
            (.succeeded, .signaled(.kill), .done),  // killed after it recorded the success
            (.running, .signaled(.kill), .stopped),
        ])
    func settlement(state: Journal.RunState, exit: Termination, expected: QueueJob.State) {
        var journal = Journal(
            run: "j", runID: "i", command: ["x"], workingDirectory: "/", policy: "default", now: QueueTests.t0)
        journal.state = state
        let result = QueueRunner.settlement(exit: exit, journal: journal, journalProblem: nil, lastLine: nil)
        #expect(result.state == expected)
    }

    @Test("a vigil that refused the job fails it with what it said; exit 69 means another vigil has it")
    func refusals() {
        let refused = QueueRunner.settlement(
            exit: .exited(66), journal: nil, journalProblem: nil, lastLine: "[j] vigil: command not found: 'trainx'")
        #expect(refused.state == .failed && refused.reason == "vigil run exited 66: command not found: 'trainx'")
        #expect(QueueRunner.settlement(exit: .exited(69), journal: nil, journalProblem: nil, lastLine: nil).busy)
    }

    @Test("the queue's exit code: 75 with work left after a stop, 1 for failures, 0 when all is done")
    func exitCodes() {
        let done = QueueTests.view(QueueTests.queue([QueueTests.job("a", .done)]))
        #expect(QueueSummary.outcome(view: done, selection: .init(), stopSignals: [], timeUp: false).code == .success)
        let failed = QueueTests.view(QueueTests.queue([QueueTests.job("a", .done), QueueTests.job("b", .failed)]))
        #expect(
            QueueSummary.outcome(view: failed, selection: .init(), stopSignals: [], timeUp: false).code
                == .unrecoverable)
        #expect(
            QueueSummary.outcome(view: failed, selection: .init(only: ["a"]), stopSignals: [], timeUp: false).code
                == .success)
        let left = QueueTests.view(QueueTests.queue([QueueTests.job("a", .failed), QueueTests.job("b")]))
        let stopped = QueueSummary.outcome(view: left, selection: .init(), stopSignals: [.terminate], timeUp: false)
        #expect(stopped.code == .resumable && stopped.reason.hasPrefix("stopped by SIGTERM with 1 job left"))
        let cut = QueueTests.view(QueueTests.queue([QueueTests.job("a", .stopped)]))
        #expect(QueueSummary.outcome(view: cut, selection: .init(), stopSignals: [], timeUp: false).code == .resumable)
    }

    // MARK: - Command line

    @Test("queue add reads --matrix and --matrix-file in the order given, the run options, the command")
    func addCommandLine() throws {
        let arguments = [
            "queue", "add", "--matrix-file", "symbol=u.txt", "--matrix", "model=a,b", "--after", "prep",
            "--priority=-2",
            "--retrain-after", "30d", "--max-retries", "5", "--", "python", "train.py", "{symbol}",
        ]
        guard case .command(.queueAdd, let parsed) = try VigilCommandLine.resolve(arguments) else {
            Issue.record("not queue add")
            return
        }
        let order = parsed.texts(inOrderOf: [QueueCommand.matrix, QueueCommand.matrixFile]).map(\.value)
        #expect(order == ["symbol=u.txt", "model=a,b"])
        #expect(parsed.integer(QueueCommand.priority) == -2)
        #expect(parsed.duration(QueueCommand.retrainAfter) == 2_592_000.0)
        #expect(parsed.integer(RunCommand.maxRetries) == 5)
        #expect(parsed.trainerCommand == ["python", "train.py", "{symbol}"])
        guard case .command(.queueRemove, let remove) = try VigilCommandLine.resolve(["queue", "remove", "a", "b*"])
        else {
            Issue.record("not queue remove")
            return
        }
        #expect(remove.positionalValues(QueueCommand.jobsArgument) == ["a", "b*"])
        #expect(throws: VigilError.self) { try VigilCommandLine.resolve(["queue", "remove"]) }
        #expect(throws: VigilError.self) { try VigilCommandLine.resolve(["queue", "run", "--jobs", "0"]) }
    }
}
