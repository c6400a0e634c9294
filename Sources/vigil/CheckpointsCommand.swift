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

func checkpointsCommand(_ command: VigilCommand, _ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = CheckpointsCommand
    let json = arguments.flag(Option.json)
    let dryRun = command == .checkpointsPrune && arguments.flag(Option.dryRun)
    var settings = try loader().load(arguments.text(Option.policy)).checkpoints
    if let dir = arguments.text(Option.directory) { settings.dir = dir }
    if let pattern = arguments.text(Option.pattern) {
        guard pattern.contains("{step}") else {
            throw VigilError(.usage, "--pattern needs a {step} placeholder, e.g. model_ep{step}.pt")
        }
        settings.pattern = pattern
    }
    if let metadata = arguments.text(Option.metadata) { settings.metadata = metadata }
    let cwd = FileManager.default.currentDirectoryPath
    guard let store = try CheckpointStore(settings: settings, workingDirectory: cwd) else {
        throw VigilError(
            .usage,
            "no checkpoint pattern: give --pattern (e.g. model_ep{step}.pt) or a policy with checkpoints.pattern")
    }
    guard FileManager.default.fileExists(atPath: store.directory) else {
        throw VigilError(.notFound, file: store.directory, "checkpoint directory not found")
    }
    let found = store.scan(.live(now: Date()))
    let target = store.resumeTarget(in: found)
    var best = settings.retention.keepBest
    if let metric = arguments.text(Option.metric) {
        best = RetentionRule.BestRule(metric: metric, order: best?.order ?? .max, count: best?.count ?? 1)
    }
    let bestRule = RetentionRule(keepLast: nil, keepEvery: nil, keepBest: best)
    let bestPaths =
        best == nil ? [] : Set(RetentionPlan.make(found, rule: bestRule, resumeTarget: nil).keep.map(\.path))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601

    switch command {
    case .checkpointsList:
        if json {
            struct Row: Encodable {
                var checkpoint: Checkpoint
                var resumeTarget: Bool
                var best: Bool
            }
            let rows = found.map {
                Row(checkpoint: $0, resumeTarget: $0.path == target?.path, best: bestPaths.contains($0.path))
            }
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return 0
        }
        if found.isEmpty { print("no checkpoints matching \(settings.pattern!) in \(store.directory)") }
        for checkpoint in found {
            let mark = (checkpoint.path == target?.path ? ">" : " ") + (bestPaths.contains(checkpoint.path) ? "*" : " ")
            let age = DurationFormat.string(from: Date().timeIntervalSince(checkpoint.modified))
            let metrics = checkpoint.metrics.keys.sorted().map { "\($0)=\(checkpoint.metrics[$0]!)" }.joined(
                separator: " ")
            let state = checkpoint.invalidReason.map { "INVALID: \($0)" } ?? "valid"
            print(
                "\(mark) step \(String(checkpoint.step).padded(to: 7)) "
                    + "\(byteCount(checkpoint.size).padded(to: 9)) "
                    + "\(age.padded(to: 8)) \(checkpoint.name)  \(state)"
                    + (metrics.isEmpty ? "" : "  \(metrics)"))
        }
        if !found.isEmpty {
            print("> resume target" + (best == nil ? "" : ", * best by \(best!.metric) (\(best!.order.rawValue))"))
        }
    case .checkpointsPrune:
        guard !settings.retention.isEmpty else {
            throw VigilError(
                .usage,
                "the policy has no retention (checkpoints.keepLast, keepEvery or keepBest): nothing would be pruned")
        }
        let protected = Set(found.filter { !$0.isValid }.map(\.path))
        let plan = RetentionPlan.make(found, rule: settings.retention, resumeTarget: target?.path, protected: protected)
        let result = dryRun ? CheckpointStore.RetentionResult(removed: plan.remove.map(\.name)) : store.apply(plan)
        let failures = result.failures + refusals(store)
        if json {
            struct Pruned: Encodable {
                var kept: [String]
                var removed: [String]
                var failures: [CheckpointStore.Failure]
            }
            let pruned = Pruned(kept: plan.keep.map(\.name), removed: result.removed, failures: failures)
            print(String(decoding: try encoder.encode(pruned), as: UTF8.self))
        } else {
            for checkpoint in plan.keep {
                print("keep    \(checkpoint.name)  (\((plan.reasons[checkpoint.path] ?? []).joined(separator: ", ")))")
            }
            for name in result.removed { print((dryRun ? "would remove " : "removed ") + name) }
        }
        for failure in failures { printError("vigil: warning: \(failure)") }
        return failures.isEmpty ? 0 : ExitCode.unrecoverable.rawValue
    default:
        let summary = CheckpointSummary(found, bestMetric: best)
        print(json ? String(decoding: try encoder.encode(summary), as: UTF8.self) : summary.rendered())
    }
    return 0
}

/// A `preserved/` or `.quarantine` that `vigil run` would refuse (a symbolic link, or not a directory).
func refusals(_ store: CheckpointStore) -> [CheckpointStore.Failure] {
    [CheckpointStore.preservedName, CheckpointStore.quarantineName].compactMap { store.refusal(of: $0) }
}

func byteCount(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(cFormat: "%.1f", value) + " " + units[unit]
}
