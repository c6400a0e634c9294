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

/// What `vigil drill` was asked to do.
public struct DrillOptions: Sendable {
    public var command: [String]
    public var workingDirectory: String
    /// `--policy` as given, for the child `vigil run`s (a path is made absolute); nil: the default.
    public var policyArgument: String?
    /// The same policy, loaded: its checkpoint pattern, progress pattern and stop settings.
    public var policy: Policy
    public var kills = 3
    public var kinds: [InterruptionKind] = [.kill, .terminate, .checkpoint]
    public var seed: UInt64 = 1
    /// `--compare` files, relative to the working directory.
    public var compare: [String] = []
    public var metric: String?
    public var tolerance = 1e-6
    /// Keep the scratch copies (the reference can then be used again with `--reference`).
    public var keep = false
    /// An earlier drill's reference copy to use instead of a new reference run.
    public var reference: String?
    /// Where the scratch copies are made.
    public var scratch: String =
        ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    /// `--resume-arg`s for the child runs.
    public var resumeArguments: [String] = []
    /// How long the interrupted run may take (default: ten times the reference, plus a minute).
    public var timeout: Double?
    /// The vigil executable the child runs are started with (this one: `/proc/self/exe`).
    public var vigilExecutable: String
    public var environment: [String: String]
    /// Paths relative to the working directory never copied (the report files when they are written there).
    public var excluded: Set<String> = []

    public init(command: [String], workingDirectory: String, policy: Policy, vigilExecutable: String) {
        self.command = command
        self.workingDirectory = workingDirectory
        self.policy = policy
        self.vigilExecutable = vigilExecutable
        self.environment = ProcessInfo.processInfo.environment
    }
}

/// Runs a drill: the reference run, the plan, the interrupted run, the analysis. Owns the scratch
/// copies and the child `vigil run`s; the judgement is `DrillAnalysis`'s.
public final class DrillRunner: @unchecked Sendable {
    // @unchecked: used from one thread; `note` and `isInterrupted` are Sendable closures.
    let options: DrillOptions
    let note: @Sendable (String) -> Void
    let isInterrupted: @Sendable () -> Bool
    let pattern: CheckpointPattern
    /// The checkpoint directory relative to the working directory (and so to each copy).
    let checkpointDirectory: String

    /// The child runs' name and where their logs go inside a copy.
    static let runName = "drill"
    static let stateDirectory = ".vigil-drill"

    /// - Throws: `.usage` when the policy gives the drill nothing to measure by (no checkpoint pattern,
    ///   no progress pattern) or puts the checkpoints outside the working directory.
    public init(
        options: DrillOptions, note: @escaping @Sendable (String) -> Void,
        isInterrupted: @escaping @Sendable () -> Bool = { false }
    ) throws {
        guard let source = options.policy.checkpoints.pattern else {
            throw VigilError(
                .usage,
                "vigil drill needs checkpoints.pattern in the policy (e.g. model_ep{step}.pt): it judges every resume "
                    + "by the checkpoint vigil resumed from")
        }
        guard options.policy.output.progress != nil else {
            throw VigilError(
                .usage,
                "vigil drill needs output.progress in the policy (the python policy has one for `step N/T`): it "
                    + "measures where each attempt began and what was redone by the trainer's progress lines")
        }
        self.pattern = try CheckpointPattern(source)
        let cwd = Path.standardized(options.workingDirectory)
        let absolute = Path.standardized(Paths.absolute(options.policy.checkpoints.dir, in: cwd))
        guard absolute.hasPrefix(cwd + "/") else {
            throw VigilError(
                .usage, key: "checkpoints.dir",
                "\(options.policy.checkpoints.dir) is outside the working directory: the drill's runs, each in its own "
                    + "copy of the working directory, would share it; use a directory inside it")
        }
        self.checkpointDirectory = String(absolute.dropFirst(cwd.count + 1))
        self.options = options
        self.note = note
        self.isInterrupted = isInterrupted
    }

