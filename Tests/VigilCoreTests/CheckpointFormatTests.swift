import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// SHA-256 against the NIST vectors, sidecar verification, and each format check with a complete file and a
/// truncated copy of it.
@Suite("Checkpoint formats and SHA-256", .serialized, .timeLimit(.minutes(2)))
final class CheckpointFormatTests {
    let dir: String

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-format")
    }

    deinit {
        TestSupport.remove(dir)
    }

    // MARK: - Helpers

    func digest(_ text: String) -> String {
        SHA256.hex(of: Data(text.utf8))
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    /// A copy of `path` named `name` holding only its first `length` bytes (negative: all but the last -length).
    func truncatedCopy(of path: String, to name: String, length: Int) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let keep = length < 0 ? data.count + length : length
        return try write(name, Array(data.prefix(keep)))
    }

    /// Runs a Python script with the temporary directory as its working directory. Spawned through VigilCore's
    /// own spawner (`TestProcess`), not Foundation.Process, whose child a process-wide reaper would steal.
    func python(_ script: String) throws {
        let process = try TestProcess([
            TestSupport.python, "-c", "import os, sys\nos.chdir(sys.argv[1])\n" + script, dir,
        ])
        let code = process.exitCode(timeout: 60)
        try #require(code == 0, "python3 failed (exit \(String(describing: code))): \(process.stderr)\n\(script)")
    }

    func isComplete(_ verdict: FormatVerdict) -> Bool {
        if case .complete = verdict { return true }
        return false
    }

    func isIncomplete(_ verdict: FormatVerdict) -> Bool {
        if case .incomplete = verdict { return true }
        return false
    }

    /// The sentence a complete or incomplete verdict carries.
    func text(_ verdict: FormatVerdict) -> String {
        switch verdict {
        case .complete(let what), .incomplete(let what): return what
        case .unknown: return "unknown"
        }
    }

    func check(_ path: String) -> FormatVerdict {
        CheckpointFormat.check(path, isDirectory: false)
    }

    // MARK: - SHA-256

    @Test("NIST vectors")
    func nistVectors() {
        #expect(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let long =
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
            + "mnopqrstnopqrstu"
        #expect(digest(long) == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        let million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.hex(of: Data(repeating: 0x61, count: 1_000_000)) == million)
    }

    @Test("Feeding the message in uneven pieces gives the same digest")
    func incrementalUpdates() {
        let bytes = [UInt8](repeating: 0x61, count: 1_000_000)
        var hasher = SHA256()
        var offset = 0
        var step = 1
        bytes.withUnsafeBytes { all in
            while offset < all.count {
                let count = min(step, all.count - offset)
                hasher.update(UnsafeRawBufferPointer(rebasing: all[offset..<offset + count]))
                offset += count
                step = step % 197 + 13  // crosses block boundaries at every phase
            }
        }
        #expect(
            SHA256.hexString(hasher.finalize())
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // Padding edge cases: 55, 56, 63, 64 and 65 bytes (one or two final blocks).
        #expect(
            digest(String(repeating: "a", count: 55))
                == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        #expect(
            digest(String(repeating: "a", count: 56))
                == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        #expect(
            digest(String(repeating: "a", count: 64))
                == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }

    @Test("Hashing a file streams it in chunks and matches sha256sum")
    func fileHash() throws {
        // 2.5 MiB + 7: three reads, the last one partial. Digest from sha256sum / hashlib.
        let path = try write("big.bin", [UInt8](repeating: 0x61, count: 5 * 1024 * 1024 / 2 + 7))
        #expect(try SHA256.hex(ofFile: path) == "4235b8b69eba22b7d7af0d0dc83bf35b2d05b052aeb0ef389d2984a8255e49cd")
        let empty = try write("empty.bin", [])
        #expect(try SHA256.hex(ofFile: empty) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("Hashing refuses symbolic links, directories and missing files with a VigilError naming the file")
    func fileHashErrors() throws {
        let target = try write("target.bin", "x")
        let link = dir + "/link.bin"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        for path in [link, dir, dir + "/missing.bin"] {
            do {
                _ = try SHA256.hex(ofFile: path)
                Issue.record("hashing \(path) should have thrown")
            } catch let error as VigilError {
                #expect(error.code == .io)
                #expect(error.file == path)
            }
        }
    }

    @Test("Directory hash: sorted relative paths, sizes and content hashes; symbolic links ignored")
    func directoryHash() throws {
        func makeTree(_ root: String, reversed: Bool) throws {
            var files: [(String, [UInt8])] = [
                ("a.txt", Array("alpha".utf8)), ("sub/b.bin", [0, 1, 2]),
                ("sub/deeper/c", []),
            ]
            if reversed { files.reverse() }
            for (name, bytes) in files {
                let path = root + "/" + name
                try FileManager.default.createDirectory(
                    atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            }
        }
        let first = dir + "/tree1"
        let second = dir + "/tree2"
        try makeTree(first, reversed: false)
        try makeTree(second, reversed: true)
        // Computed independently with hashlib over "path\0size\0hex\n" records.
        let expected = "3985ce082b9ccb3fbeb022fa1413053337502659eaf53e54675d954830dc5d6d"
        #expect(try SHA256.hex(ofDirectory: first) == expected)
        #expect(try SHA256.hex(ofDirectory: second) == expected)
        try FileManager.default.createSymbolicLink(atPath: second + "/z-link", withDestinationPath: first + "/a.txt")
        try FileManager.default.createSymbolicLink(atPath: second + "/sub/dir-link", withDestinationPath: first)
        #expect(try SHA256.hex(ofDirectory: second) == expected)
        try Data("alphA".utf8).write(to: URL(fileURLWithPath: second + "/a.txt"))
        #expect(try SHA256.hex(ofDirectory: second) != expected)
    }

    @Test("sha256 sidecars: verified, mismatched, absent, malformed, and for directories")
    func sidecars() throws {
        let path = try write("model.bin", "weights")
        #expect(CheckpointFormat.verifySHA256Sidecar(for: path, isDirectory: false) == nil)
        try write("model.bin.sha256", "\(digest("weights"))  model.bin\n")
        #expect(CheckpointFormat.verifySHA256Sidecar(for: path, isDirectory: false) == .complete("sha256 verified"))
        try write("model.bin.sha256", "\(digest("weights").uppercased()) *model.bin\n")
        #expect(CheckpointFormat.verifySHA256Sidecar(for: path, isDirectory: false) == .complete("sha256 verified"))
        try write("model.bin.sha256", "\(digest("other"))  model.bin\n")
        #expect(
            CheckpointFormat.verifySHA256Sidecar(for: path, isDirectory: false)
                == .incomplete("sha256 mismatch: expected \(digest("other")), got \(digest("weights"))"))
        try write("model.bin.sha256", "not a digest\n")
        #expect(isIncomplete(CheckpointFormat.verifySHA256Sidecar(for: path, isDirectory: false) ?? .unknown))

        let directory = dir + "/ckpt-10"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data("w".utf8).write(to: URL(fileURLWithPath: directory + "/weights"))
        try write("ckpt-10.sha256", "\(try SHA256.hex(ofDirectory: directory))  ckpt-10\n")
        #expect(
            CheckpointFormat.verifySHA256Sidecar(for: directory, isDirectory: true)
                == .complete("sha256 verified"))
        try Data("W".utf8).write(to: URL(fileURLWithPath: directory + "/weights"))
        #expect(isIncomplete(CheckpointFormat.verifySHA256Sidecar(for: directory, isDirectory: true) ?? .unknown))
    }

    // MARK: - Formats

    @Test("zip family: torch-style .pt, .zip, zip64, np.savez; truncated copies are incomplete")
    func zipFamily() throws {
        try python(
            """
            import zipfile, numpy as np
            for name in ["model.pt", "archive.zip"]:
                with zipfile.ZipFile(name, "w") as z:
                    z.writestr("archive/data.pkl", b"\\x80\\x02}q\\x00." * 100)
                    z.writestr("archive/data/0", bytes(range(256)) * 40)
            zipfile.ZIP_FILECOUNT_LIMIT = 1  # forces the zip64 end records
            with zipfile.ZipFile("big.pth", "w") as z:
                z.writestr("a", b"a" * 1000)
                z.writestr("b", b"b" * 1000)
            with zipfile.ZipFile("commented.ckpt", "w") as z:
                z.writestr("a", b"a" * 1000)
                z.comment = b"PK\\x05\\x06 trailing comment"
            np.savez("arrays.npz", a=np.arange(1000), b=np.ones((10, 10)))
            """)
        for name in ["model.pt", "archive.zip", "big.pth", "commented.ckpt", "arrays.npz"] {
            let path = dir + "/" + name
            #expect(isComplete(check(path)), "\(name): \(check(path))")
            for (label, length) in [("half", -(Int(try size(path)) / 2)), ("tail", -1), ("end", -30)] {
                let cut = try truncatedCopy(of: path, to: "cut-\(label)-\(name)", length: length)
                #expect(isIncomplete(check(cut)), "\(name) cut (\(label)): \(check(cut))")
            }
        }
        // Only the magic-number pickle of a legacy torch.save file: the rest is missing.
        let pickle: [UInt8] = [
            0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
        ]
        #expect(
            check(try write("legacy.pt", pickle))
                == .incomplete("legacy torch.save file cut short: it ends before its protocol version pickle"))
        #expect(isIncomplete(check(try write("legacy.zip", pickle))))
        #expect(isIncomplete(check(try write("legacy.npz", pickle))))
        #expect(isComplete(check(try write("empty.zip", [0x50, 0x4b, 0x05, 0x06] + [UInt8](repeating: 0, count: 18)))))
    }

    func size(_ path: String) throws -> UInt64 {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0
    }

    @Test("safetensors: header length, JSON header and data_offsets against the file size")
    func safetensors() throws {
        let header =
            #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
        bytes += Array(header.utf8) + [UInt8](repeating: 0x3f, count: 24)
        let path = try write("model.safetensors", bytes)
        #expect(isComplete(check(path)), "\(check(path))")
        #expect(isIncomplete(check(try truncatedCopy(of: path, to: "cut-data.safetensors", length: -1))))
        #expect(isIncomplete(check(try truncatedCopy(of: path, to: "cut-header.safetensors", length: 40))))
        #expect(isIncomplete(check(try truncatedCopy(of: path, to: "cut-length.safetensors", length: 5))))
        var garbled = bytes
        garbled[8] = 0x5b  // "[": the header no longer parses as an object
        #expect(isIncomplete(check(try write("garbled.safetensors", garbled))))
    }

    @Test("JSON: parses and is not empty")
    func json() throws {
        let path = try write("ckpt_step3.json", #"{"step": 3, "weights": [0.1, 0.2, 0.3], "loss": 0.5}"#)
        #expect(check(path) == .complete("JSON parses"))
        #expect(isIncomplete(check(try truncatedCopy(of: path, to: "cut.json", length: -1))))
        #expect(isIncomplete(check(try truncatedCopy(of: path, to: "cut-half.json", length: 20))))
        #expect(isIncomplete(check(try write("blank.json", " \n"))))
    }

    @Test("npy: header shape and dtype give the data size, v1 and v2 headers")
    func npy() throws {
        try python(
            """
            import numpy as np
            np.save("floats.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
            np.save("scalar.npy", np.int64(7))
            np.save("strings.npy", np.array(["ab", "cdefg"]))
            np.save("fortran.npy", np.asfortranarray(np.ones((5, 7), dtype=np.complex128)))
            with open("v2.npy", "wb") as f:
                np.lib.format.write_array(f, np.ones((4, 4), dtype=np.uint8), version=(2, 0))
            np.save("objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
            """)
        for name in ["floats.npy", "scalar.npy", "strings.npy", "fortran.npy", "v2.npy"] {
            let path = dir + "/" + name
            #expect(isComplete(check(path)), "\(name): \(check(path))")
            let cut = try truncatedCopy(of: path, to: "cut-\(name)", length: -1)
            #expect(isIncomplete(check(cut)), "\(name) cut: \(check(cut))")
            let cutHeader = try truncatedCopy(of: path, to: "cut-header-\(name)", length: 30)
            #expect(isIncomplete(check(cutHeader)), "\(name) header cut: \(check(cutHeader))")
        }
        #expect(check(dir + "/objects.npy") == .unknown)
        #expect(isIncomplete(check(try write("bogus.npy", "not numpy at all"))))
    }

    @Test("LightGBM text models need 'end of trees'; other text is unknown")
    func lightgbm() throws {
        var model = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=3\n\n"
        for index in 0..<60 {
            model += "Tree=\(index)\nnum_leaves=2\nsplit_feature=1\nthreshold=0.5\nleaf_value=0.1 -0.1\n\n"
        }
        model +=
            "end of trees\n\nfeature_importances:\nf1=60\n\nparameters:\n[boosting: gbdt]\n"
            + "end of parameters\n\npandas_categorical:null\n"
        let path = try write("lgbm_round60.txt", model)
        #expect(isComplete(check(path)), "\(check(path))")
        let cutAt = model.utf8.count - model.components(separatedBy: "end of trees").last!.utf8.count - 20
        #expect(isIncomplete(check(try truncatedCopy(of: path, to: "cut_round60.txt", length: cutAt))))
        #expect(isComplete(check(try write("v.model", "version=v3\n" + model.dropFirst(5)))))
        #expect(check(try write("notes.txt", "hello\n")) == .unknown)
    }

    @Test("Directories, other extensions and unreadable files are unknown")
    func others() throws {
        #expect(CheckpointFormat.check(dir, isDirectory: true) == .unknown)
        #expect(check(try write("weights.onnx", "anything")) == .unknown)
        #expect(check(dir + "/missing.json") == .unknown)
    }

    // MARK: - Real samples (Tests/Fixtures/checkpoints, made by make_fixtures.py)

    static let fixtures = TestSupport.repositoryRoot + "/Tests/Fixtures/checkpoints/"

    /// Lengths to cut a file of `size` bytes down to: every one up to 1 KiB, else about a hundred spread
    /// over the file plus every one of the last 64 bytes.
    func cutLengths(_ size: Int, from first: Int = 1) -> [Int] {
        guard size > 1024 else { return Array(first..<max(first, size)) }
        return Set(stride(from: first, to: size, by: size / 100)).union(max(first, size - 64)..<size).sorted()
    }

    /// Writes each truncated copy of `bytes` as `cut-NAME` and expects every one to be incomplete.
    func expectTruncationsIncomplete(_ bytes: [UInt8], name: String, lengths: [Int]) throws {
        var passed: [String] = []
        for length in lengths {
            let verdict = check(try write("cut-" + name, Array(bytes.prefix(length))))
            if !isIncomplete(verdict) { passed.append("\(length) bytes: \(verdict)") }
        }
        #expect(passed.isEmpty, "\(name) (\(bytes.count) bytes) cut to \(passed.prefix(5).joined(separator: "; "))")
    }

    func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + name)))
    }

    @Test(
        "Real torch.save, h5py and XGBoost samples are complete; every truncated copy is incomplete",
        arguments: [
            ("state_dict.pt", "zip central directory intact (10 entries)"),
            ("pytorch_model.bin", "zip central directory intact (10 entries)"),
            ("lightning_like.ckpt", "zip central directory intact (22 entries)"),
            (
                "state_dict_legacy.pt",
                "legacy torch.save: 5 pickles walk to their STOPs and 4 storages (124 bytes) end at the end of the file"
            ),
            (
                "legacy_protocol1.pt",
                "legacy torch.save: 5 pickles walk to their STOPs and 4 storages (124 bytes) end at the end of the file"
            ),
            (
                "mixed_legacy.pth",
                "legacy torch.save: 5 pickles walk to their STOPs and 5 storages (185 bytes) end at the end of the file"
            ),
            (
                "lightning_like_legacy.ckpt",
                "legacy torch.save: 5 pickles walk to their STOPs and 16 storages (420 bytes) end at the end of the file"
            ),
            ("model.h5", "HDF5 superblock (version 0): data ends at byte 11088 of 11088, not marked open for writing"),
            (
                "superblock_v2.h5",
                "HDF5 superblock (version 2): data ends at byte 2080 of 2080, not marked open for writing"
            ),
            ("latest.hdf5", "HDF5 superblock (version 3): data ends at byte 2687 of 2687, not marked open for writing"),
            ("model.ubj", "UBJSON object walks to its closing brace at the end of the file"),
        ])
    func realSamples(name: String, expected: String) throws {
        #expect(check(Self.fixtures + name) == .complete(expected))
        let bytes = try fixture(name)
        // A 1-byte `.bin` is no format at all: unknown, not incomplete (see the .bin test).
        try expectTruncationsIncomplete(
            bytes, name: name, lengths: cutLengths(bytes.count, from: name.hasSuffix(".bin") ? 2 : 1))
    }

    @Test("An HDF5 file whose writer died before closing it is incomplete, though h5py still opens it")
    func killedHDF5Writer() throws {
        #expect(
            check(Self.fixtures + "killed_writer.h5")
                == .incomplete(
                    "HDF5 file is still marked open for writing: its writer has not closed it (or died first)"))
    }

    @Test("HDF5: a moved file, a version 1 superblock, a cut superblock, bad address sizes, no signature")
    func hdf5Superblocks() throws {
        // 512 bytes prepended: the library finds the superblock there and shifts the end-of-file address.
        let moved = try write("moved.h5", [UInt8](repeating: 0, count: 512) + fixture("model.h5"))
        #expect(
            check(moved)
                == .complete(
                    "HDF5 superblock (version 0): data ends at byte 11600 of 11600, not marked open for writing"))
        #expect(isIncomplete(check(try truncatedCopy(of: moved, to: "moved-cut.h5", length: -1))))
        // Version 1 (h5py cannot write one): the version 0 layout plus 4 bytes before the addresses.
        func version1(endOfFile: UInt64) -> [UInt8] {
            var bytes: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 1, 0, 0, 0, 0, 8, 8, 0, 4, 0, 16, 0]
            bytes += [0, 0, 0, 0, 32, 0, 0, 0]  // flags, indexed storage K, reserved
            for address in [0, UInt64.max, endOfFile, UInt64.max] {
                bytes += withUnsafeBytes(of: address.littleEndian) { Array($0) }
            }
            return bytes + [UInt8](repeating: 0, count: 200 - bytes.count)
        }
        #expect(
            check(try write("v1.h5", version1(endOfFile: 200)))
                == .complete("HDF5 superblock (version 1): data ends at byte 200 of 200, not marked open for writing"))
        #expect(
            check(try write("v1-short.h5", version1(endOfFile: 201)))
                == .incomplete(
                    "HDF5 file cut short: its superblock (version 1) says the data ends at byte 201, but the file has 200 bytes"
                ))
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]
        #expect(
            isIncomplete(check(try write("zeros-after-signature.h5", signature + [UInt8](repeating: 0, count: 100)))))
        #expect(isIncomplete(check(try write("userblock.hdf5", [UInt8](repeating: 0, count: 512) + signature))))
        #expect(isIncomplete(check(try write("cut.h5", Array(signature.prefix(5))))))
        #expect(isIncomplete(check(try write("zeros.hdf5", [UInt8](repeating: 0, count: 64)))))
        #expect(check(try write("future.h5", signature + [9] + [UInt8](repeating: 0, count: 100))) == .unknown)
    }

    @Test("Legacy torch.save: a corrupt storage header is incomplete, bytes after the storages are unknown")
    func legacyTorchEdges() throws {
        var bytes = try fixture("state_dict_legacy.pt")
        #expect(check(try write("trailing.pt", bytes + [0])) == .unknown)
        // The storages (4 records, 124 bytes) end the file, in the order of their sorted keys; each starts with
        // its element count (a tensor of this model has 2 to 12 elements).
        let first = bytes.count - 124
        let count = bytes.uint64(at: first)
        #expect((2...12).contains(count))
        bytes[first] += 1
        let verdict = check(try write("corrupt.pt", bytes))
        #expect(text(verdict).hasPrefix("legacy torch.save file is corrupt: storage "), "\(verdict)")
        #expect(text(verdict).hasSuffix("holds \(count + 1) elements, its pickle says \(count)"), "\(verdict)")
    }

    @Test("joblib pickles with inline numpy data or compression are unknown; cut inside the first frame, incomplete")
    func joblib() throws {
        let bytes = try fixture("joblib_numpy.pkl")
        #expect(check(Self.fixtures + "joblib_numpy.pkl") == .unknown)
        #expect(isIncomplete(check(try write("cut-joblib.pkl", Array(bytes.prefix(100))))))
        try python(
            """
            import pickle, zlib
            open("compressed.pkl", "wb").write(zlib.compress(pickle.dumps(list(range(100)))))
            """)
        #expect(check(dir + "/compressed.pkl") == .unknown)
    }

    // MARK: - Pickles from the standard library

    @Test("Stdlib pickles of protocols 0–5 (large bytes and strings, big ints, memo, recursion) are complete")
    func stdlibPickles() throws {
        try python(
            """
            import pickle, struct
            big = bytes(range(256)) * 1200      # 300 KiB: BINBYTES from protocol 3, crosses the 64 KiB read buffer
            text = "ünïcode " * 20000           # BINUNICODE of 200,000 bytes
            shared = ["shared"] * 3
            loop = []
            loop.append(loop)
            obj = {"big": big, "text": text, "ints": [0, 1, -1, 255, 65535, -2**31, 2**31, 2**63, 2**1000, -(2**3000)],
                   "floats": [0.5, float("inf"), -1e300], "tuple": (1, (2, 3), "x"), "set": {1, 2},
                   "frozen": frozenset({3}), "none": None, "bools": [True, False], "shared": shared, "again": shared,
                   "bytearray": bytearray(b"abc" * 100), "nested": [[[[]]]], "loop": loop}
            for protocol in range(6):
                with open(f"p{protocol}.pkl", "wb") as f:
                    pickle.dump(obj, f, protocol=protocol)
                assert pickle.load(open(f"p{protocol}.pkl", "rb"))["big"] == big
            with open("two.pickle", "wb") as f:
                pickle.dump(1, f)
                pickle.dump(obj, f, protocol=4)
            # BINBYTES8, BINUNICODE8 and BYTEARRAY8 are written only for objects over 4 GiB; small ones load too.
            crafted = (b"\\x80\\x05(" + b"\\x8e" + struct.pack("<Q", 5) + b"hello" + b"\\x8d" + struct.pack("<Q", 3) + b"abc"
                       + b"\\x96" + struct.pack("<Q", 2) + b"xy" + b"t.")
            assert pickle.loads(crafted) == (b"hello", "abc", bytearray(b"xy"))
            open("crafted.pkl", "wb").write(crafted)
            """)
        for version in 2...5 {
            #expect(
                check(dir + "/p\(version).pkl")
                    == .complete("pickle (protocol \(version)) walks to its STOP at the end of the file"))
        }
        for version in 0...1 {
            #expect(
                check(dir + "/p\(version).pkl")
                    == .complete("pickle (protocol 0/1) walks to its STOP at the end of the file"))
        }
        #expect(
            check(dir + "/crafted.pkl") == .complete("pickle (protocol 5) walks to its STOP at the end of the file"))
        let two = check(dir + "/two.pickle")
        #expect(isComplete(two) && text(two).contains("bytes after it are not checked"), "\(two)")
        // The same pickle under a torch extension: a plain pickle, not torch.save's format.
        try FileManager.default.copyItem(atPath: dir + "/p2.pkl", toPath: dir + "/plain.pt")
        #expect(
            check(dir + "/plain.pt")
                == .complete(
                    "a plain pickle (not torch.save's format) (protocol 2) walks to its STOP at the end of the file"))
    }

    @Test("Truncated stdlib pickles are incomplete, wherever they are cut")
    func truncatedPickles() throws {
        try python(
            """
            import pickle
            obj = {"big": b"\\x00" * 200_000, "text": "t" * 70_000, "ints": [2**1000, -5], "t": (1, "a")}
            for protocol in range(6):
                pickle.dump(obj, open(f"p{protocol}.pkl", "wb"), protocol=protocol)
            """)
        for version in 0...5 {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/p\(version).pkl")))
            try expectTruncationsIncomplete(
                bytes, name: "p\(version).pkl",
                lengths: Array(cutLengths(bytes.count).prefix(40)) + (bytes.count - 8..<bytes.count))
        }
        let cut = check(try truncatedCopy(of: dir + "/p4.pkl", to: "inside-big.pkl", length: 1000))
        #expect(text(cut).contains("pickle is cut short: BINBYTES at offset"), "\(cut)")
    }

    @Test(
        "Malformed pickles are incomplete and say why",
        arguments: [
            ([0x80, 0x04, 0x0c, 0x2e], "byte 0xC at offset 2 is not a pickle opcode"),
            ([0x80, 0x02, 0x2e], "STOP pops from an empty stack"),
            ([0x80, 0x02, 0x4e, 0x4e, 0x2e], "STOP at offset 4 leaves values behind (1 more on the stack, 0 marks)"),
            ([0x80, 0x02, 0x68, 0x07, 0x2e], "memo entry 7 does not exist"),
            ([0x80, 0x02, 0x5d, 0x65, 0x2e], "APPENDS without a MARK"),
            ([0x80, 0x02, 0x28, 0x4e, 0x64, 0x2e], "odd number of items for DICT"),
            ([0x80, 0x02, 0x54, 0xff, 0xff, 0xff, 0xff, 0x2e], "BINSTRING has a negative length"),
            (
                [0x80, 0x04, 0x8e] + [UInt8](repeating: 0xff, count: 8) + [0x2e],
                "BINBYTES8 at offset 2 holds 18446744073709551615 bytes but only 1 remain"
            ),
            (
                [0x80, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 1, 0, 0x4e, 0x2e],
                "a FRAME at offset 2 announces 281474976710656 bytes but only 2 remain"
            ),
            ([0x80, 0x02, 0x4e], "the file ends at byte 3 before the pickle's STOP"),
        ] as [([UInt8], String)])
    func malformedPickles(bytes: [UInt8], reason: String) throws {
        let verdict = check(try write("bad.pkl", bytes))
        #expect(isIncomplete(verdict) && text(verdict).contains(reason), "\(verdict)")
    }

    @Test("Huge arguments are skipped by seeking: a 5 GiB BINBYTES8 and a 4.8 GB UBJSON float array (sparse files)")
    func hugeArguments() throws {
        func sparse(_ name: String, head: [UInt8], hole: UInt64, tail: [UInt8]) throws -> String {
            let path = try write(name, head)
            let handle = try #require(FileHandle(forWritingAtPath: path))
            defer { try? handle.close() }
            try handle.truncate(atOffset: UInt64(head.count) + hole)
            try handle.seekToEnd()
            handle.write(Data(tail))
            return path
        }
        func bytes(_ value: UInt64, bigEndian: Bool = false) -> [UInt8] {
            withUnsafeBytes(of: bigEndian ? value.bigEndian : value.littleEndian) { Array($0) }
        }
        let size: UInt64 = 5 << 30
        let pickle = try sparse("huge.pkl", head: [0x80, 0x04, 0x8e] + bytes(size), hole: size, tail: [0x2e])
        #expect(check(pickle) == .complete("pickle (protocol 4) walks to its STOP at the end of the file"))
        let noStop = try sparse("huge-cut.pkl", head: [0x80, 0x04, 0x8e] + bytes(size), hole: size - 1, tail: [0])
        #expect(isIncomplete(check(noStop)))
        let count: UInt64 = 600_000_000  // float64s
        let head = Array("{i\u{1}w[$D#L".utf8) + bytes(count, bigEndian: true)
        let ubj = try sparse("huge.ubj", head: head, hole: count * 8, tail: Array("}".utf8))
        #expect(check(ubj) == .complete("UBJSON object walks to its closing brace at the end of the file"))
        let ubjCut = try sparse("huge-cut.ubj", head: head, hole: count * 8 - 1, tail: Array("}".utf8))
        #expect(isIncomplete(check(ubjCut)))
    }

    // MARK: - Extensions

    /// SplitMix64: the same "random" bytes on every run.
    struct SeededBytes {
        var state: UInt64

        mutating func next(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return UInt8(truncatingIfNeeded: z ^ (z >> 31))
            }
        }
    }

    @Test(
        "Random bytes under each known extension are incomplete",
        arguments: [
            "pt", "pth", "ckpt", "pkl", "pickle", "h5", "hdf5", "keras", "ubj", "zip", "npz", "safetensors", "npy",
            "json",
        ])
    func randomBytes(ext: String) throws {
        var random = SeededBytes(state: 7)
        for length in [100, 1000, 4096, 70_000] {
            let verdict = check(try write("random-\(length).\(ext)", random.next(length)))
            #expect(isIncomplete(verdict), "\(length) random bytes as .\(ext): \(verdict)")
        }
        // Behind a valid pickle header, random bytes still do not walk to a proper STOP.
        if ["pt", "pth", "ckpt", "pkl", "pickle"].contains(ext) {
            for protocolVersion: UInt8 in 2...5 {
                let verdict = check(try write("header.\(ext)", [0x80, protocolVersion] + random.next(1000)))
                #expect(
                    isIncomplete(verdict), "protocol \(protocolVersion) header + random bytes as .\(ext): \(verdict)")
            }
        }
    }

    @Test(
        "The PyTorch family: 100 random bytes named model.pt are not a checkpoint; a .bin of another format is unknown")
    func pytorchFamily() throws {
        var random = SeededBytes(state: 11)
        #expect(
            check(try write("model.pt", random.next(100)))
                == .incomplete(
                    "not a PyTorch checkpoint: neither a zip archive (torch.save) nor a pickle (legacy torch.save)"))
        // fastText's magic number: `.bin` is shared by many formats, so nothing is claimed about it.
        #expect(check(try write("cc.en.300.bin", [0xba, 0x16, 0x4f, 0x2f] + random.next(100))) == .unknown)
        #expect(check(try write("weights.bin", "anything")) == .unknown)
        // But a .bin that is a zip or a pickle is checked like a .pt.
        let bin = try fixture("state_dict_legacy.pt")
        #expect(isComplete(check(try write("pytorch_model_legacy.bin", bin))))
        #expect(isIncomplete(check(try write("pytorch_model_cut.bin", Array(bin.dropLast())))))
    }

    @Test(".keras: a Keras 3 zip or a Keras 2 HDF5 file")
    func keras() throws {
        try python(
            """
            import zipfile
            with zipfile.ZipFile("model.keras", "w") as z:
                z.writestr("metadata.json", '{"keras_version": "3.6.0"}')
                z.writestr("config.json", '{"class_name": "Sequential"}')
                z.writestr("model.weights.h5", b"\\x89HDF\\r\\n\\x1a\\n" + bytes(100))
            """)
        #expect(check(dir + "/model.keras") == .complete("zip central directory intact (3 entries)"))
        #expect(isIncomplete(check(try truncatedCopy(of: dir + "/model.keras", to: "cut.keras", length: -1))))
        try FileManager.default.copyItem(atPath: Self.fixtures + "model.h5", toPath: dir + "/keras2.keras")
        #expect(
            check(dir + "/keras2.keras")
                == .complete(
                    "HDF5 superblock (version 0): data ends at byte 11088 of 11088, not marked open for writing"))
        #expect(
            check(try write("text.keras", "hello"))
                == .incomplete("not a Keras model: neither a zip archive (Keras 3) nor an HDF5 file (Keras 2)"))
    }

    @Test("UBJSON: bytes after the model are not checked; other values and broken containers are incomplete")
    func ubjson() throws {
        let model = try fixture("model.ubj")
        #expect(
            check(try write("trailing.ubj", model + Array("garbage".utf8)))
                == .complete("UBJSON object walks to its closing brace; the 7 bytes after it are not checked"))
        #expect(
            check(try write("array.ubj", Array("[]".utf8)))
                == .incomplete("not an XGBoost UBJSON model: it does not start with an object ('{')"))
        let counted = Array("{#i\u{2}i\u{1}aTi\u{1}b[$i#i\u{3}".utf8) + [1, 2, 3]  // two pairs, no closing brace
        #expect(isComplete(check(try write("counted.ubj", counted))))
        #expect(isIncomplete(check(try write("counted-cut.ubj", Array(counted.dropLast())))))
        let negative = Array("{i\u{1}a[#i".utf8) + [0xff] + Array("}".utf8)
        #expect(isIncomplete(check(try write("negative.ubj", negative))))
        #expect(isIncomplete(check(try write("wrong-end.ubj", Array("{i\u{1}a[]]}".utf8)))))
        #expect(isIncomplete(check(try write("bad-marker.ubj", Array("{i\u{1}aQ}".utf8)))))
    }
}

