import Foundation
import Testing

@testable import VigilCore

#if canImport(FoundationXML)
    import FoundationXML
#endif
#if canImport(Glibc)
    import Glibc
#endif

@Suite("Status and HTML report")
struct StatusReportTests {
    static let start = Date(timeIntervalSince1970: 1_795_000_000)
    static let host = ProcessInfo.processInfo.hostName

    /// A run of `attempts` attempts, the last one still open when `open`, its supervisor `pid`.
    static func journal(
        state: Journal.RunState, attempts: Int, open: Bool, pid: Int32, startTime: UInt64?, host: String = host
    ) -> Journal {
        var journal = Journal(
            run: "train-1", runID: "run-id", command: ["python3", "train.py", "--lr", "0.1"],
            workingDirectory: "/w", policy: "default", now: start)
        journal.state = state
        journal.invocations = [
            Journal.Invocation(pid: pid, processStartTime: startTime, host: host, startedAt: start)
        ]
        for number in 1...attempts {
            var attempt = Journal.Attempt(
                number: number, argv: ["python3", "train.py"],
                startedAt: start.addingTimeInterval(Double(number - 1) * 600),
                supervisorPID: pid, log: String(format: "attempt-%03d.log", number))
            attempt.pid = 50_000 + Int32(number)
            if number < attempts || !open {
                attempt.endedAt = attempt.startedAt.addingTimeInterval(500)
                attempt.exit = .exited(1)
                attempt.verdict = Verdict(verdict: .recoverable, rule: "cuda-oom", reason: "CUDA out of memory")
                attempt.checkpointAfter = "/w/ckpt/model_ep\(number * 10).pt"
                journal.computeSeconds += 500
            }
            journal.attempts.append(attempt)
        }
        journal.consecutiveFailures = open ? attempts - 1 : attempts
        return journal
    }

    static func write(_ journal: Journal, in logDirectory: String, name: String = "train-1") throws -> String {
        let directory = logDirectory + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try journal.write(to: directory + "/journal.json")
        return directory
    }

