import Foundation
import Testing

@testable import VigilCore

/// The recipes in examples/queue: the systemd units pass `systemd-analyze verify` (when it is
/// installed), and every `vigil queue` command in the recipes is one this vigil accepts.
@Suite("examples/queue: the recipes")
struct QueueRecipeTests {
    static let examples = TestSupport.repositoryRoot + "/examples/queue"
    static let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze", "/usr/local/bin/systemd-analyze"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(
        "the systemd service and timer pass systemd-analyze verify",
        .enabled(
            if: systemdAnalyze != nil,
            "systemd-analyze is not installed (apt-get install systemd): the units are not verified"))
    func systemdUnits() throws {
        let dir = try TestSupport.temporaryDirectory("vigil-units")
        defer { TestSupport.remove(dir) }
        let service = TestSupport.read(QueueRecipeTests.examples + "/vigil-queue.service")
        let timer = TestSupport.read(QueueRecipeTests.examples + "/vigil-queue.timer")
        for setting in [
            "Type=oneshot", "TimeoutStartSec=6h", "KillSignal=SIGTERM", "KillMode=mixed", "SuccessExitStatus=75",
        ] {
            #expect(service.split(separator: "\n").contains { $0 == setting }, "\(setting) in the service")
        }
        #expect(timer.contains("Unit=vigil-queue.service") && timer.contains("OnCalendar="))
        // The same units with this checkout's vigil and a directory that exists.
        let local = service.replacingOccurrences(of: "/usr/local/bin/vigil", with: TestSupport.vigilBinary)
            .replacingOccurrences(of: "/srv/train", with: dir)
        try local.write(toFile: dir + "/vigil-queue.service", atomically: true, encoding: .utf8)
        try timer.write(toFile: dir + "/vigil-queue.timer", atomically: true, encoding: .utf8)
        let verify = try TestProcess([
            try #require(QueueRecipeTests.systemdAnalyze), "verify", "--man=no",
            dir + "/vigil-queue.service", dir + "/vigil-queue.timer",
        ])
        #expect(verify.exitCode() == 0, "\(verify.output)")
        // Unknown keys and bad values are warnings that leave the exit code 0: none either.
        #expect(verify.output.isEmpty, "\(verify.output)")
    }

    @Test("each vigil queue command in the recipes is accepted: add adds, run --dry-run plans")
    func recipeCommands() throws {
        let dir = try TestSupport.temporaryDirectory("vigil-recipes")
        defer { TestSupport.remove(dir) }
        try "BTCEUR\nETHEUR\n".write(toFile: dir + "/universe.txt", atomically: true, encoding: .utf8)
        let seed = try TestProcess.vigil(["queue", "add", "--log-dir", dir + "/logs", "--name", "seed", "--", "true"])
        #expect(seed.exitCode() == 0, "\(seed.output)")
        var checked: [String: Int] = [:]
        for file in ["crontab", "vigil-queue.service", "github-actions.yml", "gitlab-ci.yml"] {
            for line in TestSupport.read(QueueRecipeTests.examples + "/" + file).split(separator: "\n") {
                guard !line.trimmingCharacters(in: .whitespaces).hasPrefix("#"),
                    let range = line.range(of: "vigil queue ")
                else { continue }
                var text = line[range.upperBound...]
                for end in [";", ">>", "\""] {
                    if let cut = text.range(of: end) { text = text[..<cut.lowerBound] }
                }
                var words = text.split(separator: " ").map(String.init)
                let subcommand = words.removeFirst()
                words = words.map {
                    $0 == "universe.txt" || $0 == "symbol=universe.txt" ? "symbol=\(dir)/universe.txt" : $0
                }
                // The recipe's log directory (if any) gives way to the test's.
                if let at = words.firstIndex(of: "--log-dir") { words.removeSubrange(at...at + 1) }
                let extra = subcommand == "run" ? ["--dry-run"] : []
                let vigil = try TestProcess.vigil(["queue", subcommand, "--log-dir", dir + "/logs"] + extra + words)
                #expect(vigil.exitCode() == 0, "\(file): vigil queue \(subcommand) \(words): \(vigil.output)")
                checked[file, default: 0] += 1
            }
        }
        #expect(checked == ["crontab": 1, "vigil-queue.service": 1, "github-actions.yml": 2, "gitlab-ci.yml": 2])
    }
}
