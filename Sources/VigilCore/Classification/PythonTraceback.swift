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

/// The last Python exception found in a trainer's output: its type, message and traceback text.
public struct PythonException: Sendable, Equatable, Codable {
    /// The type as printed: `ValueError`, `torch.cuda.OutOfMemoryError`.
    public var type: String
    public var message: String
    /// The whole last traceback block (header to the exception line), when it was in the tail.
    public var traceback: String?

    public init(type: String, message: String, traceback: String? = nil) {
        self.type = type
        self.message = message
        self.traceback = traceback
    }

    /// The type's last component (`OutOfMemoryError` for `torch.cuda.OutOfMemoryError`).
    public var shortType: String { type.split(separator: ".").last.map(String.init) ?? type }

    /// Whether a rule's name `name` covers this exception: the full name, the last component, or a
    /// built-in base class of it (`OSError` covers `ConnectionResetError`).
    public func matches(_ name: String) -> Bool {
        if name == type { return true }
        if name.contains(".") { return false }
        var current: String? = shortType
        while let candidate = current {
            if candidate == name { return true }
            current = PythonException.builtinBases[candidate]
        }
        return false
    }

    /// Python's built-in exception hierarchy (child → parent), plus well-known library subclasses.
    static let builtinBases: [String: String] = [
        "ModuleNotFoundError": "ImportError",
        "FileNotFoundError": "OSError", "PermissionError": "OSError", "FileExistsError": "OSError",
        "IsADirectoryError": "OSError", "NotADirectoryError": "OSError", "TimeoutError": "OSError",
        "ConnectionError": "OSError", "InterruptedError": "OSError", "ChildProcessError": "OSError",
        "ProcessLookupError": "OSError", "BlockingIOError": "OSError",
        "BrokenPipeError": "ConnectionError", "ConnectionResetError": "ConnectionError",
        "ConnectionAbortedError": "ConnectionError", "ConnectionRefusedError": "ConnectionError",
        "IOError": "OSError", "EnvironmentError": "OSError",
        "JSONDecodeError": "ValueError", "UnicodeError": "ValueError", "UnicodeDecodeError": "UnicodeError",
        "UnicodeEncodeError": "UnicodeError",
        "ZeroDivisionError": "ArithmeticError", "FloatingPointError": "ArithmeticError",
        "OverflowError": "ArithmeticError",
        "KeyError": "LookupError", "IndexError": "LookupError",
        "RecursionError": "RuntimeError", "NotImplementedError": "RuntimeError",
        "_ArrayMemoryError": "MemoryError",
        "IndentationError": "SyntaxError", "TabError": "IndentationError",
        "UnboundLocalError": "NameError",
    ]

    private static let header = "Traceback (most recent call last):"

    /// The last exception in `lines`: the exception line that closes the last traceback block
    /// (chained exceptions print several; the last is what killed the process). Lines may carry a
    /// common prefix such as torchrun's `[rank0]: `. Without a traceback header (it may have scrolled
    /// out of the tail), the last line that looks like `SomeError: message` is taken.
    public static func last(in lines: [String]) -> PythonException? {
        if let headerIndex = lines.lastIndex(where: { $0.containsBytes(header) }) {
            let headerLine = lines[headerIndex]
            let prefix = String(decoding: headerLine.utf8.prefix(headerLine.utf8Offset(of: header)!), as: UTF8.self)
            var block = [header]
            var index = headerIndex + 1
            while index < lines.count {
                var line = lines[index]
                if !prefix.isEmpty, line.hasPrefix(prefix) { line.removeFirst(prefix.count) }
                block.append(line)
                // A log line another process printed into the block (`INFO: step 3`) is not the exception.
                if let first = line.first, first != " ", first != "\t", let parsed = exceptionLine(line),
                    !isLogLevel(parsed.type)
                {
                    // A message may continue on following lines until a blank line or a new block.
                    var message = parsed.message
                    var next = index + 1
                    while next < lines.count {
                        var more = lines[next]
                        if !prefix.isEmpty, more.hasPrefix(prefix) { more.removeFirst(prefix.count) }
                        if more.trimmingSpaces().isEmpty || more.containsBytes(header)
                            || message.count > 2000 || exceptionLine(more) != nil && more.first != " "
                        {
                            break
                        }
                        if more.hasPrefix("  File ") { break }
                        message += "\n" + more
                        block.append(more)
                        next += 1
                        if next - index > 20 { break }
                    }
                    return PythonException(
                        type: parsed.type, message: message, traceback: block.joined(separator: "\n"))
                }
                index += 1
            }
        }
        for line in lines.reversed() {
            let trimmed = line.trimmingSpaces()
            if let parsed = exceptionLine(trimmed), !["Error", "Exception"].contains(parsed.type),
                parsed.type.hasSuffix("Error") || parsed.type.hasSuffix("Exception")
                    || parsed.type.hasSuffix("Interrupt")
            {
                return PythonException(type: parsed.type, message: parsed.message, traceback: nil)
            }
        }
        return nil
    }

    /// Whether `type` is a log level (`INFO`, `WARNING`) rather than an exception class: one
    /// upper-case word, no module.
    static func isLogLevel(_ type: String) -> Bool {
        !type.contains(".") && type.contains(where: \.isLetter) && type == type.uppercased()
    }