    /// The drill, start to end; the report says how it went (also when it could not conclude).
    public func run() throws -> DrillReport {
        let started = Date()
        let root = try makeScratchRoot()
        defer {
            if !options.keep { try? FileManager.default.removeItem(atPath: root) }
        }
        let reference: DrillReference
        if let directory = options.reference {
            reference = try loadReference(directory)
            note("drill: using the reference run in \(reference.directory)")
        } else {
            note("drill: reference run (uninterrupted) in \(root)/reference")
            reference = try runReference(in: root + "/reference")
        }
        var report = emptyReport(reference: reference, started: started, directory: root + "/drill")
        if let problem = referenceProblem(reference) {
            report.diagnoses = [problem]
            report.verdict = .inconclusive
            report.seconds = Date().timeIntervalSince(started)
            return report
        }
        report.plan = DrillPlan.make(
            seed: options.seed, count: options.kills, kinds: options.kinds, firstStep: reference.firstStep ?? 1,
            lastStep: reference.lastStep ?? 1, checkpointSteps: reference.checkpointSteps)
        note("drill: plan (seed \(options.seed)): " + DrillText.planSummary(report.plan))
        let copy = root + "/drill"
        try ScratchCopy.make(from: options.workingDirectory, to: copy, excluding: exclusions)
        try makeStateDirectory(copy)
        var interrupted = InterruptedRun(runner: self, copy: copy, reference: reference, plan: report.plan)
        let result = try interrupted.run()
        report = analyse(report, result, copy: copy, reference: reference)
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// What the analysis makes of the interrupted run, added to `report`.
    private func analyse(
        _ report: DrillReport, _ result: InterruptedRun.Result, copy: String, reference: DrillReference
    ) -> DrillReport {
        var report = report
        let journal = try? Journal.read(from: runDirectory(copy) + "/journal.json")
        let comparisons = options.compare.map {
            FileComparison.compare(
                Paths.absolute($0, in: copy), reference: Paths.absolute($0, in: reference.directory), name: $0,
                tolerance: options.tolerance)
        }
        var analysis = DrillAnalysis(
            plan: report.plan, delivered: result.delivered, journal: journal,
            points: MetricPoint.read(runDirectory(copy) + "/metrics.jsonl"),
            referencePoints: MetricPoint.read(runDirectory(reference.directory) + "/metrics.jsonl"),
            comparisons: comparisons, metric: options.metric, tolerance: options.tolerance,
            runExitCode: result.exitCode)
        analysis.timedOut = result.timedOut
        analysis.interrupted = result.interrupted
        report.interruptions = analysis.verdicts()
        report.metrics = analysis.metricComparisons()
        report.comparisons = comparisons
        (report.verdict, report.diagnoses) = analysis.diagnose(report.interruptions, report.metrics)
        report.runExitCode = result.exitCode
        report.outcome = journal.flatMap { $0.outcome?.reason ?? $0.state.rawValue }
        report.attempts = journal?.attempts.count ?? 0
        report.trainerSeconds = (journal?.attempts ?? []).reduce(0) { total, attempt in
            total + (attempt.duration ?? 0)
        }
        return report
    }

    // MARK: - The reference

    /// Why the reference cannot be compared with, if it cannot.
    private func referenceProblem(_ reference: DrillReference) -> DrillDiagnosis? {
        if reference.exitCode != 0 {
            return DrillDiagnosis(
                "reference-failed",
                "the trainer fails without any interruption: \(reference.reason ?? "vigil run exit \(reference.exitCode)")"
                    + " (see \(reference.directory)/\(DrillRunner.stateDirectory)); fix that first")
        }
        if reference.lastStep == nil {
            return DrillDiagnosis(
                "reference-failed",
                "the reference run printed no progress line that output.progress matches (with a `step` group), so "
                    + "there is nothing to place interruptions by or to measure resumes with")
        }
        return nil
    }

    /// The uninterrupted run in a fresh copy, measured and kept beside it.
    private func runReference(in copy: String) throws -> DrillReference {
        try ScratchCopy.make(from: options.workingDirectory, to: copy, excluding: exclusions)
        try makeStateDirectory(copy)
        let vigil = try ChildVigil(
            vigilArguments(copy: copy, maxRetries: 0), in: copy, environment: options.environment,
            logPath: copy + "/\(DrillRunner.stateDirectory)/vigil.log")
        let began = Date()
        while vigil.waitForExit(until: Date().addingTimeInterval(0.1)) == nil {
            if isInterrupted() {
                vigil.send(.terminate)
                vigil.waitForExit(until: Date().addingTimeInterval(30))
                throw VigilError(.io, "interrupted during the reference run")
            }
            if let timeout = options.timeout, Date().timeIntervalSince(began) > timeout {
                vigil.send(.terminate)
                vigil.waitForExit(until: Date().addingTimeInterval(60))
                break
            }
        }
        let journal = try? Journal.read(from: runDirectory(copy) + "/journal.json")
        let points = MetricPoint.read(runDirectory(copy) + "/metrics.jsonl").filter { $0.step != nil }
        let attempts = journal?.attempts ?? []
        var perStep: Double?
        if let first = points.first, let last = points.last, let a = first.step, let b = last.step, b > a {
            perStep = last.time.timeIntervalSince(first.time) / Double(b - a)
        }
        let steps = attempts.flatMap { $0.checkpointsWritten ?? [] }.filter { $0.invalidReason == nil }.map(\.step)
        let reference = DrillReference(
            directory: copy, command: options.command, exitCode: vigil.exitCode ?? -1,
            reason: journal?.outcome?.reason, trainerSeconds: attempts.reduce(0) { $0 + ($1.duration ?? 0) },
            firstStep: points.compactMap(\.step).min(), lastStep: points.compactMap(\.step).max(),
            secondsPerStep: perStep, checkpointSteps: Array(Set(steps)).sorted())
        try AtomicFile.write(
            try DrillText.encoder.encode(reference), to: copy + "/" + DrillReference.fileName, permissions: 0o644)
        return reference
    }

    /// An earlier drill's reference (`--reference DIR`): its measurements, for the same command.
    private func loadReference(_ directory: String) throws -> DrillReference {
        let absolute = Path.standardized(Paths.absolute(directory, in: options.workingDirectory))
        let path = absolute + "/" + DrillReference.fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VigilError(
                .notFound, file: path,
                "no drill reference here: give the reference copy a drill kept with --keep (it prints its path)")
        }
        var reference: DrillReference
        do {
            reference = try DrillText.decoder.decode(DrillReference.self, from: data)
        } catch {
            throw VigilError(.io, file: path, "not a drill reference: \(Journal.describe(error))")
        }
        guard reference.command == options.command else {
            throw VigilError(
                .usage, file: path,
                "the reference ran another command (\(reference.command.joined(separator: " "))); drill the same one")
        }
        reference.directory = absolute
        return reference
    }

