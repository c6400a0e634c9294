import CVigil

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

// What Vigil used of NSString, for a build on FoundationEssentials (which has none of it): trimming,
// C formats, and path names taken apart as text.

extension String {
    /// Where `needle` first occurs, as a UTF-8 offset, compared byte for byte (memmem); nil when it does
    /// not. `contains(_:)` and `firstRange(of:)` compare Characters: on the lines of an attempt's tail,
    /// searched for a traceback at every attempt's end, a few times slower; the answers differ only
    /// where a combining mark follows the needle's last character.
    public func utf8Offset(of needle: String) -> Int? {
        var haystack = self
        var needle = needle
        return haystack.withUTF8 { h in
            needle.withUTF8 { n -> Int? in
                guard !n.isEmpty else { return 0 }
                guard h.count >= n.count, let found = cvigil_memmem(h.baseAddress!, h.count, n.baseAddress!, n.count)
                else { return nil }
                return UnsafeRawPointer(found) - UnsafeRawPointer(h.baseAddress!)
            }
        }
    }

    /// Whether `needle` occurs, compared byte for byte (`utf8Offset(of:)`).
    public func containsBytes(_ needle: String) -> Bool { utf8Offset(of: needle) != nil }
}

extension StringProtocol {
    /// Without the spaces and tabs at either end (Foundation's `.whitespaces`: also the other Unicode
    /// space separators), line breaks kept.
    public func trimmingSpaces() -> String {
        func isSpace(_ c: Character) -> Bool {
            c == "\t" || c.unicodeScalars.allSatisfy { $0.properties.generalCategory == .spaceSeparator }
        }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }

    /// Without the white space and line breaks at either end (Foundation's `.whitespacesAndNewlines`).
    public func trimmed() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(self[first...last])
    }
}

extension String {
    /// With spaces after it up to `width` characters (never shortened): a column of a table.
    public func padded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    /// `format` as C's `printf` writes it (`%.1f`, `%03ld`, `%g`, `%02X`): what `String(format:)` gave for
    /// numbers, in the C locale. Integers are `Int` (use `l`), `Int32`/`UInt32` or smaller; no `%@`.
    public init(cFormat format: String, _ arguments: CVarArg...) {
        var size = 64
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let needed = withVaList(arguments) { vsnprintf(&buffer, size, format, $0) }
            if needed < 0 {
                self = format
                return
            }
            if Int(needed) < size {
                self = String(decoding: buffer.prefix(Int(needed)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return
            }
            size = Int(needed) + 1
        }
    }
}

/// Path names as text, the way NSString took them apart: `/` separates, trailing slashes do not count.
public enum Path {
    /// The last component: `/a/b.txt` → `b.txt`, `/a/b/` → `b`, `/` → `/`, `` → ``.
    public static func lastComponent(_ path: String) -> String {
        let trimmed = withoutTrailingSlashes(path)
        if trimmed == "/" { return "/" }
        return String(trimmed.split(separator: "/", omittingEmptySubsequences: false).last ?? "")
    }

    /// Without its last component: `/a/b` → `/a`, `/a` → `/`, `a` → ``, `/` → `/`.
    public static func parent(_ path: String) -> String {
        let trimmed = withoutTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        let head = withoutTrailingSlashes(String(trimmed[..<slash]))
        return head.isEmpty ? "/" : head
    }

    /// The extension of the last component, without its dot: `a.tar.gz` → `gz`; none for `a`, `.rc`, `a.`.
    public static func pathExtension(_ path: String) -> String {
        let name = lastComponent(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...])
    }

    /// Without the extension of its last component and its dot: `/a/b.json5` → `/a/b`, `/a/b.` → `/a/b`
    /// (a leading dot is the name's: `.rc` stays).
    public static func deletingExtension(_ path: String) -> String {
        let trimmed = withoutTrailingSlashes(path)
        let name = lastComponent(trimmed)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return trimmed }
        return String(trimmed.dropLast(name.utf8.count - name[..<dot].utf8.count))
    }

    /// `.` and empty components dropped and `..` taking the one before it away, as text (symbolic links
    /// are not followed): `/a/./b/../c//` → `/a/c`.
    public static func standardized(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".": continue
            case "..":
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !absolute {
                    parts.append(part)
                }
            default: parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? (path.isEmpty ? "" : ".") : joined)
    }

    private static func withoutTrailingSlashes(_ path: String) -> String {
        var path = Substring(path)
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }
}

/// What went wrong, in words: a file system error as its system message (`No such file or directory`),
/// with the path it names when that is not `path`.
public func errorText(_ error: any Error, path: String? = nil) -> String {
    func posix(_ code: Int32) -> String { String(cString: strerror(code)) }
    #if canImport(FoundationEssentials)
        if let cocoa = error as? CocoaError {
            let named = cocoa.userInfo["NSFilePath"] as? String
            let underlying = (cocoa.userInfo["NSUnderlyingError"] as? POSIXError).map { posix($0.code.rawValue) }
            let what = underlying ?? "file system error \(cocoa.code.rawValue)"
            return named.map { $0 == path ? what : "\(what): \($0)" } ?? what
        }
        if let error = error as? POSIXError { return posix(error.code.rawValue) }
    #endif
    if let error = error as? CustomStringConvertible { return error.description }
    return "\(error)"
}

/// Everything left to read from `fd` (until end of file or an error other than an interruption).
public func readToEnd(_ fd: Int32) -> Data {
    var data = Data()
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if got < 0 && errno == EINTR { continue }
        guard got > 0 else { return data }
        data.append(contentsOf: chunk[..<got])
    }
}
