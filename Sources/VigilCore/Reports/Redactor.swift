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

/// Removes secrets from text before Vigil shows it: in reports, status, summaries and HTML.
///
/// Four kinds of secret are replaced by ``Redactor/marker`` (`[REDACTED]`), so a reader sees that
/// something was removed:
/// 1. the *values* of environment variables whose names look secret (``isSecretName(_:)``),
///    wherever they occur (values of at least ``minimumValueLength`` characters);
/// 2. the value of `name=value`, `name: value`, `"name": "value"`, `'name': 'value'`,
///    `--name value` and `--name=value` tokens whose name looks secret (the name is kept);
/// 3. tokens that look like a credential whatever surrounds them (``tokenShapes``: GitHub, OpenAI,
///    Slack, AWS access key ids, Hugging Face, GitLab, JWTs, `Bearer …`, PEM private key blocks);
/// 4. every match of the policy's `redact` patterns (the whole match).
///
/// - Important: Redaction is best effort: it catches the usual ways a trainer prints a credential,
///   not a secret printed with no name beside it that is neither in the environment nor matched by
///   a policy pattern. Add such formats to the policy's `redact` list.
public struct Redactor: Sendable {
    /// What replaces a secret.
    public static let marker = "[REDACTED]"
    /// The marker while a text is being redacted: a control character no rule matches in a word.
    static let placeholder = "\u{1}"
    /// Environment values shorter than this are not searched for (they would match everywhere).
    public static let minimumValueLength = 4
    /// Name fragments that make a name look secret (compared case-insensitively).
    public static let secretNameFragments = [
        "KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "PRIVATE",
    ]

    // Words that contain a fragment but name nothing secret, common in training logs and tracebacks
    // (`max_new_tokens=512`, `TOKENIZERS_PARALLELISM`, `KeyboardInterrupt`, `author: …`).
    private static let benignWords = ["TOKENIZER", "TOKENIZE", "TOKENS", "AUTHOR", "KEYBOARD", "MONKEY"]
    // Values of secret-named variables that are settings, not secrets: replacing every `true` in the
    // output would only hide information.
    private static let benignValues: Set<String> = ["true", "false", "none", "null", "yes", "no", "auto"]

    // A candidate `name SEP value`: the name (groups 1-3: in double quotes, single quotes or none), then `=`/`:` (or whitespace
    // after a `--flag`), then a quoted or bare value. Whether the name is secret is decided in code,
    // so a non-secret candidate never hides a secret one that follows it.
    private static let candidate: Pattern = {
        let bare = #"-{0,2}[A-Za-z_][\w.\-]*"#
        let name = #"(?<![\w.\-])(?:"("# + bare + #")"|'("# + bare + #")'|("# + bare + #"))"#
        let separator = #"(\s*[=:]\s*|\s+)"#
        let value = #"(?:"([^"\n]*)"|'([^'\n]*)'|((?:(?:Bearer|Basic|Token)\s+)?[^\s,;'"}\]\)]+))"#
        return try! Pattern(name + separator + value)
    }()

    /// Credentials recognisable by their shape alone, redacted whatever their name.
    public static let tokenShapes: [Pattern] = [
        #"\bgh[pousr]_[A-Za-z0-9]{20,}"#,  // GitHub tokens
        #"\bgithub_pat_[A-Za-z0-9_]{20,}"#,  // GitHub fine-grained tokens
        #"\bsk-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_\-]{16,}"#,  // OpenAI, Anthropic, Stripe secret keys
        #"\bxox[abprs]-[A-Za-z0-9\-]{10,}"#,  // Slack
        #"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"#,  // AWS access key ids
        #"\bhf_[A-Za-z0-9]{30,}"#,  // Hugging Face
        #"\bglpat-[A-Za-z0-9_\-]{20,}"#,  // GitLab
        #"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"#,  // JWTs
        #"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}"#,  // an Authorization header's value
        #"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\z)"#,  // PEM keys
    ].map { try! Pattern($0) }

    /// Literal secret values from the environment, longest first (so a value containing another is
    /// replaced whole).
    private let secretValues: [String]
    private let patterns: [Pattern]

