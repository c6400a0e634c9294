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

/// Reads the kernel's count of out-of-memory kills in Vigil's memory cgroup (the trainer's too, as
/// it inherits it): cgroup v2 `memory.events` `oom_kill N`, or v1 `memory.oom_control` `oom_kill N`.
/// Compare the count before and after an attempt: if it rose, the kernel killed something for memory.
public struct OOMKillCounter: Sendable {
    /// The file holding the count, when one was found.
    public let eventsFile: String?

    /// Finds the counter for the process's cgroup, reading `/proc/self/cgroup` under `root`
    /// (a test passes a directory of sample files).
    public init(root: String = "", procCgroup: String = "/proc/self/cgroup") {
        eventsFile = OOMKillCounter.locate(root: root, procCgroup: root + procCgroup)
    }

    public init(eventsFile: String?) {
        self.eventsFile = eventsFile
    }

    /// Where the count is read, in words.
    public var source: String? {
        eventsFile.map { "counted in \($0)" }
    }

    /// The current number of OOM kills, or nil when unknown.
    public func count() -> Int? {
        guard let eventsFile, let text = try? String(contentsOfFile: eventsFile, encoding: .utf8) else { return nil }
        return OOMKillCounter.parseCount(text)
    }

    static func parseCount(_ text: String) -> Int? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == "oom_kill", let n = Int(parts[1]) { return n }
        }
        return nil
    }

    static func locate(root: String, procCgroup: String) -> String? {
        guard let text = try? String(contentsOfFile: procCgroup, encoding: .utf8) else { return nil }
        var candidates: [String] = []
        for line in text.split(separator: "\n") {
            // hierarchy-ID:controller-list:cgroup-path
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[0] == "0" && parts[1].isEmpty {
                candidates.append("\(root)/sys/fs/cgroup\(path == "/" ? "" : path)/memory.events")
            } else if parts[1].split(separator: ",").contains("memory") {
                candidates.append("\(root)/sys/fs/cgroup/memory\(path == "/" ? "" : path)/memory.oom_control")
            }
        }
        // Inside a container the cgroup path may not exist under our view; fall back to the root files.
        candidates += ["\(root)/sys/fs/cgroup/memory.events", "\(root)/sys/fs/cgroup/memory/memory.oom_control"]
        return candidates.first { path in
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap(parseCount) != nil
        }
    }
}
