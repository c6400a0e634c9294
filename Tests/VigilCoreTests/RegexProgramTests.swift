import Foundation
import Testing

@testable import VigilCore

private let constructs: [(String, [String])] = [
    ("abc", ["xxabcxx", "ab", ""]),
    ("a|ab|abc", ["abc"]), ("(a|ab)(c|bcd)", ["abcd"]), ("a*", ["", "aaa", "baa"]), ("a+?", ["aaa"]),
    ("a{2,3}", ["a", "aaaa"]), ("a{2}", ["aaa"]), ("a{2,}", ["aaaaa"]), ("x{1,3}?y", ["xxxy"]), ("\\{a\\}", ["{a}"]),
    ("(?<![a-z])loss=(?<v>[0-9.]+)", ["val_loss=0.5 loss=0.25", "xloss=1 loss=2"]),
    ("(?<=\\[)\\d+(?=\\])", ["[12] x [3]"]), ("(?<!\\d)\\d{3}(?!\\d)", ["1234 567 89"]),
    ("(?i)loss is nan", ["Loss IS NaN"]), ("(?i:ab)c", ["ABc", "ABC"]), ("a(?i)b|c", ["C", "aB"]),
    ("^\\s*step", ["  step 3", "x step"]), ("done$", ["done", "done\n", "undone!"]),
    ("\\bfoo\\b", ["a foo b", "foobar", "barfoo"]), ("\\Bo\\B", ["foo bar"]),
    ("[^,}']+", ["'nan'}", "0.5,"]), ("[-+]?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?", ["x=-1.5e-3;"]),
    ("[\\w.]+", ["a.b_c d"]), ("\\S+\\s+\\S+", ["  ab   cd  "]), ("[a\\-z]+", ["-az-"]), ("[]a]+", ["a]a"]),
    ("\\p{L}+", ["12 héllo wörld"]), ("\\p{Lu}\\p{Ll}+", ["x Ærø"]), ("\\P{L}+", ["ab12cd"]),
    (".+", ["héllo\nworld"]), ("(?s).+", ["a\nb"]), ("é+", ["ééé"]), ("(?i)É", ["é"]), ("\\x41\\u00e9", ["Aé"]),
    ("\\Qa.b\\E+", ["a.bbb"]), ("\\.\\*\\?", [".*?"]), ("(a)|(b)", ["b"]), ("(a)?b", ["b"]), ("(a*)+b", ["b"]),
    ("(?:a|b)*c", ["ababc"]), ("\\t\\[(?<step>\\d+)\\]", ["x\t[12]"]),
    ("(?m)^b$", ["a\nb\nc"]), ("\\Ad", ["d"]), ("d\\z", ["d"]), ("x\\Z", ["x\n"]),
    ("\\d+(?:st|nd|rd|th) output", ["returned nan values in its 2th output"]),
]

/// vigil's own regular expressions against ICU's (NSRegularExpression, which the tests still have):
/// the same match and the same groups, on every pattern of the shipped policies over every line of
/// the real framework logs, on a table of constructs, and on generated subjects.
@Suite("Regular expressions without ICU")
struct RegexProgramTests {
    /// ICU's answer: each group's range as UTF-8 byte offsets.
    static func icu(_ pattern: String, _ subject: String) throws -> [Range<Int>?]? {
        let regex = try NSRegularExpression(pattern: pattern)
        guard let match = regex.firstMatch(in: subject, range: NSRange(subject.startIndex..., in: subject)) else {
            return nil
        }
        return (0..<match.numberOfRanges).map { i in
            let r = match.range(at: i)
            guard r.location != NSNotFound, let range = Range(r, in: subject) else { return nil }
            let start = subject.utf8.distance(from: subject.utf8.startIndex, to: range.lowerBound)
            return start..<(start + subject.utf8.distance(from: range.lowerBound, to: range.upperBound))
        }
    }

    static func ours(_ pattern: String, _ subject: String) throws -> [Range<Int>?]? {
        let program = try RegexProgram(pattern)
        return Array(subject.utf8).withUnsafeBufferPointer { program.firstMatch(in: $0) }
    }