    /// - Parameters:
    ///   - environment: the trainer's environment; values of secret-looking names are redacted.
    ///   - extraPatterns: the policy's `redact` list (regular expressions, ICU syntax).
    /// - Throws: ``VigilError`` `.invalidPolicy` (key `redact`) for a pattern that does not compile.
    public init(environment: [String: String], extraPatterns: [String]) throws {
        var values = Set<String>()
        for (name, value) in environment where Redactor.isSecretName(name) {
            let trimmed = value.trimmed()
            guard trimmed.count >= Redactor.minimumValueLength,
                !Redactor.benignValues.contains(trimmed.lowercased())
            else { continue }
            values.insert(trimmed)
        }
        self.secretValues = values.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
        self.patterns = try extraPatterns.map { source in
            do {
                return try Pattern(source)
            } catch {
                throw VigilError(.invalidPolicy, key: "redact", "'\(source)' is not a valid regular expression")
            }
        }
    }

    /// A redactor that only applies the name rules (no environment, no policy patterns).
    public static let namesOnly: Redactor = try! Redactor(environment: [:], extraPatterns: [])

    /// Whether `name` looks like it holds a secret: it contains `KEY`, `TOKEN`, `SECRET`,
    /// `PASSWORD`, `PASSWD`, `CREDENTIAL`, `AUTH` or `PRIVATE` (any case), not only as part of a
    /// known harmless word (`tokens`, `tokenizer`, `author`, `keyboard`), and is not an exception
    /// type (`KeyError: 'x'` stays readable).
    public static func isSecretName(_ name: String) -> Bool {
        // As bytes: called for every `word=value` and `word value` of every line redacted (a report's
        // tail), where the same on Characters was most of the report's CPU.
        var upper = Array(name.uppercased().utf8)
        // The queue's own variables name a job, not a secret: VIGIL_JOB_KEY is `BTCEUR-lstm`.
        if upper.starts(with: "VIGIL_JOB_".utf8) || upper.starts(with: "VIGIL_MATRIX_".utf8) { return false }
        if ["ERROR", "EXCEPTION", "WARNING"].contains(where: { upper.suffix($0.utf8.count).elementsEqual($0.utf8) }) {
            return false
        }
        // `Authorization` contains the harmless `author` but is the header that carries credentials.
        if index(of: authoriz, in: upper) != nil { upper = replacingAll(authoriz, with: Array("AUTH".utf8), in: upper) }
        for word in benignWordBytes where index(of: word, in: upper) != nil {
            upper = replacingAll(word, with: [], in: upper)
        }
        return secretFragmentBytes.contains { index(of: $0, in: upper) != nil }
    }

    private static let authoriz = Array("AUTHORIZ".utf8)
    private static let benignWordBytes = benignWords.map { Array($0.utf8) }
    private static let secretFragmentBytes = secretNameFragments.map { Array($0.utf8) }

    /// Where `needle` first occurs in `bytes` at or after `start`.
    private static func index(of needle: [UInt8], in bytes: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty else { return start }
        var at = start
        while at + needle.count <= bytes.count {
            if bytes[at] == needle[0], bytes[at..<(at + needle.count)].elementsEqual(needle) { return at }
            at += 1
        }
        return nil
    }

    /// `bytes` with each occurrence of `needle` (not empty), left to right, replaced (as `String.replacing`
    /// does).
    private static func replacingAll(_ needle: [UInt8], with replacement: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var last = 0
        while let found = index(of: needle, in: bytes, from: last) {
            out += bytes[last..<found]
            out += replacement
            last = found + needle.count
        }
        out += bytes[last...]
        return out
    }

    /// `text` with every secret replaced by `[REDACTED]`.
    public func redact(_ text: String) -> String {
        // Idempotent: markers already there are set aside (a control character no rule matches as
        // part of a word) and put back, so redacting twice never mangles them.
        // Every replacement is that placeholder too, until the end, so that a later rule never takes
        // an earlier one's marker for a value (`Authorization: Bearer x` stays one redaction).
        let placeholder = Redactor.placeholder
        // (Each replacement only after a byte search found what it replaces: most lines hold none.)
        var result = text.containsBytes(Redactor.marker) ? text.replacing(Redactor.marker, with: placeholder) : text
        for pattern in patterns + Redactor.tokenShapes {
            if let prefilter = pattern.prefilter, !prefilter.occurs(in: result) { continue }
            result = Redactor.replaceMatches(of: pattern.program, in: result)
        }
        for value in secretValues where result.containsBytes(value) {
            result = result.replacing(value, with: placeholder)
        }
        result = Redactor.redactNamedValues(in: result)
        return result.containsBytes(placeholder) ? result.replacing(placeholder, with: Redactor.marker) : result
    }