@Suite("JSON checkpoints: whole or not")
struct JSONSyntaxTests {
    @Test(
        "complete JSON texts, with Python's NaN and Infinity",
        arguments: [
            #"{"global_step": 30, "log_history": [{"loss": 0.5, "grad_norm": NaN}, {"x": Infinity, "y": -Infinity}]}"#,
            "[]", "{}", " [1, -2.5e-3, 0, true, false, null, \"a\\u00e9\\n\"] ", "\"text\"", "12",
        ])
    func whole(text: String) {
        #expect(JSONSyntax.problem(in: Array(text.utf8)) == nil, "\(text)")
    }

    @Test(
        "cut short or malformed",
        arguments: [
            (#"{"global_step": 30, "log_history": [{"loss": 0.5"#, "cut short"),
            (#"{"a": 1,}"#, "unexpected"), (#"{"a" 1}"#, "unexpected"), ("[1 2]", "unexpected"), ("01", "unexpected"),
            (#"{"a": nan}"#, "unexpected"), (#"{"a": Inf}"#, "unexpected"), ("[1.]", "unexpected"),
            ("\"a\u{1}\"", "unexpected"), (#"{"a": "\x"}"#, "unexpected"), ("[1] 2", "unexpected"), ("", "cut short"),
        ])
    func broken(text: String, expected: String) throws {
        let problem = try #require(JSONSyntax.problem(in: Array(text.utf8)), "\(text)")
        #expect(problem.hasPrefix(expected), "\(text): \(problem)")
    }

    @Test("nesting deeper than the bound is refused, not a crash")
    func deep() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(JSONSyntax.problem(in: Array(text.utf8)) == "nested too deeply")
    }
}
