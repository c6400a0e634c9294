/// Paths as Vigil's users write them: absolute, or relative to a directory (the working directory
/// vigil was started in, the run's).
public enum Paths {
    /// `path` when it is absolute, else `path` under `directory`.
    public static func absolute(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : directory + "/" + path
    }
}
