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

/// A cgroup v2 of Vigil's own, made for one attempt under the cgroup Vigil runs in, where the
/// machine lets Vigil write there (a delegated systemd unit, a hybrid host's unified hierarchy, a
/// root shell). The trainer joins it before it execs (`ChildProcess.spawn(cgroup:)`), and nothing it
/// starts can leave it — not with `setsid`, not with a double fork — so at the end of the attempt
/// its members are exactly the processes left to stop, and `cgroup.kill` stops them all at once.
///
/// - Important: Linux only; elsewhere, and where cgroup v2 is missing or read-only (most
///   containers), `create` explains why not and Vigil relies on the process group and on being a
///   child subreaper.
public struct ControlGroup: Sendable, Equatable {
    /// The cgroup's directory (`/sys/fs/cgroup/…/vigil-1234-attempt-3`).
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Creates `name` under this process's own cgroup v2; the error says why it cannot.
    public static func create(name: String) -> Result<ControlGroup, ControlGroupUnavailable> {
        #if os(Linux)
            guard let parent = ownDirectory() else {
                return .failure(ControlGroupUnavailable(reason: "no cgroup v2 hierarchy is mounted"))
            }
            let path = parent + "/" + name
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                return .failure(
                    ControlGroupUnavailable(reason: "cannot create \(path): \(String(cString: strerror(errno)))"))
            }
            let group = ControlGroup(path: path)
            let fd = group.openProcs()
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                rmdir(path)
                return .failure(ControlGroupUnavailable(reason: "cannot write \(path)/cgroup.procs: \(reason)"))
            }
            close(fd)
            return .success(group)
        #else
            return .failure(ControlGroupUnavailable(reason: "cgroups exist on Linux only"))
        #endif
    }

    /// The directory of this process's cgroup in the v2 hierarchy, from `/proc/self/cgroup` (`0::/path`)
    /// and the mount point of `cgroup2` in `/proc/self/mountinfo`.
    static func ownDirectory() -> String? {
        guard let cgroups = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
            let line = cgroups.split(separator: "\n").first(where: { $0.hasPrefix("0::") }),
            let mount = mountPoint()
        else { return nil }
        let relative = String(line.dropFirst(3))
        return relative == "/" ? mount : mount + relative
    }

    /// Where `cgroup2` is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid hosts).
    static func mountPoint() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            // id parent major:minor root mount-point options … - fstype source super-options
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count > 4 { return String(fields[4]) }
        }
        return nil
    }

    /// `cgroup.procs` opened for writing (-1 on failure): written with "0" by a child joining it.
    func openProcs() -> Int32 {
        open(path + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
    }

    /// The pids in the cgroup now.
    public var members: [pid_t] {
        guard let text = try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Whether any process is left in it (`cgroup.events`: `populated 1`).
    public var isPopulated: Bool {
        guard let text = try? String(contentsOfFile: path + "/cgroup.events", encoding: .utf8) else {
            return !members.isEmpty
        }
        return text.split(separator: "\n").contains("populated 1")
    }

    /// How many processes of this cgroup the kernel's OOM killer killed (`memory.events` `oom_kill`),
    /// where the memory controller is enabled for it; nil otherwise.
    public var oomKills: Int? {
        guard let text = try? String(contentsOfFile: path + "/memory.events", encoding: .utf8) else { return nil }
        return OOMKillCounter.parseCount(text)
    }

    /// SIGKILL to every member at once (`cgroup.kill`, Linux 5.14+); false where that file is missing.
    @discardableResult
    public func killAll() -> Bool {
        let fd = open(path + "/cgroup.kill", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return systemWrite(fd, "1", 1) == 1
    }

    /// Removes the (empty) cgroup; false while processes are still in it.
    @discardableResult
    public func remove() -> Bool {
        rmdir(path) == 0 || errno == ENOENT
    }
}

/// Why Vigil has no cgroup of its own for an attempt.
public struct ControlGroupUnavailable: Error, Sendable, Equatable {
    public var reason: String
}
