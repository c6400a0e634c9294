import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// The static binary (`swift build -c release --static-swift-stdlib --product vigil`) and a Debian
/// root without any Swift runtime (scripts/clean-root), named by `VIGIL_TEST_STATIC_BINARY` and
/// `VIGIL_TEST_CLEAN_ROOT` (.ci/run sets both); whether they can be used here, asked once.
enum CleanRoot {
    static let environment = ProcessInfo.processInfo.environment
    static let binary = environment["VIGIL_TEST_STATIC_BINARY"] ?? ""
    static let root = environment["VIGIL_TEST_CLEAN_ROOT"] ?? ""
    /// What runs on the host, and inside the root: nothing of the caller's environment leaks in.
    static let hostEnvironment = ["PATH": "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"]

    /// Runs `argv` inside the root, in `directory` (a path inside it), with `/proc` mounted there in
    /// a mount namespace of its own that ends with the process: the Swift runtime finds the
    /// process's arguments through `/proc` (without it the static vigil starts but sees none), and a
    /// real host always has it.
    static func run(_ argv: [String], in directory: String = "/", timeout: Double = 120) -> ToolRunner.Result {
        ToolRunner.run(
            ["unshare", "--mount-proc=\(root)/proc", "chroot", root, "/usr/bin/env", "-C", directory] + argv,
            environment: hostEnvironment, workingDirectory: "/", timeout: timeout)
    }

    /// Nil when the test can run; else why not.
    static let unavailable: String? = {
        if binary.isEmpty || root.isEmpty {
            return "VIGIL_TEST_STATIC_BINARY and VIGIL_TEST_CLEAN_ROOT are not both set"
        }
        guard access(binary, X_OK) == 0 else { return "VIGIL_TEST_STATIC_BINARY=\(binary) is not an executable" }
        guard access(root + "/usr/bin/python3", X_OK) == 0 else {
            return "VIGIL_TEST_CLEAN_ROOT=\(root) has no /usr/bin/python3 (not a root made by scripts/clean-root)"
        }
        guard geteuid() == 0 else { return "chroot needs root, and this test runs as uid \(geteuid())" }
        let probe = run(["/bin/true"], timeout: 30)
        return probe.succeeded ? nil : "cannot chroot into \(root) with /proc mounted: \(probe.summary)"
    }()

    /// `CI=true`: the binary and the root must be there (.ci/run makes them), and their absence fails.
    static var required: Bool { environment["CI"] == "true" }
    static var runs: Bool { unavailable == nil || required }
}

