import CVigil
import Foundation
import Testing

@testable import VigilCore

/// What replaced NSString, Thread and NSCondition in VigilCore (it builds on FoundationEssentials): checked
/// against Foundation's own answers, which the tests still link.
@Suite("Text, paths and threads without Foundation")
struct PortableTextTests {
    // Absolute ones: corelibs Foundation's own path getters trap on "" and on some relative paths ("a").
    static let paths = [
        "/a/b.txt", "/a/b/", "/", "/a", "/a/.rc", "/x//y", "/ckpt/step_10.ck", "/c/checkpoint-500/", "/a/b.",
    ]

    @Test("absolute path names taken apart as NSString takes them", arguments: paths)
    func pathComponents(path: String) {
        let ns = path as NSString
        #expect(Path.lastComponent(path) == ns.lastPathComponent)
        #expect(Path.parent(path) == ns.deletingLastPathComponent)
        #expect(Path.pathExtension(path) == ns.pathExtension)
        // NSString also collapses `//` here; Vigil's paths are built without them.
        if !path.contains("//") { #expect(Path.deletingExtension(path) == ns.deletingPathExtension) }
    }

    @Test("relative path names")
    func relativePaths() {
        #expect(Path.lastComponent("a") == "a" && Path.parent("a") == "")
        #expect(Path.lastComponent("a/") == "a" && Path.parent("a/") == "")
        #expect(Path.lastComponent("a/b/c.tar.gz") == "c.tar.gz" && Path.parent("a/b/c.tar.gz") == "a/b")
        #expect(Path.pathExtension("a/b/c.tar.gz") == "gz" && Path.deletingExtension("b.json5") == "b")
        #expect(Path.pathExtension(".rc") == "" && Path.deletingExtension("ckpt/step_10.ck") == "ckpt/step_10")
    }

    @Test("the empty path (Foundation's own deletingLastPathComponent traps on it)")
    func emptyPath() {
        #expect(Path.lastComponent("") == "")
        #expect(Path.parent("") == "")
        #expect(Path.pathExtension("") == "")
        #expect(Path.deletingExtension("") == "")
    }

    @Test("absolute paths standardized as NSString does, without following links")
    func standardized() {
        for path in ["/a/./b/../c//", "/a/b/c", "/../a", "/a/b/..", "/", "/a//b/./"] {
            #expect(Path.standardized(path) == (path as NSString).standardizingPath, "\(path)")
        }
    }

    @Test("trimming as Foundation's .whitespaces and .whitespacesAndNewlines")
    func trimming() {
        for text in ["  a b  ", "\t x\t", "\n a \n", "", "   ", "\u{00A0}x\u{2003}", "x", " \r\n y \r\n"] {
            #expect(text.trimmingSpaces() == text.trimmingCharacters(in: .whitespaces), "\(text.debugDescription)")
            #expect(text.trimmed() == text.trimmingCharacters(in: .whitespacesAndNewlines), "\(text.debugDescription)")
        }
    }

    static let searches: [(text: String, needle: String, offset: Int?)] = [
        ("Traceback (most recent call last):", "Traceback (most recent call last):", 0),
        ("[rank0]: Traceback (most recent call last):", "Traceback (most recent call last):", 9),
        ("Traceback (most recent call", "Traceback (most recent call last):", nil),
        ("héllo: wörld", ": ", 6),  // an offset in bytes: é is two
        ("RuntimeError: CUDA out of memory: tried", ": ", 12),
        ("no separator", ": ", nil),
        ("", ": ", nil),
        ("anything", "", 0),
        ("ab:ab: ", ": ", 5),
    ]

    @Test("a needle is found byte for byte, at its first place, as a UTF-8 offset", arguments: searches.indices)
    func utf8Search(index: Int) {
        let (text, needle, offset) = Self.searches[index]
        #expect(text.utf8Offset(of: needle) == offset, "\(text) / \(needle)")
        #expect(text.containsBytes(needle) == (offset != nil))
        #expect(text.containsBytes(needle) == text.contains(needle) || needle.isEmpty)
    }

    @Test("C formats as String(format:) writes them for numbers")
    func cFormats() {
        #expect(String(cFormat: "attempt-%03ld.log", 7) == String(format: "attempt-%03ld.log", 7))
        for value in [0.0, 0.25, 1.5, 12.345_678, 1e-7, 123_456_789.0, -3.75] {
            for format in ["%.1f", "%.4g", "%g", "%.6g", "%.3fs"] {
                #expect(String(cFormat: format, value) == String(format: format, value), "\(format) \(value)")
            }
        }
        #expect(String(cFormat: "%02X", UInt32(10)) == "0A")
        #expect(String(cFormat: "%04X", UInt32(0x1F)) == "001F")
        // Longer than the first buffer.
        let long = String(cFormat: "%0200ld", 1)
        #expect(long.count == 200 && long.hasSuffix("1"))
    }

    @Test("columns are padded, never cut")
    func padding() {
        #expect("ab".padded(to: 5) == "ab   ")
        #expect("abcdef".padded(to: 3) == "abcdef")
    }

    @Test("a file system error in words, naming another path than the one given")
    func errorWords() {
        do {
            try FileManager.default.createDirectory(atPath: "/proc/vigil-none/x", withIntermediateDirectories: true)
            Issue.record("creating under /proc worked")
        } catch {
            let text = errorText(error, path: "/proc/vigil-none/x")
            #expect(text.contains("No such file or directory") || text.contains("ermission"), "\(text)")
        }
    }

    @Test("RegexProgram.escaped matches exactly its literal")
    func escapedLiteral() throws {
        for literal in ["model_{step}.ck", "a.b*c+d?(e)[f]|g^h$i\\j", "x-y #z &w ~v /u", "plain"] {
            let program = try RegexProgram("^" + RegexProgram.escaped(literal) + "$")
            #expect(program.firstMatch(in: literal) != nil, "\(literal)")
            #expect(program.firstMatch(in: literal + "x") == nil, "\(literal)")
        }
    }

    @Test("a condition's timed wait gives up at its deadline and wakes on a signal")
    func conditionWaits() {
        let condition = Condition()
        condition.lock()
        #expect(!condition.wait(until: SystemClock.monotonicNow() + 0.05))
        condition.unlock()

        let flag = Locked(false)
        startThread(name: "vigil-test") {
            condition.withLock {
                flag.withLock { $0 = true }
                condition.broadcast()
            }
        }
        condition.lock()
        let deadline = SystemClock.monotonicNow() + 30
        while !flag.current, condition.wait(until: deadline) {}
        condition.unlock()
        #expect(flag.current)
    }

    @Test("giving start-up's memory back keeps the program running (code pages come back from the file)")
    func releaseMemory() throws {
        cvigil_release_free_memory()
        let program = try RegexProgram(#"(?<step>\d+)/(?<total>\d+)"#)
        #expect(program.firstMatch(in: "step 12/40").map { $0.count } == 3)
        cvigil_release_free_memory()
        #expect(Path.lastComponent("/a/b") == "b")
    }
}