    @Test("a table of constructs matches as ICU does", arguments: constructs)
    func table(pattern: String, subjects: [String]) throws {
        for subject in subjects {
            let (mine, theirs) = (
                try RegexProgramTests.ours(pattern, subject), try RegexProgramTests.icu(pattern, subject)
            )
            #expect(
                mine == theirs,
                "/\(pattern)/ on \(subject.debugDescription): \(String(describing: mine)) vs ICU \(String(describing: theirs))"
            )
        }
    }

    @Test(
        "one known difference: an empty last iteration of a starred group (ICU's capture is empty, ours the last non-empty)"
    )
    func emptyIteration() throws {
        #expect(try RegexProgramTests.ours("(a*)*b", "aab") == [0..<3, 0..<2])
        #expect(try RegexProgramTests.icu("(a*)*b", "aab") == [0..<3, 2..<2])
    }

    @Test("what this engine does not support is refused, with the offset")
    func refused() {
        // ICU refuses these too: a brace that starts no repetition.
        for pattern in ["{", "a{,2}", "x{"] {
            #expect(throws: RegexSyntaxError.self, "\(pattern)") { try RegexProgram(pattern) }
            #expect(throws: (any Error).self, "\(pattern)") { try NSRegularExpression(pattern: pattern) }
        }
        for pattern in [
            "(a)\\1", "a++", "(?>a)", "[[a]]", "(?<!a+)b", "\\p{Greek}", "(?x)a", "\\k<n>", "(", "a)", "[a", "*a",
        ] {
            #expect(throws: RegexSyntaxError.self, "\(pattern)") { try RegexProgram(pattern) }
        }
    }

    /// Every pattern of every shipped policy (rules, metrics, progress) and of the default token redaction.
    static func shippedPatterns() throws -> [String] {
        var patterns: [String] = []
        for name in EmbeddedPolicies.names {
            let policy = try PolicyLoader(searchDirectories: [TestSupport.repositoryRoot + "/policies"]).load(name)
            patterns += policy.rules.flatMap { ($0.output ?? []).map(\.source) }
            patterns += policy.output.metrics + (policy.output.progress.map { [$0] } ?? [])
        }
        return Array(Set(patterns)).sorted()
    }

    @Test("every shipped policy's pattern over every line of the real framework logs: the same matches as ICU")
    func shippedPoliciesOnRealLogs() throws {
        let patterns = try RegexProgramTests.shippedPatterns()
        #expect(patterns.count > 70)
        var lines: [String] = []
        let root = TestSupport.repositoryRoot + "/Tests/Fixtures/frameworks/"
        for folder in try FileManager.default.contentsOfDirectory(atPath: root) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root + folder)) ?? []
            where name.hasSuffix(".log") {
                let text = String(
                    decoding: FileManager.default.contents(atPath: root + folder + "/" + name) ?? Data(), as: UTF8.self)
                lines += text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(String.init)
            }
        }
        lines = Array(Set(lines)).filter { $0.utf8.count < 4000 }
        var compared = 0
        var matched = 0
        for pattern in patterns {
            let program = try RegexProgram(pattern)
            let icu = try NSRegularExpression(pattern: pattern)
            var machine: RegexProgram.Machine?  // one machine over every line, as the output scanner keeps it
            for line in lines {
                let theirs = icu.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
                let mine = Array(line.utf8).withUnsafeBufferPointer { program.firstMatch(in: $0) }
                let yes = Array(line.utf8).withUnsafeBufferPointer { program.matches(in: $0, reusing: &machine) }
                #expect(yes == theirs, "yes or no: /\(pattern)/ on \(line.prefix(200).debugDescription)")
                if theirs || mine != nil {
                    #expect(
                        try mine == RegexProgramTests.icu(pattern, line),
                        "/\(pattern)/ on \(line.prefix(200).debugDescription)")
                    matched += 1
                }
                compared += 1
            }
        }
        #expect(matched > 200, "\(matched) matches in \(compared) comparisons")
    }

    @Test("generated subjects: the same answers as ICU on a few thousand random strings")
    func generated() throws {
        var rng = SeededGenerator(seed: 0x5EED)
        let alphabet = Array("ab1 _.-=:'\"[]{}\tnNaAiI0é")
        let patterns = [
            "a+b*", "(a|b)+?1", "[^ab]+", "\\b\\w+\\b", "(?<![a-z])a[=:]\\s*(?<v>[0-9.]+|nan)", "(?i)nan|inf",
            "\\[(\\d+)\\]", "(?:ab|a)(?:ba|b)", "a.{1,3}b", "^[ \\t]*$", "(?<=[=:])\\s*'?(?<x>[^',}]+)", "é|e+",
        ]
        for pattern in patterns {
            for _ in 0..<300 {
                let length = Int.random(in: 0..<24, using: &rng)
                let subject = String((0..<length).map { _ in alphabet.randomElement(using: &rng)! })
                let (mine, theirs) = (
                    try RegexProgramTests.ours(pattern, subject), try RegexProgramTests.icu(pattern, subject)
                )
                #expect(
                    mine == theirs,
                    "/\(pattern)/ on \(subject.debugDescription): \(String(describing: mine)) vs ICU \(String(describing: theirs))"
                )
                let program = try RegexProgram(pattern)
                let yes = Array(subject.utf8).withUnsafeBufferPointer { program.matches(in: $0) }
                #expect(yes == (theirs != nil), "yes or no: /\(pattern)/ on \(subject.debugDescription)")
            }
        }
    }
}

/// Random numbers that repeat: SplitMix64 from a seed, so a failing subject is found again.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