    // MARK: - Parts

    /// The child `vigil run`'s argv, for the copy at `copy`. The reference gets no retries (an
    /// uninterrupted run that needs one is not a reference); the interrupted run enough for every
    /// interruption and no backoff (the drill measures the trainer, not the waits).
    func vigilArguments(copy: String, maxRetries: Int) -> [String] {
        var arguments = [
            options.vigilExecutable, "run", "--name", DrillRunner.runName, "--log-dir",
            copy + "/\(DrillRunner.stateDirectory)/logs", "--checkpoint-dir", copy + "/" + checkpointDirectory,
            "--quiet", "--max-retries", String(min(1000, maxRetries)), "--backoff", "0s",
        ]
        if let policy = options.policyArgument { arguments += ["--policy", policy] }
        arguments += options.resumeArguments.map { "--resume-arg=" + $0 }
        return arguments + ["--"] + options.command
    }

    func runDirectory(_ copy: String) -> String {
        copy + "/\(DrillRunner.stateDirectory)/logs/\(DrillRunner.runName)"
    }

    /// Never copied: the checkpoint directory (each run starts without checkpoints), the report files
    /// and the scratch directory when it is inside the working directory.
    private var exclusions: Set<String> {
        var excluded = options.excluded.union([checkpointDirectory])
        let cwd = Path.standardized(options.workingDirectory)
        let scratch = Path.standardized(options.scratch)
        if scratch == cwd {
            excluded.insert(scratchRootName)
        } else if scratch.hasPrefix(cwd + "/") {
            excluded.insert(String(scratch.dropFirst(cwd.count + 1)))
        }
        return excluded
    }

    /// This drill's scratch directory's name (set once it is made).
    private var scratchRootName = ""

    private func makeScratchRoot() throws -> String {
        try FileManager.default.createDirectory(atPath: options.scratch, withIntermediateDirectories: true)
        let parent = Path.standardized(options.scratch)
        var template = Array((parent + "/vigil-drill-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw VigilError(
                .io, file: options.scratch, "cannot make a scratch directory: \(String(cString: strerror(errno)))")
        }
        let root = String(cString: made)
        scratchRootName = Path.lastComponent(root)
        return root
    }

    private func makeStateDirectory(_ copy: String) throws {
        try FileManager.default.createDirectory(
            atPath: copy + "/" + DrillRunner.stateDirectory, withIntermediateDirectories: true)
    }

    private func emptyReport(reference: DrillReference, started: Date, directory: String) -> DrillReport {
        DrillReport(
            command: options.command, workingDirectory: options.workingDirectory, policy: options.policy.name,
            seed: options.seed, kinds: options.kinds, tolerance: options.tolerance, startedAt: started, seconds: 0,
            reference: reference, plan: DrillPlan(seed: options.seed, interruptions: []),
            reusedReference: options.reference != nil, directory: directory, runExitCode: nil, outcome: nil,
            attempts: 0, trainerSeconds: 0, interruptions: [], comparisons: [], metrics: [], diagnoses: [],
            verdict: .inconclusive)
    }
}
