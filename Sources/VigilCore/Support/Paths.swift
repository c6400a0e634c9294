#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Paths as Vigil's users write them: absolute, or relative to a directory (the working directory
/// vigil was started in, the run's).
public enum Paths {
    /// `path` when it is absolute, else `path` under `directory`.
    public static func absolute(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : directory + "/" + path
    }

    /// Calls `visit` with the path (relative to `root`) of every entry under the directory `root`, depth
    /// first, parents before their contents; directories reached through a symbolic link are not entered.
    /// Stops when `visit` returns false. False when `root` cannot be listed.
    @discardableResult
    public static func walk(_ root: String, _ visit: (String) -> Bool) -> Bool {
        guard let stream = opendir(root) else { return false }
        var stop = false
        func entries(of stream: OpaquePointer, prefix: String) {
            while !stop, let entry = readdir(stream) {
                let name = withUnsafePointer(to: &entry.pointee.d_name) {
                    String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
                }
                if name == "." || name == ".." { continue }
                let relative = prefix + name
                if !visit(relative) {
                    stop = true
                    return
                }
                var info = stat()
                guard lstat(root + "/" + relative, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR,
                    let inner = opendir(root + "/" + relative)
                else { continue }
                entries(of: inner, prefix: relative + "/")
                closedir(inner)
            }
        }
        entries(of: stream, prefix: "")
        closedir(stream)
        return true
    }
}