    /// Each line redacted; the lines of a PEM private key block (from its `BEGIN` line to its `END`
    /// line) are replaced whole.
    public func redact(_ lines: [String]) -> [String] {
        var inKey = false
        return lines.map { line in
            if inKey {
                if line.contains("-----END "), line.contains("PRIVATE KEY-----") { inKey = false }
                return Redactor.marker
            }
            if line.contains("-----BEGIN "), line.contains("PRIVATE KEY-----"), !line.contains("-----END ") {
                inKey = true
            }
            return redact(line)
        }
    }

    /// A command line redacted: each argument as text, and the argument after a secret-looking
    /// `--flag` (`--api-key xyz`) replaced whole.
    public func redact(argv: [String]) -> [String] {
        var result: [String] = []
        result.reserveCapacity(argv.count)
        var hideNext = false
        for argument in argv {
            if hideNext {
                result.append(Redactor.marker)
                hideNext = false
                continue
            }
            if argument.hasPrefix("-"), !argument.contains("="),
                Redactor.isSecretName(String(argument.drop { $0 == "-" }))
            {
                hideNext = true
            }
            result.append(redact(argument))
        }
        return result
    }

    // MARK: - Matching

    private static func replaceMatches(of program: RegexProgram, in text: String) -> String {
        let utf8 = Array(text.utf8)
        let found = utf8.withUnsafeBufferPointer { program.allMatches(in: $0) }.compactMap { $0[0] }
        return replacing(found.filter { !$0.isEmpty }, in: utf8) ?? text
    }

    /// `utf8` with each of `ranges` (ascending, not overlapping) replaced by the placeholder; nil when none.
    private static func replacing(_ ranges: [Range<Int>], in utf8: [UInt8]) -> String? {
        guard !ranges.isEmpty else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var last = 0
        for range in ranges {
            out += utf8[last..<range.lowerBound]
            out += placeholder.utf8
            last = range.upperBound
        }
        out += utf8[last...]
        return String(decoding: out, as: UTF8.self)
    }

    private static func redactNamedValues(in text: String) -> String {
        guard text.contains(where: { $0 == "=" || $0 == ":" || $0 == "-" }) else { return text }
        let utf8 = Array(text.utf8)
        var replacements: [Range<Int>] = []
        utf8.withUnsafeBufferPointer { bytes in
            func string(_ range: Range<Int>) -> String {
                String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            }
            var location = 0
            // The search starts part-way but sees what comes before: `(?<![\w.\-])` looks behind `location`.
            while location < bytes.count, let match = candidate.program.firstMatch(in: bytes, from: location),
                let nameRange = match[1] ?? match[2] ?? match[3], let separatorRange = match[4],
                let valueRange = match[5] ?? match[6] ?? match[7]
            {
                let name = string(nameRange)
                let value = string(valueRange)
                let isFlag = name.hasPrefix("--")
                let separatorIsSpace = string(separatorRange).allSatisfy(\.isWhitespace)
                let bareName = String(name.drop { $0 == "-" })
                if (!separatorIsSpace || isFlag) && isSecretName(bareName) && !value.hasPrefix(placeholder)
                    && !(separatorIsSpace && value.hasPrefix("-")) && !valueRange.isEmpty
                {
                    replacements.append(valueRange)
                    location = valueRange.upperBound
                } else {
                    // Not a secret here: look again from just after the name, so the value (which may
                    // itself be a `name=value`) is searched too.
                    location = nameRange.lowerBound + max(1, nameRange.count)
                }
            }
        }
        return replacing(replacements, in: utf8) ?? text
    }
}

extension Verdict {
    /// The verdict with its reason and exception redacted: how the journal keeps it, so that nothing
    /// reading the journal later (`vigil status`, `vigil report`, from a shell without the run's
    /// environment) can show a secret.
    public func redacted(by redactor: Redactor) -> Verdict {
        var copy = self
        copy.reason = redactor.redact(reason)
        copy.exception = exception.map { exception in
            PythonException(
                type: exception.type, message: redactor.redact(exception.message),
                traceback: exception.traceback.map { redactor.redact($0) })
        }
        return copy
    }
}