    /// `pkg.mod.SomeError: message` or a bare `SomeError` → (type, message).
    static func exceptionLine(_ line: String) -> (type: String, message: String)? {
        let namePart: Substring
        let message: String
        if let colon = line.utf8Offset(of: ": ") {
            let utf8 = line.utf8
            namePart = Substring(utf8.prefix(colon))
            message = String(Substring(utf8.dropFirst(colon + 2)))
        } else if line.hasSuffix(":") {
            return nil
        } else {
            namePart = Substring(line)
            message = ""
        }
        guard !namePart.isEmpty else { return nil }
        // Refused at once when an ASCII byte no name holds (a space, `=`, `/`…) comes before any
        // non-ASCII one, as the walk over Characters below would (an ASCII byte starts its own
        // Character, whose first scalar is that byte), without the Characters: most lines end here.
        for byte in namePart.utf8 {
            if byte >= 0x80 { break }
            let letterOrDigit = (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A || byte >= 0x30 && byte <= 0x39
            if !(letterOrDigit || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")) { return nil }
        }
        var expectStart = true
        for ch in namePart {
            if expectStart {
                guard ch.isLetter || ch == "_" else { return nil }
                expectStart = false
            } else if ch == "." {
                expectStart = true
            } else if !(ch.isLetter || ch.isNumber || ch == "_") {
                return nil
            }
        }
        // Counted only now: most lines fail at their first space, and counting Characters costs as much
        // as the tail's own classification.
        if expectStart || namePart.count >= 200 { return nil }
        // A bare word is an exception only if it is named like one (KeyboardInterrupt, MemoryError).
        let last = namePart.split(separator: ".").last ?? namePart
        guard last.first?.isUppercase == true || last.first == "_" else { return nil }
        if message.isEmpty
            && !(last.hasSuffix("Error") || last.hasSuffix("Exception") || last.hasSuffix("Interrupt")
                || last == "SystemExit" || last == "StopIteration")
        {
            return nil
        }
        return (String(namePart), message)
    }
}

/// What the trainer wrote to `VIGIL_ERROR_FILE` before dying.
public struct TrainerErrorFile: Sendable, Equatable, Codable {
    public var type: String?
    public var message: String?
    public var traceback: String?

    public init(type: String? = nil, message: String? = nil, traceback: String? = nil) {
        self.type = type
        self.message = message
        self.traceback = traceback
    }

    /// Reads and parses the file; nil when absent or not the expected JSON (never throws: a
    /// malformed error file must not stop the classification).
    public static func read(at path: String) -> TrainerErrorFile? {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        return parse(data)
    }

    /// Vigil's own form, `{"type", "message", "traceback"}`, or torchelastic's, which torchrun copies from
    /// the failed rank when `TORCHELASTIC_ERROR_FILE` points here (vigil sets it to `VIGIL_ERROR_FILE`):
    /// `{"message": {"message": "TypeError: …", "extraInfo": {"py_callstack": "Traceback …", "timestamp":
    /// "…"}, "errorCode": 1}}`, or `{"message": "…", "timestamp": …}`.
    public static func parse(_ data: Data) -> TrainerErrorFile? {
        guard case .object(let members)? = try? JSONDecoder().decode(JSONValue.self, from: data) else { return nil }
        func text(_ key: String, in object: [String: JSONValue]) -> String? {
            if case .string(let s)? = object[key] { return s }
            return nil
        }
        if text("type", in: members) == nil {
            if case .object(let inner)? = members["message"], let message = text("message", in: inner) {
                var traceback: String?
                if case .object(let extra)? = inner["extraInfo"] { traceback = text("py_callstack", in: extra) }
                return torchelastic(message, traceback: traceback)
            }
            if let message = text("message", in: members), members["timestamp"] != nil {
                return torchelastic(message, traceback: nil)
            }
        }
        let file = TrainerErrorFile(
            type: text("type", in: members), message: text("message", in: members),
            traceback: text("traceback", in: members))
        return file.type == nil && file.message == nil ? nil : file
    }

    /// torchelastic writes `f"{type(e).__name__}: {e}"`: the type is the part before the first `: `
    /// when it is named like one.
    private static func torchelastic(_ message: String, traceback: String?) -> TrainerErrorFile {
        if let colon = message.firstRange(of: ": ") ?? (message.hasSuffix(":") ? message.firstRange(of: ":") : nil) {
            let name = message[..<colon.lowerBound]
            let isName =
                !name.isEmpty && name.first?.isLetter == true
                && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
            if isName {
                return TrainerErrorFile(
                    type: String(name), message: String(message[colon.upperBound...]), traceback: traceback)
            }
        }
        let isName = !message.isEmpty && message.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        return isName
            ? TrainerErrorFile(type: message, message: "", traceback: traceback)
            : TrainerErrorFile(type: nil, message: message, traceback: traceback)
    }

    var exception: PythonException? {
        guard let type, !type.isEmpty else { return nil }
        return PythonException(type: type, message: message ?? "", traceback: traceback)
    }
}
