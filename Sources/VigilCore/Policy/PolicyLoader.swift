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

/// Resolves a policy from its layers: the embedded `default`, then each policy a file `extends`
/// (most general first), then the file itself. Sections merge key by key; rules of a more specific
/// layer come first, and a rule with an inherited rule's name replaces it. Nothing is half-loaded:
/// the first problem throws, naming the file and the key.
public struct PolicyLoader: Sendable {
    /// Directories searched for a policy given by name, before the embedded ones.
    public var searchDirectories: [String]

    public init(searchDirectories: [String]) {
        self.searchDirectories = searchDirectories
    }

    /// The usual search path: `$VIGIL_POLICY_PATH` (colon-separated), then `./policies`.
    public static func standard(environment: [String: String], workingDirectory: String) -> PolicyLoader {
        var directories = (environment["VIGIL_POLICY_PATH"] ?? "").split(separator: ":").map(String.init)
        directories.append(workingDirectory + "/policies")
        return PolicyLoader(searchDirectories: directories)
    }

    /// Where a policy's text comes from.
    struct Source {
        var name: String
        var file: String  // a path, or "<embedded NAME>"
        var text: Data
        var directory: String?
    }

    /// Loads `spec` (a name such as `pytorch`, or a path) over the embedded default.
    /// `nil` loads the default alone.
    public func load(_ spec: String?) throws -> Policy {
        var chain: [Source] = []
        var next: (spec: String, relativeTo: String?)? = spec.map { ($0, nil) }
        while let current = next {
            let source = try locate(current.spec, relativeTo: current.relativeTo)
            // The same file reached by another spelling (`./a.json5`, `../dir/a.json5`, a symlink) is
            // the same layer: compared as strings, such a cycle grew the path until it was too long to open.
            if chain.contains(where: { PolicyLoader.identity($0.file) == PolicyLoader.identity(source.file) }) {
                let cycle = (chain.map(\.file) + [source.file]).joined(separator: " → ")
                throw VigilError(.invalidPolicy, file: chain.last?.file, key: "extends", "extends cycle: \(cycle)")
            }
            if source.name == "default" && source.file.hasPrefix("<embedded") { break }
            chain.append(source)
            let tree = try JSONValue.parseJSON5(source.text, file: source.file)
            if case .object(let members) = tree, let parent = members["extends"] {
                guard case .string(let parentSpec) = parent else {
                    throw VigilError(
                        .invalidPolicy, file: source.file, key: "extends",
                        "expected the name or path of a policy, got \(parent.typeName) \(parent.preview)")
                }
                // A parent is looked up next to its child first: an embedded policy's parent is
                // the embedded one, not whatever file of that name is on the search path.
                next = (parentSpec, source.directory ?? PolicyLoader.embeddedMarker)
            } else {
                next = nil
            }
        }
        let base = Source(
            name: "default", file: "<embedded default>",
            text: Data(EmbeddedPolicies.text(named: "default")!.utf8), directory: nil)
        let layers = [base] + chain.reversed()
        var policy = Policy(name: chain.first?.name ?? "default", sources: layers.map(\.file))
        var rules: [Rule] = []
        for layer in layers {
            let tree = try JSONValue.parseJSON5(layer.text, file: layer.file)
            let layerRules = try PolicyDecoder.apply(tree, file: layer.file, to: &policy)
            let names = Set(layerRules.map(\.name))
            rules = layerRules + rules.filter { !names.contains($0.name) }
        }
        policy.rules = rules
        try PolicyDecoder.validate(policy, file: layers.last!.file)
        return policy
    }

    static let embeddedMarker = "<embedded>"

    /// What makes two sources the same file: the path with `.`, `..` and symlinks resolved.
    static func identity(_ file: String) -> String {
        file.hasPrefix("<") ? file : URL(fileURLWithPath: file).resolvingSymlinksInPath().path
    }

    /// `name` inside `directory` (which may be `/`).
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    func locate(_ spec: String, relativeTo directory: String?) throws -> Source {
        if directory == PolicyLoader.embeddedMarker, let text = EmbeddedPolicies.text(named: spec) {
            return Source(name: spec, file: "<embedded \(spec)>", text: Data(text.utf8), directory: nil)
        }
        let looksLikePath = spec.contains("/") || spec.hasSuffix(".json5") || spec.hasSuffix(".json")
        if looksLikePath {
            var path = spec
            if !spec.hasPrefix("/"), let directory, directory != PolicyLoader.embeddedMarker {
                path = PolicyLoader.join(directory, spec)
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                var info = stat()
                if stat(path, &info) == 0 {
                    let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
                    throw VigilError(
                        .notFound, file: path,
                        isDirectory ? "is a directory, not a policy file" : "cannot be read")
                }
                throw VigilError(.notFound, file: path, "policy file not found")
            }
            let name = Path.deletingExtension(Path.lastComponent(path))
            // A bare `a.json5` lies in the current directory: its parent is ".", not "" (which made `extends:
            // "b.json5"` in it look for "/b.json5").
            let parent = Path.parent(path)
            return Source(name: name, file: path, text: data, directory: parent.isEmpty ? "." : parent)
        }
        let directories =
            (directory.flatMap { $0 == PolicyLoader.embeddedMarker ? nil : [$0] } ?? []) + searchDirectories
        for dir in directories {
            for ext in ["json5", "json"] {
                let path = PolicyLoader.join(dir, "\(spec).\(ext)")
                if let data = FileManager.default.contents(atPath: path) {
                    return Source(name: spec, file: path, text: data, directory: dir)
                }
            }
        }
        if let text = EmbeddedPolicies.text(named: spec) {
            return Source(name: spec, file: "<embedded \(spec)>", text: Data(text.utf8), directory: nil)
        }
        let shipped = EmbeddedPolicies.names.joined(separator: ", ")
        throw VigilError(
            .notFound,
            "no policy named '\(spec)' (looked in \(directories.joined(separator: ", ")); shipped policies: \(shipped))"
        )
    }
}
