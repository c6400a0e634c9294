import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// `vigil checkpoints export` and `verify`: a run of the fixture trainer exported, read back by
/// vigil, by gzip and by Python's tarfile, and tampered with.
@Suite("Checkpoint export and verify", .serialized, .timeLimit(.minutes(2)))
struct ExportTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/checkpoints" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-export")
    }

    /// A run `name` of the fixture (5 steps, a checkpoint and a metadata sidecar each), finished.
    func run(
        _ name: String,
        checkpoints section: String =
            #"pattern: "ckpt_step{step}.json", metadata: "{stem}.meta.json", keepBest: { metric: "total_profit", order: "max" }"#,
        trainer: [String] = [], policyExtra: String = ""
    ) throws {
        let policy = dir + "/\(name).json5"
        try "{ checkpoints: { \(section) }, \(policyExtra) }".write(toFile: policy, atomically: true, encoding: .utf8)
        let vigil = try TestProcess.vigil(
            [
                "run", "--name", name, "--log-dir", logs, "--policy", policy, "--quiet", "--", TestSupport.python,
                TestSupport.fixtureTrainer, "--steps", "5", "--metadata",
            ] + trainer, directory: dir)
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
    }

    func vigil(_ arguments: [String]) throws -> (code: Int32?, process: TestProcess) {
        let process = try TestProcess.vigil(arguments, directory: dir)
        return (process.exitCode(), process)
    }

    /// Python's tarfile: the archive's member names and, for files, their bytes (hex).
    func pythonRead(_ archive: String) throws -> [String: String] {
        let script = """
            import json, sys, tarfile
            with tarfile.open(sys.argv[1]) as t:
                print(json.dumps({m.name: (t.extractfile(m).read().hex() if m.isfile() else "dir") for m in t}))
            """
        let process = try TestProcess([TestSupport.python, "-c", script, archive])
        #expect(process.exitCode() == 0, "\(process.output)")
        return try JSONDecoder().decode([String: String].self, from: Data(process.stdout.utf8))
    }

    /// Lower-case hex of `bytes`, as Python's `bytes.hex()`.
    static func hex(_ bytes: Data) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    /// The system's `tar -tzf` listing and `gzip -t` of `archive`: a real .tar.gz.
    func systemTools(_ archive: String) throws -> [String] {
        let gzip = try TestProcess(["/bin/sh", "-c", "gzip -t \"$0\" && echo ok", archive])
        #expect(gzip.exitCode() == 0 && gzip.stdout == "ok", "\(gzip.output)")
        let tar = try TestProcess(["/bin/sh", "-c", "tar -tzf \"$0\"", archive])
        #expect(tar.exitCode() == 0, "\(tar.output)")
        return tar.stdout.split(separator: "\n").map(String.init)
    }

    func manifest(_ archive: String) throws -> ExportManifest {
        let report = try ArchiveVerifier.verify(archive)
        return try #require(report.manifest, "\(report.problems)")
    }

    @Test(
        "export → verify: the newest checkpoint, its sidecar and report.md, every hash in MANIFEST.json; gzip and Python read it"
    )
    func roundTrip() throws {
        defer { TestSupport.remove(dir) }
        try run("r1")
        let archive = dir + "/r1.tar.gz"
        let export = try vigil(["checkpoints", "export", "r1", "--log-dir", logs, "--output", archive])
        #expect(export.code == 0, "\(export.process.output)")
        #expect(export.process.stdout == archive)
        let verify = try vigil(["checkpoints", "verify", archive])
        #expect(verify.code == 0, "\(verify.process.output)")
        #expect(verify.process.stdout.hasPrefix("ok: r1-step5 — 3 files"))

        let manifest = try manifest(archive)
        #expect(manifest.run == "r1" && manifest.checkpoint.step == 5 && manifest.checkpoint.selectedBy == "latest")
        #expect(manifest.checkpoint.metrics["total_profit"] != nil)
        #expect(
            manifest.files.map(\.path) == [
                "checkpoint/ckpt_step5.json", "checkpoint/ckpt_step5.meta.json", "report.md",
            ])
        #expect(manifest.command.last == "--metadata")
        #expect(manifest.vigilVersion == vigilVersion && !manifest.reportGenerated)
        let journal = try TestSupport.journal(logs, "r1")
        #expect(manifest.runID == journal.runID && manifest.policy == journal.policy && manifest.policy == "r1")
        let members = try pythonRead(archive)
        for file in manifest.files {
            let source = file.path == "report.md" ? "\(logs)/r1/report.md" : "\(checkpoints)/" + file.path.dropFirst(11)
            let bytes = try #require(FileManager.default.contents(atPath: source))
            #expect(members["r1-step5/" + file.path] == Self.hex(bytes))
            #expect(SHA256.hex(of: bytes) == file.sha256 && bytes.count == file.size)
        }
        #expect(members["r1-step5/MANIFEST.json"] != nil)
        // Nothing but the run's files: the system's tar lists exactly these, the manifest last.
        let listed = try systemTools(archive).map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        #expect(
            listed
                == ["r1-step5", "r1-step5/checkpoint"] + manifest.files.map { "r1-step5/" + $0.path }
                + ["r1-step5/MANIFEST.json"])

        // Written once: a second export refuses to replace it, unless --force; no temporary file is left.
        #expect(try vigil(["checkpoints", "export", "r1", "--log-dir", logs, "--output", archive]).code == 64)
        #expect(
            try vigil(["checkpoints", "export", "r1", "--log-dir", logs, "--output", archive, "--force"]).code == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }.isEmpty)
    }

    @Test(
        "--best picks the best by the policy's keepBest metric and order; --step N that step; --include-config the config"
    )
    func selection() throws {
        defer { TestSupport.remove(dir) }
        try #"{"lr": 0.01}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try run("r2", trainer: ["--config", "config.json"])
        struct Sidecar: Decodable {
            var profit: Double
            enum CodingKeys: String, CodingKey { case profit = "total_profit" }
        }
        var profits: [Int: Double] = [:]
        for step in 1...5 {
            let data = try #require(FileManager.default.contents(atPath: "\(checkpoints)/ckpt_step\(step).meta.json"))
            profits[step] = try JSONDecoder().decode(Sidecar.self, from: data).profit
        }
        #expect(Set(profits.values).count == 5)  // one best, and it is not the latest (step 5)
        let best = try #require(profits.max { $0.value < $1.value }?.key)
        let archive = dir + "/best.tar.gz"
        let export = try vigil(
            ["checkpoints", "export", "r2", "--log-dir", logs, "--best", "--include-config", "--output", archive])
        #expect(export.code == 0, "\(export.process.output)")
        let manifest = try manifest(archive)
        #expect(best != 5)
        #expect(manifest.checkpoint.step == best && manifest.checkpoint.selectedBy == "best total_profit (max)")
        #expect(manifest.checkpoint.metrics["total_profit"] == profits[best])
        #expect(manifest.config?.path == "config/config.json" && manifest.config?.matchesLastAttempt == true)
        #expect(manifest.files.contains { $0.path == "config/config.json" })

        let third = dir + "/third.tar.gz"
        #expect(
            try vigil(["checkpoints", "export", "r2", "--log-dir", logs, "--step", "3", "--output", third]).code == 0)
        #expect(try self.manifest(third).checkpoint.step == 3)
        let missing = try vigil(["checkpoints", "export", "r2", "--log-dir", logs, "--step", "9", "--output", third])
        #expect(missing.code == 64 && missing.process.stderr.contains("no valid checkpoint of step 9"))
        let both = try vigil(["checkpoints", "export", "r2", "--log-dir", logs, "--best", "--step", "2"])
        #expect(both.code == 64)
    }

    @Test("--include-config: the config as the run used it, after vigil's repairs (batch_size halved twice)")
    func configAfterRepairs() throws {
        defer { TestSupport.remove(dir) }
        let original = "training:\n  batch_size: 64\n  grad_accum: 1\n"
        try original.write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        try run(
            "r5",
            trainer: ["--config", "config.yaml", "--fail-while", "training.batch_size>16"],
            policyExtra: """
                extends: "python", restart: { maxRetries: 5, backoff: { initial: "10ms" } },
                config: { roles: { batchSize: "training.batch_size", gradientAccumulation: "training.grad_accum" } }
                """)
        let journal = try TestSupport.journal(logs, "r5")
        #expect(journal.attempts.count == 3, "\(journal.attempts.map { $0.verdict?.rule })")
        let archive = dir + "/config.tar.gz"
        let export = try vigil([
            "checkpoints", "export", "r5", "--log-dir", logs, "--include-config", "--output", archive,
        ])
        #expect(export.code == 0, "\(export.process.output)")
        let manifest = try manifest(archive)
        #expect(manifest.config?.path == "config/config.yaml" && manifest.config?.matchesLastAttempt == true)
        let exported = try #require(try pythonRead(archive)["r5-step5/config/config.yaml"])
        let text = String(decoding: try #require(hexBytes(exported)), as: UTF8.self)
        #expect(text.contains("batch_size: 16") && text.contains("grad_accum: 4"), "\(text)")
        #expect(text != original)

        // Without --include-config there is no config in the archive; a run without one cannot include it.
        let plain = dir + "/plain.tar.gz"
        #expect(try vigil(["checkpoints", "export", "r5", "--log-dir", logs, "--output", plain]).code == 0)
        #expect(try self.manifest(plain).config == nil)
        try run("r6")
        let none = try vigil(["checkpoints", "export", "r6", "--log-dir", logs, "--include-config"])
        #expect(none.code == 64 && none.process.stderr.contains("--include-config: the run names no config file"))
    }

    func hexBytes(_ hex: String) -> Data? {
        var data = Data()
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            data.append(byte)
            index = next
        }
        return data
    }

    @Test(
        "what is not a regular file or directory of the run is refused, and no archive is left; verify names what it was given"
    )
    func refusals() throws {
        defer { TestSupport.remove(dir) }
        try run("r7")
        let archive = dir + "/r7.tar.gz"
        // The run's report.md replaced by a link to a file elsewhere: refused, nothing written.
        let report = "\(logs)/r7/report.md"
        try FileManager.default.removeItem(atPath: report)
        try FileManager.default.createSymbolicLink(atPath: report, withDestinationPath: "/etc/hostname")
        let linked = try vigil(["checkpoints", "export", "r7", "--log-dir", logs, "--output", archive])
        #expect(linked.code == 1 && linked.process.stderr.contains("report.md: is a symbolic link: refused"))
        #expect(!FileManager.default.fileExists(atPath: archive))
        try FileManager.default.removeItem(atPath: report)
        // A checkpoint's sidecar that is a link: refused too.
        let sidecar = checkpoints + "/ckpt_step5.meta.json"
        try FileManager.default.moveItem(atPath: sidecar, toPath: dir + "/moved.meta.json")
        try FileManager.default.createSymbolicLink(atPath: sidecar, withDestinationPath: dir + "/moved.meta.json")
        let side = try vigil(["checkpoints", "export", "r7", "--log-dir", logs, "--step", "5", "--output", archive])
        #expect(side.code == 1, "\(side.process.output)")
        #expect(
            side.process.stderr.contains("ckpt_step5.meta.json: is a symbolic link: refused"), "\(side.process.stderr)")
        #expect(!FileManager.default.fileExists(atPath: archive))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }.isEmpty)

        // verify: a file that is no archive, an empty one, a missing one.
        try "root:x:0:0:root:/root:/bin/sh\n".write(toFile: dir + "/text.tar.gz", atomically: true, encoding: .utf8)
        #expect(FileManager.default.createFile(atPath: dir + "/empty.tar", contents: Data()))
        for name in ["text.tar.gz", "empty.tar"] {
            let result = try vigil(["checkpoints", "verify", dir + "/" + name])
            #expect(result.code == 1, "\(result.process.output)")
            #expect(
                result.process.stderr.contains("\(name): not an archive written by vigil checkpoints export"),
                "\(result.process.stderr)")
        }
        let missing = try vigil(["checkpoints", "verify", dir + "/missing.tar.gz"])
        #expect(missing.code == 66 && missing.process.stderr.contains("missing.tar.gz: cannot open"))
    }

    @Test("a directory checkpoint (checkpoint-N/) exports whole; a symbolic link inside it is refused")
    func directoryCheckpoint() throws {
        defer { TestSupport.remove(dir) }
        try run(
            "r3", checkpoints: #"pattern: "checkpoint-{step}""#,
            trainer: ["--layout", "directory", "--checkpoint-pattern", "checkpoint-{step}"])
        let archive = dir + "/dir.tar.gz"
        let export = try vigil(["checkpoints", "export", "r3", "--log-dir", logs, "--output", archive])
        #expect(export.code == 0, "\(export.process.output)")
        let manifest = try manifest(archive)
        #expect(manifest.checkpoint.isDirectory && manifest.checkpoint.name == "checkpoint-5")
        let inside = try FileManager.default.contentsOfDirectory(atPath: checkpoints + "/checkpoint-5").sorted()
        #expect(!inside.isEmpty)
        #expect(Set(manifest.files.map(\.path)) == Set(inside.map { "checkpoint/checkpoint-5/" + $0 } + ["report.md"]))
        #expect(try pythonRead(archive)["r3-step5/checkpoint/checkpoint-5"] == "dir")
        #expect(try vigil(["checkpoints", "verify", archive]).code == 0)

        try FileManager.default.createSymbolicLink(
            atPath: checkpoints + "/checkpoint-5/escape", withDestinationPath: "/etc/passwd")
        let refused = try vigil(["checkpoints", "export", "r3", "--log-dir", logs, "--output", dir + "/link.tar.gz"])
        #expect(refused.code == 1)
        #expect(refused.process.stderr.contains("escape: is a symbolic link: refused"), "\(refused.process.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/link.tar.gz"))
    }

    @Test("a tampered archive fails verify: a changed byte, a file added, a symbolic link, a path with '..'")
    func tampered() throws {
        defer { TestSupport.remove(dir) }
        try run("r4")
        let archive = dir + "/r4.tar.gz"
        #expect(try vigil(["checkpoints", "export", "r4", "--log-dir", logs, "--output", archive]).code == 0)
        var bytes = try #require(FileManager.default.contents(atPath: archive))
        let at = try #require(bytes.range(of: Data(#""total_profit""#.utf8))?.lowerBound)
        bytes[at + 1] = UInt8(ascii: "T")
        try bytes.write(to: URL(fileURLWithPath: dir + "/flipped.tar.gz"))
        let flipped = try vigil(["checkpoints", "verify", dir + "/flipped.tar.gz"])
        #expect(
            flipped.code == 1 && flipped.process.stderr.contains("CRC-32 does not match"), "\(flipped.process.output)")

        // Inside a plain tar (no gzip CRC to give it away) the manifest's SHA-256 does.
        let script = """
            import gzip, io, sys, tarfile
            raw = gzip.open(sys.argv[1]).read()
            i = raw.find(b'"total_profit"')
            open(sys.argv[2] + "/changed.tar", "wb").write(raw[:i + 1] + b"T" + raw[i + 2:])
            for kind in ("added", "link", "dotdot"):
                source = tarfile.open(fileobj=io.BytesIO(raw))
                out = tarfile.open(sys.argv[2] + "/" + kind + ".tar", "w", format=tarfile.USTAR_FORMAT)
                for member in source:
                    out.addfile(member, source.extractfile(member) if member.isfile() else None)
                extra = tarfile.TarInfo({"added": "r4-step5/extra.bin", "link": "r4-step5/link",
                                         "dotdot": "r4-step5/../evil"}[kind])
                if kind == "link":
                    extra.type, extra.linkname = tarfile.SYMTYPE, "/etc/passwd"
                    out.addfile(extra)
                else:
                    extra.size = 3
                    out.addfile(extra, io.BytesIO(b"abc"))
                out.close()
            """
        let python = try TestProcess([TestSupport.python, "-c", script, archive, dir])
        #expect(python.exitCode() == 0, "\(python.output)")
        let expected = [
            "changed": "checkpoint/ckpt_step5.meta.json: SHA-256",
            "added": "extra.bin: in the archive, not in the manifest",
            "link": "a symbolic link refused", "dotdot": "a path with '..' refused",
        ]
        for (name, message) in expected {
            let report = try ArchiveVerifier.verify(dir + "/\(name).tar")
            #expect(!report.isValid)
            #expect(report.problems.contains { $0.contains(message) }, "\(name): \(report.problems)")
            let cli = try vigil(["checkpoints", "verify", dir + "/\(name).tar"])
            #expect(cli.code == 1 && cli.process.stderr.contains(message), "\(cli.process.output)")
        }
    }

    @Test("a file of several MiB is hashed and written in parallel, chunk by chunk: the same bytes and digest")
    func largeFile() throws {
        defer { TestSupport.remove(dir) }
        var generator = SplitMix64(seed: 7)
        let size = (5 << 20) + 12_345  // five whole chunks and a short one
        let data = Data((0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        let source = dir + "/weights.bin"
        try data.write(to: URL(fileURLWithPath: source))
        let path = dir + "/large.tar.gz"
        let digest = try TestSupport.exportFile(source, to: path, size: size).digest
        #expect(digest == SHA256.hex(of: data))
        let script = """
            import hashlib, sys, tarfile
            with tarfile.open(sys.argv[1]) as t:
                print(hashlib.sha256(t.extractfile("r/weights.bin").read()).hexdigest())
            """
        let python = try TestProcess([TestSupport.python, "-c", script, path])
        #expect(python.exitCode() == 0 && python.stdout == digest, "\(python.output)")
        #expect(try systemTools(path) == ["r/weights.bin"])
    }

    @Test(
        "CRC-32 (carry-less multiplication where the CPU has it): the check value, and the bitwise definition at every length, alignment and split"
    )
    func crc32() {
        var check = CRC32()
        check.update(Array("123456789".utf8))
        #expect(check.value == 0xCBF4_3926)
        func bitwise(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                c ^= UInt32(byte)
                for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
            }
            return ~c
        }
        var generator = SplitMix64(seed: 16)
        let data = (0..<4_200).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for length in Array(0...300) + [1_023, 1_024, 4_099] {
            for offset in [0, 1, 7, 13] where offset + length <= data.count {
                let slice = data[offset..<(offset + length)]
                var crc = CRC32()
                slice.withUnsafeBytes { crc.update($0) }
                #expect(crc.value == bitwise(slice), "length \(length), offset \(offset)")
            }
        }
        var split = CRC32()
        for range in [0..<100, 100..<101, 101..<2_000, 2_000..<4_200] { split.update(Array(data[range])) }
        #expect(split.value == bitwise(data[...]))
    }

    @Test("long names get PAX headers, others a ustar prefix; what is written reads back with the same bytes")
    func longNames() throws {
        defer { TestSupport.remove(dir) }
        let long = "r/" + String(repeating: "deep/", count: 60) + "file.bin"  // 310 bytes: no ustar split
        let split = "r/" + String(repeating: "a", count: 120) + "/weights.bin"  // prefix + name
        let path = dir + "/names.tar.gz"
        var digests: [String: String] = [:]
        _ = try CheckpointExport.atomically(path, permissions: 0o600) { writer in
            try writer.addDirectory("r", mode: 0o755, modified: 0)
            for (name, size) in [(long, 70_000), (split, 5), ("r/empty", 0)] {
                let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) })
                digests[name] = try writer.addData(name, data, mode: 0o644, modified: 1_700_000_000)
            }
        }
        #expect(TarHeader.ustarSplit(long) == nil && TarHeader.ustarSplit(split) != nil)
        let members = try pythonRead(path)
        #expect(Set(members.keys) == ["r", long, split, "r/empty"])
        #expect(members[split] == "001f3e5d7c")
        #expect(members[long]?.count == 140_000)
        #expect(TarHeader.paxRecord("path", "x") == "9 path=x\n")  // 9 bytes, the "9" included
        // 8 GiB and more does not fit ustar's 11 octal digits: a PAX size record carries it.
        let huge = TarHeader.blocks(
            name: "r/big.bin", size: 10 << 30, mode: 0o644, modified: 0, type: UInt8(ascii: "0"))
        #expect(huge.count == 3 && huge[0][156] == UInt8(ascii: "x"))
        #expect(String(decoding: huge[1], as: UTF8.self).hasPrefix(TarHeader.paxRecord("size", "10737418240")))
        guard case .entry(let parsed) = TarHeader.parse(huge[2]) else { throw VigilError(.io, "no header") }
        #expect(parsed.name == "r/big.bin" && parsed.size == TarHeader.largestOctalSize)
        #expect(
            TarHeader.paxRecord("path", String(repeating: "y", count: 93)) == "103 path="
                + String(repeating: "y", count: 93) + "\n")
    }
}
