import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// SHA-256 against the NIST vectors, sidecar verification, and each format check with a complete file and a
/// truncated copy of it.
@Suite("Checkpoint formats and SHA-256", .timeLimit(.minutes(2)))
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

    /// Runs a Python script with the temporary directory as its working directory.
    func python(_ script: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.python)
        process.arguments = ["-c", script]
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 failed: \(script)")
    }

    func isComplete(_ verdict: FormatVerdict) -> Bool {
        if case .complete = verdict { return true }
        return false
    }

    func isIncomplete(_ verdict: FormatVerdict) -> Bool {
        if case .incomplete = verdict { return true }
        return false
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
        let pickle: [UInt8] = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
        #expect(check(try write("legacy.pt", pickle)) == .unknown)
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

    @Test("HDF5: the signature, nothing more; directories and other extensions are unknown")
    func hdf5AndOthers() throws {
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]
        #expect(check(try write("model.h5", signature + [UInt8](repeating: 0, count: 100))) == .unknown)
        #expect(check(try write("userblock.hdf5", [UInt8](repeating: 0, count: 512) + signature)) == .unknown)
        #expect(isIncomplete(check(try write("cut.h5", Array(signature.prefix(5))))))
        #expect(isIncomplete(check(try write("zeros.hdf5", [UInt8](repeating: 0, count: 64)))))
        #expect(CheckpointFormat.check(dir, isDirectory: true) == .unknown)
        #expect(check(try write("weights.bin", "anything")) == .unknown)
        #expect(check(dir + "/missing.json") == .unknown)
    }
}