/// The static vigil in a root with no Swift runtime, as on a training host it was copied to: what the
/// ELF needs, then `vigil --version`, the README's demo (examples/train.py on the embedded default
/// policy, crashing in epoch 4 and resumed) and `vigil status`, run with chroot. Not a timing test.
/// Skipped where the binary or the root is missing or chroot is impossible, unless `CI=true`.
@Suite(
    "The static binary in a clean root", .serialized, .timeLimit(.minutes(5)),
    .enabled(
        if: CleanRoot.runs,
        Comment(
            rawValue: "no static binary and clean root here (\(CleanRoot.unavailable ?? "")); build them with "
                + "`swift build -c release --static-swift-stdlib --product vigil` and scripts/clean-root, and set "
                + "VIGIL_TEST_STATIC_BINARY and VIGIL_TEST_CLEAN_ROOT, as .ci/run does; CI=true makes this a failure"))
)
struct StaticBinaryCleanRootTests {
    func requireRoot() throws {
        try #require(
            CleanRoot.unavailable == nil,
            "CI=true, but \(CleanRoot.unavailable ?? ""); .ci/run builds the static binary and runs scripts/clean-root"
        )
    }

    @Test("the binary's DT_NEEDED names libc, libm, libstdc++ and libgcc_s at most: no libswift*, no libFoundation*")
    func neededLibraries() throws {
        try requireRoot()
        let readelf = ToolRunner.run(
            ["readelf", "--dynamic", "--wide", CleanRoot.binary], environment: CleanRoot.hostEnvironment,
            workingDirectory: "/", timeout: 30)
        try #require(readelf.succeeded, "readelf: \(readelf.summary)")
        // " 0x0000000000000001 (NEEDED)  Shared library: [libc.so.6]"
        let needed = readelf.stdout.split(whereSeparator: \.isNewline).filter { $0.contains("(NEEDED)") }.compactMap {
            line -> String? in
            guard let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
            return String(line[line.index(after: open)..<close])
        }
        #expect(needed.contains("libc.so.6"), "DT_NEEDED: \(needed)")
        let swift = needed.filter {
            $0.hasPrefix("libswift") || $0.hasPrefix("libFoundation") || $0.hasPrefix("libdispatch")
                || $0.hasPrefix("libBlocksRuntime") || $0.hasPrefix("lib_Foundation") || $0.hasPrefix("libicu")
        }
        #expect(swift.isEmpty, "the static binary needs Swift runtime libraries: \(swift)")
        let allowed = ["libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "ld-linux"]
        let other = needed.filter { name in !swift.contains(name) && !allowed.contains { name.hasPrefix($0) } }
        #expect(other.isEmpty, "the static binary needs more than libc, libm, libstdc++ and libgcc_s: \(other)")
    }

    @Test("vigil --version, vigil run on the demo (crash in epoch 4, resumed, exit 0) and vigil status, in the root")
    func demoInCleanRoot() throws {
        try requireRoot()
        let root = CleanRoot.root
        // The root has no Swift of its own (scripts/clean-root checks it too; a root reused for long
        // should not have gained one).
        let swiftInRoot = ToolRunner.run(
            [
                "find", root, "-xdev", "(", "-name", "libswift*", "-o", "-name", "libFoundation*", ")", "-print",
                "-quit",
            ], environment: CleanRoot.hostEnvironment, workingDirectory: "/", timeout: 60)
        try #require(swiftInRoot.succeeded, "find: \(swiftInRoot.summary)")
        #expect(swiftInRoot.stdout.isEmpty, "the clean root holds a Swift runtime: \(swiftInRoot.stdout)")

        // A directory of this test's own inside the root: the binary, and the demo as the README runs it.
        let name = "vigil-test-\(UUID().uuidString.prefix(8))"
        let inside = "/" + name
        let dir = root + inside
        defer { TestSupport.remove(dir) }
        let files = FileManager.default
        try files.createDirectory(atPath: dir + "/examples", withIntermediateDirectories: true)
        try files.copyItem(atPath: CleanRoot.binary, toPath: dir + "/vigil")
        try #require(chmod(dir + "/vigil", 0o755) == 0)
        try files.copyItem(
            atPath: TestSupport.repositoryRoot + "/examples/train.py", toPath: dir + "/examples/train.py")
        let vigil = inside + "/vigil"

        let version = CleanRoot.run([vigil, "--version"], in: inside, timeout: 30)
        #expect(version.succeeded, "vigil --version: \(version.summary)")
        #expect(version.stdout.hasPrefix("vigil "), "vigil --version printed: \(version.stdout)")

        // `--epochs 4`: the demo still crashes in epoch 4 and resumes after epoch 3, in ~3 s, not 5.
        let run = CleanRoot.run([vigil, "run", "--", "python3", "examples/train.py", "--epochs", "4"], in: inside)
        let said = "stdout:\n\(run.stdout)\nstderr:\n\(run.stderr)"
        try #require(run.succeeded, "vigil run in the clean root: \(run.summary)\n\(said)")
        #expect(run.stdout.contains("training complete"), "\(said)")

        // What it wrote, inside the root: one run under logs/, its journal, its logs and reports.
        let logs = dir + "/logs"
        let runs = try files.contentsOfDirectory(atPath: logs).filter { $0.hasPrefix("train-") }
        try #require(runs.count == 1, "one run under \(logs): \(runs)")
        let journal = try TestSupport.journal(logs, runs[0])
        #expect(journal.state == .succeeded)
        #expect(journal.workingDirectory == inside)
        #expect(journal.attempts.count == 2)
        #expect(journal.attempts.first?.exit == .exited(1))
        #expect(journal.attempts.first?.verdict?.verdict == .recoverable)
        #expect(journal.attempts.last?.argv.suffix(1) == ["--resume"])
        #expect(journal.attempts.last?.verdict?.verdict == .success)
        let runDir = "\(logs)/\(runs[0])"
        #expect(TestSupport.read(runDir + "/attempt-001.log").contains("simulated hardware fault"))
        #expect(TestSupport.read(runDir + "/attempt-002.log").contains("training complete"))
        #expect(files.fileExists(atPath: runDir + "/attempt-001.report.md"))
        #expect(TestSupport.read(runDir + "/report.md").contains("succeeded"), "report.md")
        #expect(files.fileExists(atPath: dir + "/checkpoints/model_ep4.json"))

        let status = CleanRoot.run([vigil, "status"], in: inside, timeout: 30)
        #expect(status.succeeded, "vigil status: \(status.summary)")
        let row = status.stdout.split(whereSeparator: \.isNewline).first { $0.hasPrefix(runs[0]) }
        #expect(row?.contains("succeeded") == true, "vigil status printed: \(status.stdout)")
    }
}
