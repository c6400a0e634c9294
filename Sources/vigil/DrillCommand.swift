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

/// `vigil drill`: options into `DrillOptions`, the runner, the report written and printed.
func drillCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = DrillCommand
    let cwd = FileManager.default.currentDirectoryPath
    let environment = ProcessInfo.processInfo.environment
    _ = try CommandResolver.resolve(arguments.trainerCommand[0], path: environment["PATH"], workingDirectory: cwd)
    let policyArgument = arguments.text(Option.policy)
    let policy = try loader().load(policyArgument)
    var kinds: [InterruptionKind] = [.kill, .terminate, .checkpoint]
    if let text = arguments.text(Option.signals) {
        guard let listed = InterruptionKind.list(text) else {
            throw VigilError(
                .usage, "--signals takes KILL, TERM, CHECKPOINT or VIGIL, comma-separated (KILL,TERM); got '\(text)'")
        }
        kinds = listed
    }
    if arguments.flag(Option.vigilKill), !kinds.contains(.vigil) { kinds.append(.vigil) }
    var options = DrillOptions(
        command: arguments.trainerCommand, workingDirectory: cwd, policy: policy, vigilExecutable: currentExecutable())
    options.policyArgument = policyArgument.map { argument in
        let path = Paths.absolute(argument, in: cwd)
        let looksLikePath = argument.contains("/") || argument.hasSuffix(".json5") || argument.hasSuffix(".json")
        return looksLikePath && FileManager.default.fileExists(atPath: path) ? path : argument
    }
    options.kills = arguments.integer(Option.kills) ?? 3
    options.kinds = kinds
    options.seed = UInt64(arguments.integer(Option.seed) ?? Int.random(in: 0...999_999))
    options.compare = arguments.texts(Option.compare)
    options.metric = arguments.text(Option.metric)
    options.tolerance = arguments.number(Option.tolerance) ?? 1e-6
    options.keep = arguments.flag(Option.keep)
    options.reference = arguments.text(Option.reference)
    if let scratch = arguments.text(Option.scratch) { options.scratch = Paths.absolute(scratch, in: cwd) }
    options.resumeArguments = arguments.texts(Option.resumeArgument)
    options.timeout = arguments.duration(Option.timeout)
    for file in options.compare where file.hasPrefix("/") || file.split(separator: "/").contains("..") {
        throw VigilError(.usage, "--compare \(file): give a path inside the working directory, relative to it")
    }
    let output = Paths.absolute(arguments.text(Option.output) ?? ".", in: cwd)
    let html = arguments.text(Option.html).map { Paths.absolute($0, in: cwd) }
    let reports = [output + "/drill-report.md", output + "/drill-report.json"] + (html.map { [$0] } ?? [])
    options.excluded = Set(reports.compactMap { inside(cwd, $0) })

    let stop = Locked(false)
    SignalRelay.ignoreBrokenPipes()
    SignalRelay.install([.interrupt, .terminate, .hangup]) { _ in stop.withLock { $0 = true } }
    let runner = try DrillRunner(options: options, note: { printError($0) }, isInterrupted: { stop.current })
    let report = try runner.run()

    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    let json = try DrillText.json(report)
    try AtomicFile.write(json, to: reports[1], permissions: 0o644)
    try AtomicFile.write(Data(DrillText.markdown(report).utf8), to: reports[0], permissions: 0o644)
    if let html { try AtomicFile.write(Data(DrillText.html(report).utf8), to: html, permissions: 0o644) }
    if arguments.flag(Option.json) {
        writeOut(json, to: 1)
    } else {
        print(DrillText.table(report))
    }
    printError("vigil: wrote \(reports.joined(separator: ", "))")
    if options.keep {
        printError(
            "vigil: kept the reference copy in \(report.reference.directory) (--reference) and the interrupted one in \(report.directory)"
        )
    }
    return report.drillExitCode
}

/// `path` relative to `directory`, when it is inside it.
private func inside(_ directory: String, _ path: String) -> String? {
    let base = Path.standardized(directory)
    let full = Path.standardized(path)
    return full.hasPrefix(base + "/") ? String(full.dropFirst(base.count + 1)) : nil
}
