import Foundation
import Testing

@testable import VigilCore

/// How the drill compares the files a resumed run wrote with the uninterrupted run's.
@Suite("Drill file comparison")
struct FileComparisonTests {
    let dir: String

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-compare")
    }

    func write(_ name: String, _ data: Data) throws -> String {
        let path = dir + "/" + name
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func compare(_ name: String, _ mine: Data, _ theirs: Data, tolerance: Double = 1e-6) throws -> FileComparison {
        let a = try write("mine-" + name, mine)
        let b = try write("ref-" + name, theirs)
        return FileComparison.compare(a, reference: b, name: name, tolerance: tolerance)
    }

    /// An `.npy` file as numpy writes it (v1 header padded to 64 bytes).
    static func npy(_ descr: String, shape: [Int], _ values: [Double], fortran: Bool = false) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        data.append(UInt8(header.utf8.count & 0xFF))
        data.append(UInt8(header.utf8.count >> 8))
        data.append(Data(header.utf8))
        let big = descr.hasPrefix(">")
        for value in values {
            var bytes: [UInt8]
            switch descr.dropFirst() {
            case "f8": bytes = withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
            case "f4": bytes = withUnsafeBytes(of: Float(value).bitPattern.littleEndian, Array.init)
            case "i4": bytes = withUnsafeBytes(of: Int32(value).littleEndian, Array.init)
            default: bytes = withUnsafeBytes(of: Int64(value).littleEndian, Array.init)
            }
            data.append(contentsOf: big ? bytes.reversed() : bytes)
        }
        return data
    }

    @Test("the same bytes are identical; other bytes name the first difference")
    func bytes() throws {
        defer { TestSupport.remove(dir) }
        let same = try compare("model.bin", Data([1, 2, 3]), Data([1, 2, 3]))
        #expect(same.result == .identical && same.matches)
        let other = try compare("model.bin", Data([1, 2, 3, 4]), Data([1, 9, 3]))
        #expect(other.result == .differs)
        #expect(other.detail?.contains("offset 1") == true && other.detail?.contains("4 bytes") == true)
        let missing = FileComparison.compare(dir + "/nope", reference: dir + "/mine-model.bin", name: "m", tolerance: 0)
        #expect(missing.result == .missing && missing.detail?.contains("interrupted run") == true)
    }

    @Test("JSON: numbers within the tolerance match whatever the formatting; a larger difference is named by its path")
    func json() throws {
        defer { TestSupport.remove(dir) }
        let reference = Data(#"{"weights": [1.0, -2.5, 3.25], "steps": 40, "name": "m", "ok": true}"#.utf8)
        let close = Data(#"{"steps":40,"name":"m","ok":true,"weights":[1.0000000001,-2.5,3.25]}"#.utf8)
        let within = try compare("model.json", close, reference)
        #expect(within.result == .withinTolerance, "\(within)")
        #expect((within.largestDifference ?? 1) < 1e-9)
        let far = Data(#"{"weights": [1.0, -2.5001, 3.25], "steps": 40, "name": "m", "ok": true}"#.utf8)
        let differs = try compare("model.json", far, reference)
        #expect(differs.result == .differs)
        #expect(differs.detail?.hasPrefix("weights[1]: -2.5001") == true, "\(differs.detail ?? "")")
        #expect(try compare("model.json", far, reference, tolerance: 1e-3).result == .withinTolerance)
        let renamed = Data(#"{"weights": [1.0, -2.5, 3.25], "steps": 40, "name": "m", "ok": 1}"#.utf8)
        #expect(try compare("model.json", renamed, reference).detail?.contains("ok") == true)
        let extra = Data(#"{"weights": [1.0, -2.5, 3.25], "steps": 40, "name": "m", "ok": true, "x": 1}"#.utf8)
        #expect(try compare("model.json", extra, reference).detail?.contains("key 'x' is only in this run") == true)
    }

    @Test("NPY: shape, order and elements of any numeric dtype and byte order, within the tolerance")
    func npyArrays() throws {
        defer { TestSupport.remove(dir) }
        let reference = Self.npy("<f8", shape: [2, 2], [1, 2, 3, 4])
        #expect(try compare("w.npy", reference, reference).result == .identical)
        let big = Self.npy(">f8", shape: [2, 2], [1, 2, 3, 4.0000000001])
        let within = try compare("w.npy", big, reference)
        #expect(within.result == .withinTolerance, "\(within)")
        #expect(within.detail?.contains(">f8") == true)
        let single = try compare("w.npy", Self.npy("<f4", shape: [2, 2], [1, 2, 3, 4]), reference)
        #expect(single.result == .withinTolerance)
        let off = try compare("w.npy", Self.npy("<f8", shape: [2, 2], [1, 2, 3.5, 4]), reference)
        #expect(off.result == .differs && off.detail?.hasPrefix("element 2 of 4") == true, "\(off)")
        let shape = try compare("w.npy", Self.npy("<f8", shape: [4], [1, 2, 3, 4]), reference)
        #expect(shape.result == .differs && shape.detail?.contains("shape [4]") == true)
        let ints = try compare(
            "i.npy", Self.npy("<i4", shape: [3], [-1, 0, 7]), Self.npy("<i8", shape: [3], [-1, 0, 7]))
        #expect(ints.result == .withinTolerance)
        let header = try #require(NPYArray(Self.npy("<f8", shape: [3, 5], Array(repeating: 0, count: 15))))
        #expect(header.shape == [3, 5] && header.count == 15 && header.descr == "<f8" && !header.fortranOrder)
        #expect(NPYArray(Self.npy("<f8", shape: [3, 5], [1, 2])) == nil)  // cut short
    }

    @Test("tolerance: relative above 1, absolute below; NaN equals NaN")
    func tolerance() {
        defer { TestSupport.remove(dir) }
        #expect(Tolerance.equal(1000, 1000.0009, within: 1e-6))
        #expect(!Tolerance.equal(1000, 1000.002, within: 1e-6))
        #expect(Tolerance.equal(1e-9, 2e-9, within: 1e-6))
        #expect(Tolerance.equal(.nan, .nan, within: 0))
        #expect(!Tolerance.equal(.nan, 1, within: 1))
        #expect(!Tolerance.equal(.infinity, 1e308, within: 1))
    }
}
