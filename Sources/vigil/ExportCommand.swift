import VigilCLI
import VigilCore

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

/// `vigil checkpoints export [RUN]`: the run's journal and policy, the selection, the archive.
func exportCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = CheckpointsCommand
    let logDirectory = arguments.text(Option.logDirectory) ?? "logs"
    let directory: String
    if let run = arguments.positional(Option.exportRun) {
        directory = try locateRun(run, logDirectory: logDirectory)
    } else {
        guard let newest = RunStatus.list(logDirectory: logDirectory, now: Date()).first else {
            throw VigilError(.notFound, file: logDirectory, "no runs here to export from (use --log-dir?)")
        }
        directory = newest.directory
    }
    guard let journal = try Journal.read(from: directory + "/journal.json") else {
        throw VigilError(.notFound, file: directory, "no run here (no journal.json)")
    }
    let chosen =
        [Option.best, Option.latest].filter { arguments.flag($0) }.count + (arguments.isGiven(Option.step) ? 1 : 0)
    guard chosen <= 1 else { throw VigilError(.usage, "--best, --latest and --step exclude each other") }
    let policy = try arguments.text(Option.exportPolicy).map { try loader().load($0) } ?? runPolicy(of: journal)
    var export = CheckpointExport(runDirectory: directory, journal: journal, policy: policy)
    if arguments.flag(Option.best) { export.selection = .best }
    if let step = arguments.integer(Option.step) { export.selection = .step(step) }
    export.includeConfig = arguments.flag(Option.includeConfig)
    export.redactor = displayRedactor(policy: journal.policy, patterns: journal.redactPatterns)
    let cwd = FileManager.default.currentDirectoryPath
    let output: String
    if let given = arguments.text(Option.archive) {
        output = Paths.absolute(given, in: cwd)
    } else {
        let (checkpoint, _) = try export.choose()
        output = cwd + "/" + CheckpointExport.rootName(run: journal.run, step: checkpoint.step) + ".tar.gz"
    }
    let started = Date()
    let result = try export.write(to: output, replace: arguments.flag(Option.force))
    let seconds = Date().timeIntervalSince(started)
    let manifest = result.manifest
    print(result.path)
    printError(
        "vigil: exported \(manifest.checkpoint.name) (step \(manifest.checkpoint.step), \(manifest.checkpoint.selectedBy)) "
            + "of run \(journal.run): \(manifest.files.count + 1) files, \(byteCount(result.bytes))"
            + String(cFormat: " in %.2f s", seconds))
    return 0
}

/// `vigil checkpoints verify FILE`.
func verifyCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = CheckpointsCommand
    let path = Paths.absolute(arguments.positional(Option.verifyArchive)!, in: FileManager.default.currentDirectoryPath)
    let report = try ArchiveVerifier.verify(path)
    if arguments.flag(Option.json) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        struct Output: Encodable {
            var ok: Bool
            var report: ArchiveVerifier.Report
        }
        print(String(decoding: try encoder.encode(Output(ok: report.isValid, report: report)), as: UTF8.self))
    } else if report.isValid, let manifest = report.manifest {
        print(
            "ok: \(report.root ?? "") — \(report.filesChecked) files (\(byteCount(report.bytesChecked))) match "
                + "MANIFEST.json: \(manifest.checkpoint.name), step \(manifest.checkpoint.step), run \(manifest.run) "
                + "(id \(manifest.runID)), exported by vigil \(manifest.vigilVersion)")
    } else {
        for problem in report.problems { printError("vigil: \(path): \(problem)") }
        printError("vigil: \(path): does not match its manifest (\(report.problems.count) problem(s))")
    }
    return report.isValid ? 0 : ExitCode.unrecoverable.rawValue
}

/// The policy a run was supervised with, loaded again: by name as from the run's working directory
/// (its `policies/`), else a file of that name there (`--policy ./mine.json5` is journaled as `mine`).
func runPolicy(of journal: Journal) throws -> Policy {
    let environment = ProcessInfo.processInfo.environment
    let runLoader = PolicyLoader.standard(environment: environment, workingDirectory: journal.workingDirectory)
    do {
        return try runLoader.load(journal.policy)
    } catch let error as VigilError {
        for suffix in [".json5", ".json"] {
            let path = journal.workingDirectory + "/" + journal.policy + suffix
            if FileManager.default.fileExists(atPath: path) { return try runLoader.load(path) }
        }
        throw VigilError(
            error.code, file: error.file, key: error.key,
            error.message + " (the run's policy '\(journal.policy)', loaded again by name; give it with --policy)")
    }
}