    static func touch(_ path: String, modified: Date) throws {
        #expect(FileManager.default.createFile(atPath: path, contents: Data("line\n".utf8)))
        try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: path)
    }

    // MARK: - RunStatus

    @Test("a run whose supervisor is this live process is running, with its live attempt")
    func liveRun() throws {
        let logs = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(logs) }
        let me = getpid()
        let journal = Self.journal(
            state: .running, attempts: 3, open: true, pid: me, startTime: ProcessTable.startTime(of: me))
        let directory = try Self.write(journal, in: logs)
        let now = Self.start.addingTimeInterval(1300)
        try Self.touch(directory + "/attempt-003.log", modified: now.addingTimeInterval(-5))

        let status = try RunStatus.read(runDirectory: directory, now: now, maxRetries: 3)
        #expect(status.state == .running)
        #expect(status.supervisor?.alive == true)
        let live = try #require(status.liveAttempt)
        #expect(live.number == 3)
        #expect(live.pid == 50_003)
        #expect(live.runningSeconds == 100)
        #expect(live.argv == ["python3", "train.py"])
        #expect(status.attempts == 3)
        #expect(status.consecutiveFailures == 2 && status.maxRetries == 3)
        #expect(status.lastVerdict?.rule == "cuda-oom" && status.lastVerdictAttempt == 2)
        #expect(status.lastFailure?.attempt == 2 && status.lastFailure?.exit == "exit code 1")
        #expect(status.computeSeconds == 1100)  // 2 × 500 finished + 100 so far
        #expect(status.lastOutputAt == now.addingTimeInterval(-5))
        #expect(status.lastCheckpoint?.path == "/w/ckpt/model_ep20.pt")
        #expect(status.lastCheckpoint?.attempt == 2 && status.lastCheckpoint?.modifiedAt == nil)
        #expect(status.check(staleAfter: 60).ok)

        // The JSON is what --json prints; it reads back as the same status.
        let decoded = try Journal.decoder.decode(RunStatus.self, from: try status.encoded())
        #expect(decoded == status)
    }

    @Test(
        "a journal stuck at running or backing-off whose supervisor is gone is interrupted",
        arguments: [Journal.RunState.running, .backingOff])
    func interrupted(state: Journal.RunState) throws {
        let logs = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(logs) }
        let me = getpid()
        let myStart = try #require(ProcessTable.startTime(of: me))
        // A pid no process can have, and this process's pid with another start time (a reused pid).
        for (pid, startTime) in [(Int32.max, UInt64(1)), (me, myStart + 1)] {
            let directory = try Self.write(
                Self.journal(state: state, attempts: 2, open: state == .running, pid: pid, startTime: startTime),
                in: logs)
            let status = try RunStatus.read(runDirectory: directory, now: Self.start.addingTimeInterval(900))
            #expect(status.state == .interrupted)
            #expect(status.recordedState == state)
            #expect(status.supervisor?.alive == false)
            #expect(status.liveAttempt == nil)
            let check = status.check(staleAfter: nil)
            #expect(!check.ok)
            #expect(check.reason.contains("interrupted") && check.reason.contains("run the same command again"))
            #expect(status.health(staleAfter: nil).health == .failed)
        }
    }

    @Test("a supervisor on another host cannot be checked from here: the journal's state stands")
    func otherHost() throws {
        let logs = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(logs) }
        let journal = Self.journal(
            state: .running, attempts: 1, open: true, pid: Int32.max, startTime: 1, host: "gpu-node-17.invalid")
        let status = try RunStatus.read(
            runDirectory: try Self.write(journal, in: logs), now: Self.start.addingTimeInterval(60))
        #expect(status.state == .running)
        #expect(status.supervisor?.alive == nil)
        #expect(status.liveAttempt?.number == 1)
    }

    @Test(
        "check: failed and gave-up runs are not ok, succeeded and stopped ones are",
        arguments: [
            (Journal.RunState.failed, false), (.gaveUp, false), (.succeeded, true), (.stopped, true),
        ])
    func finishedRuns(state: Journal.RunState, ok: Bool) throws {
        let logs = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(logs) }
        var journal = Self.journal(state: state, attempts: 2, open: false, pid: Int32.max, startTime: nil)
        journal.outcome = Journal.RunOutcome(exitCode: 1, reason: "the reason \(state.rawValue)")
        let status = try RunStatus.read(runDirectory: try Self.write(journal, in: logs), now: Date())
        #expect(status.state.rawValue == state.rawValue)
        let check = status.check(staleAfter: 60)
        #expect(check.ok == ok)
        #expect(check.reason.contains("the reason \(state.rawValue)"))
        #expect(status.outcome == journal.outcome)
    }

    @Test("a live run is stale only when both its output and its newest checkpoint are older than the limit")
    func stale() throws {
        let logs = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(logs) }
        let me = getpid()
        var journal = Self.journal(
            state: .running, attempts: 2, open: true, pid: me, startTime: ProcessTable.startTime(of: me))
        let checkpoint = logs + "/model_ep10.pt"
        journal.attempts[0].checkpointAfter = checkpoint
        let directory = try Self.write(journal, in: logs)
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))  // mtimes: whole seconds
        try Self.touch(directory + "/attempt-002.log", modified: now.addingTimeInterval(-7200))
        try Self.touch(checkpoint, modified: now.addingTimeInterval(-7200))

        var status = try RunStatus.read(runDirectory: directory, now: now)
        #expect(status.state == .running)
        #expect(status.lastCheckpoint?.modifiedAt == now.addingTimeInterval(-7200))
        let stale = status.health(staleAfter: 1800)
        #expect(stale.health == .stale)
        #expect(stale.reason.contains("30m"))
        #expect(!status.check(staleAfter: 1800).ok)
        #expect(status.check(staleAfter: 3 * 3600).ok)
        #expect(status.check(staleAfter: nil).ok)

        // A fresh checkpoint alone keeps it from being stale (a trainer that prints little).
        try FileManager.default.setAttributes(
            [.modificationDate: now.addingTimeInterval(-60)], ofItemAtPath: checkpoint)
        status = try RunStatus.read(runDirectory: directory, now: now)
        #expect(status.health(staleAfter: 1800).health == .ok)
        // So does fresh output.
        try FileManager.default.setAttributes(
            [.modificationDate: now.addingTimeInterval(-7200)], ofItemAtPath: checkpoint)
        try FileManager.default.setAttributes(
            [.modificationDate: now.addingTimeInterval(-10)], ofItemAtPath: directory + "/attempt-002.log")
        status = try RunStatus.read(runDirectory: directory, now: now)
        #expect(status.health(staleAfter: 1800).health == .ok)
    }

    @Test("list finds every run with a journal, most recently active first; a missing run is notFound")
    func list() throws {
        let logs = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(logs) }
        var older = Self.journal(state: .succeeded, attempts: 1, open: false, pid: Int32.max, startTime: nil)
        older.updatedAt = Self.start.addingTimeInterval(100)
        var newer = older
        newer.run = "train-2"
        newer.updatedAt = Self.start.addingTimeInterval(5000)
        _ = try Self.write(older, in: logs, name: "train-1")
        _ = try Self.write(newer, in: logs, name: "train-2")
        try FileManager.default.createDirectory(atPath: logs + "/not-a-run", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: logs + "/stray.txt", contents: Data()))

        let runs = RunStatus.list(logDirectory: logs, now: Date())
        #expect(runs.map(\.run) == ["train-2", "train-1"])
        #expect(RunStatus.list(logDirectory: logs + "/none", now: Date()).isEmpty)
        #expect {
            try RunStatus.read(runDirectory: logs + "/not-a-run", now: Date())
        } throws: { error in
            (error as? VigilError)?.exitCode == .noInput
        }
    }

    // MARK: - Metrics

    @Test("metrics.jsonl: a missing file is empty, bad lines are skipped, order is kept")
    func metricsFile() throws {
        let logs = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(logs) }
        #expect(HTMLReport.readMetrics(logs + "/metrics.jsonl").isEmpty)
        let text = """
            {"attempt":1,"time":"2026-11-23T01:00:00.000Z","step":1,"values":{"loss":2.5}}
            not json at all
            {"attempt":1,"time":"yesterday","values":{"loss":1}}

            {"attempt":2,"time":"2026-11-23T01:10:00Z","step":2,"total":10,"values":{"loss":1.5,"acc":0.25}}
            {"attempt":2,"time":"2026-11-23T01:11:00.000Z","values":{"loss":1.25}
            """
        try text.write(toFile: logs + "/metrics.jsonl", atomically: true, encoding: .utf8)
        let points = HTMLReport.readMetrics(logs + "/metrics.jsonl")
        #expect(points.map(\.attempt) == [1, 2])
        #expect(points[1].values == ["loss": 1.5, "acc": 0.25])
        #expect(points[1].total == 10)
        let series = MetricSeries.summarize(points)
        #expect(series.map(\.name) == ["loss", "acc"])
        #expect(series[0].first == 2.5 && series[0].last == 1.5 && series[0].attempts == [1, 2])
        let line = try points[0].jsonLine()
        #expect(try Journal.decoder.decode(MetricPoint.self, from: Data(line.utf8)) == points[0])
    }

    // MARK: - HTML

    /// A run with a crash, a preemption, a repair and a success, and metrics across the attempts.
    static func reportFixture() -> (Journal, [MetricPoint]) {
        var journal = journal(state: .succeeded, attempts: 3, open: false, pid: Int32.max, startTime: nil)
        journal.outcome = Journal.RunOutcome(exitCode: 0, reason: "the trainer finished successfully (attempt 3)")
        journal.attempts[0].verdict = Verdict(
            verdict: .recoverable, rule: "cuda-oom",
            reason: "CUDA <out> of \"memory\" & 'more' \u{1B}[31m API_KEY=sk-123",
            exception: PythonException(type: "torch.cuda.OutOfMemoryError", message: "<b>tried</b>"))
        journal.attempts[0].repairs = [
            RepairRecord(key: "training.batch_size", before: "64", after: "32", reason: "cuda-oom")
        ]
        journal.attempts[1].verdict = Verdict(verdict: .ignore, rule: "preempted", reason: "SIGTERM from the scheduler")
        journal.attempts[1].stopReason = "signal SIGTERM to vigil"
        journal.attempts[2].verdict = Verdict(verdict: .success, rule: "exit-0", reason: "exit code 0")
        journal.attempts[2].exit = .exited(0)
        var metrics: [MetricPoint] = []
        for attempt in 1...3 {
            let begin = journal.attempts[attempt - 1].startedAt
            for index in 0..<5 {
                let step = (attempt - 1) * 4 + index
                metrics.append(
                    MetricPoint(
                        attempt: attempt, time: begin.addingTimeInterval(Double(index) * 90), step: step,
                        values: ["loss": 2.0 / Double(step + 1), "lr": 0.001]))
            }
        }
        return (journal, metrics)
    }

    @Test("the HTML report is well-formed XML with one attempt bar per attempt, curves and escaped text")
    func html() throws {
        let logs = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(logs) }
        let (journal, metrics) = Self.reportFixture()
        let directory = try Self.write(journal, in: logs)
        #expect(
            FileManager.default.createFile(atPath: directory + "/attempt-001.report.md", contents: Data("# r\n".utf8)))

        let html = HTMLReport.render(journal: journal, metrics: metrics, runDirectory: directory)
        let document = try XMLDocumentScan(html)
        let bars = document.elements.filter { $0.name == "rect" && $0.attributes["class"] == "attempt" }
        #expect(bars.count == 3)
        #expect(bars.map { $0.attributes["data-verdict"] } == ["recoverable", "ignore", "success"])
        #expect(bars.allSatisfy { Double($0.attributes["width"] ?? "") ?? 0 >= 3 })
        let lines = document.elements.filter { $0.name == "polyline" }
        #expect(lines.count == 6)  // two metrics × three attempts
        #expect(document.elements.filter { $0.name == "line" && $0.attributes["class"] == "restart" }.count == 4)
        let links = document.elements.filter { $0.name == "a" }.compactMap { $0.attributes["href"] }
        #expect(links == ["attempt-001.log", "attempt-001.report.md", "attempt-002.log", "attempt-003.log"])
        #expect(document.elements.contains { $0.name == "script" } == false)
        // Self-contained: nothing is fetched (the only URLs are the XML namespaces).
        #expect(!html.contains("src=") && !html.contains("url(") && !html.contains("@import"))
        #expect(!links.contains { $0.contains("://") })

        // Escaped: the parser reads the text back, and no tag from the journal became markup.
        #expect(!html.contains("<out>") && !html.contains("<b>tried"))
        #expect(document.text.contains("CUDA <out> of \"memory\" & 'more'"))
        #expect(document.text.contains("<b>tried</b>"))
        #expect(!html.contains("\u{1B}"))
        // Redacted by default (names rule), visibly.
        #expect(!html.contains("sk-123"))
        #expect(html.contains(Redactor.marker))
        // The repair, before → after.
        #expect(document.text.contains("training.batch_size: 64 → 32"))
        #expect(document.text.contains("the trainer finished successfully (attempt 3)"))
    }

    @Test("a report without metrics or attempts is still well-formed, with no curve")
    func htmlEmpty() throws {
        let logs = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(logs) }
        let (journal, _) = Self.reportFixture()
        let html = HTMLReport.render(journal: journal, metrics: [], runDirectory: logs + "/train-1")
        let document = try XMLDocumentScan(html)
        #expect(document.elements.filter { $0.name == "rect" && $0.attributes["class"] == "attempt" }.count == 3)
        #expect(!document.elements.contains { $0.name == "polyline" })

        var empty = journal
        empty.attempts = []
        empty.state = .running
        empty.outcome = nil
        let bare = try XMLDocumentScan(HTMLReport.render(journal: empty, metrics: [], runDirectory: logs))
        #expect(!bare.elements.contains { $0.name == "rect" && $0.attributes["class"] == "attempt" })
    }

    @Test("a long metric series is thinned to what the chart can show")
    func thinnedCurve() throws {
        let (journal, _) = Self.reportFixture()
        let begin = journal.attempts[0].startedAt
        let metrics = (0..<10_000).map {
            MetricPoint(attempt: 1, time: begin.addingTimeInterval(Double($0) * 0.05), values: ["loss": Double($0)])
        }
        let document = try XMLDocumentScan(HTMLReport.render(journal: journal, metrics: metrics, runDirectory: "/none"))
        let line = try #require(document.elements.first { $0.name == "polyline" })
        let count = (line.attributes["points"] ?? "").split(separator: " ").count
        #expect(count > 1000 && count <= 2100)
    }

    @Test("an idle night between invocations is squeezed on the time axis")
    func squeezedGap() {
        let axis = TimeAxis(intervals: [(0, 3600), (3600 + 36000, 7200 + 36000)], left: 0, width: 1000)
        #expect(axis.gaps.count == 1)
        #expect(abs(axis.x(3600) - (1000 - TimeAxis.squeezedWidth) / 2) < 0.01)
        #expect(abs(axis.x(7200 + 36000) - 1000) < 0.01)
        #expect(axis.ticks().allSatisfy { !(3600 < $0 && $0 < 39600) })
        let short = TimeAxis(intervals: [(0, 3600), (3630, 7200)], left: 10, width: 720)
        #expect(short.gaps.isEmpty)
        #expect(abs(short.x(3600) - 370) < 0.01)
    }
}

/// Every element of an XML document with its attributes, and all its text, read with XMLParser.
/// Fails (throws) when the document is not well-formed.
final class XMLDocumentScan: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
    }

    private(set) var elements: [Element] = []
    private(set) var text = ""

    struct NotWellFormed: Error, CustomStringConvertible {
        var description: String
    }

    init(_ markup: String) throws {
        super.init()
        let parser = XMLParser(data: Data(markup.utf8))
        parser.delegate = self
        guard parser.parse() else {
            throw NotWellFormed(
                description:
                    "line \(parser.lineNumber), column \(parser.columnNumber): \(String(describing: parser.parserError))"
            )
        }
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        elements.append(Element(name: elementName, attributes: attributes))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
}
