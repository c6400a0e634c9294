import Foundation
import VigilCore

/// Micro-benchmarks for scripts/bench (never part of `swift test`):
/// - `classify`: the classifier on a 64 KiB tail and the output scanner over a flood of ordinary
///   training log lines, with the pytorch policy;
/// - `queue-overhead DIR`: the queue runner's own work per job (QueueBench.swift);
/// - `queue-parts DIR`: where that time goes, after `queue-overhead DIR`;
/// - `queue-file DIR TOTAL PENDING [COMMAND…]`: writes DIR/logs/queue.json of TOTAL jobs, the first
///   PENDING pending (running COMMAND), for scripts/bench to time `vigil queue list` and `queue run`.
func measure(_ iterations: Int, _ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<iterations { body() }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(iterations)
}

func pad(_ s: String) -> String { s.padding(toLength: 44, withPad: " ", startingAt: 0) }

func classifyBench() throws {
    let policy = try PolicyLoader(searchDirectories: [FileManager.default.currentDirectoryPath + "/policies"]).load(
        "pytorch")
    var logLines: [String] = []
    for step in 0..<2000 {
        logLines.append(
            "Epoch 3/10 step \(step) loss=0.\(1000 + step % 900) lr=3.0e-4 grad_norm=1.2\(step % 10) tokens/s=41234")
    }
    let traceback = """
        Traceback (most recent call last):
          File "train.py", line 212, in <module>
            main()
          File "train.py", line 188, in main
            loss.backward()
        torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity)
        """.split(separator: "\n").map(String.init)
    var tailText = logLines.joined(separator: "\n")
    tailText = String(tailText.suffix(64 * 1024 - 600))
    let tail = OutputTail(stdout: tailText.split(separator: "\n").map(String.init), stderr: traceback)
    let classifier = Classifier(policy: policy)
    let outcome = AttemptOutcome(status: .exited(1), duration: 100, tail: tail)
    let verdict = classifier.classify(outcome)
    let perClassification = measure(200) { _ = classifier.classify(outcome) }

    let patterns = policy.rules.flatMap { $0.output ?? [] }
    let scanner = OutputScanner(patterns: patterns)
    var chunk = Data()
    while chunk.count < 64 * 1024 { chunk.append(Data((logLines.randomElement()! + "\n").utf8)) }
    var matches = 0
    let perChunk = measure(2000) {
        chunk.withUnsafeBytes { if scanner.firstMatch(in: $0) != nil { matches += 1 } }
    }
    // The hard case for the prefilter: every line has `loss` and an `info` (`INFO`, as logging
    // prints), so the nan-loss patterns' literals are all on every line and the regex runs on each.
    var logged = Data()
    var step = 0
    while logged.count < 64 * 1024 {
        logged.append(
            Data("2026-12-01 14:57:16,123 INFO trainer: step \(step) loss=0.\(1000 + step % 900) lr=3.0e-4\n".utf8))
        step += 1
    }
    var loggedMatches = 0
    let perLoggedChunk = measure(500) {
        logged.withUnsafeBytes { if scanner.firstMatch(in: $0) != nil { loggedMatches += 1 } }
    }
    let withoutPrefilter = patterns.filter { $0.prefilter == nil }.map(\.source)
    print(
        pad("classify 64 KiB tail (pytorch policy)")
            + String(
                format: "%8.3f ms  (target well under 1 ms) → %@ [%@]",
                perClassification * 1000, verdict.verdict.rawValue, verdict.rule))
    print(
        pad("scan output, \(patterns.count) pytorch patterns")
            + String(
                format: "%8.0f MB/s (target ≥ 800 MB/s; %d false matches)",
                Double(chunk.count) / perChunk / 1_048_576, matches))
    print(
        pad("  worst case: INFO and loss= on every line")
            + String(
                format: "%8.0f MB/s (%d false matches)", Double(logged.count) / perLoggedChunk / 1_048_576,
                loggedMatches))
    if !withoutPrefilter.isEmpty {
        print(pad("  patterns scanned by regex on every line") + withoutPrefilter.joined(separator: ", "))
    }
}

switch CommandLine.arguments.dropFirst().first {
case "queue-overhead":
    try queueOverheadBench(directory: CommandLine.arguments[2])
case "queue-parts":
    try queuePartsBench(directory: CommandLine.arguments[2])
case "queue-file":
    let arguments = CommandLine.arguments
    let command = arguments.count > 5 ? Array(arguments[5...]) : nil
    try writeBenchQueue(
        directory: arguments[2], total: Int(arguments[3]) ?? 10_000, pending: Int(arguments[4]) ?? 0, command: command)
default:
    try classifyBench()
}
