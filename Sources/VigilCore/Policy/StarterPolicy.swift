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

/// What `vigil init -- COMMAND` makes of a trainer command: the framework (from the script's
/// imports), the config file and the keys the repairs need, where the checkpoints are and how they
/// are named (from the files already there, else the framework's convention), how the script takes
/// a resume argument; and a commented starter policy from it. Every guess says what it rests on,
/// and what a person must check is listed.
public struct StarterPolicy: Sendable, Equatable {
    /// The frameworks vigil ships a policy for, most specific first.
    public enum Framework: String, Sendable, CaseIterable {
        case lightning, huggingface, sb3, xgboost, lightgbm, pytorch, python

        /// The top-level modules that give it away.
        var modules: [String] {
            switch self {
            case .lightning: return ["lightning", "pytorch_lightning"]
            case .huggingface: return ["transformers"]
            case .sb3: return ["stable_baselines3", "sb3_contrib"]
            case .xgboost: return ["xgboost"]
            case .lightgbm: return ["lightgbm"]
            case .pytorch: return ["torch"]
            case .python: return []
            }
        }

        /// In words, for what vigil prints.
        public var title: String {
            switch self {
            case .lightning: return "PyTorch Lightning"
            case .huggingface: return "Hugging Face Trainer"
            case .sb3: return "Stable-Baselines3"
            case .xgboost: return "XGBoost"
            case .lightgbm: return "LightGBM"
            case .pytorch: return "PyTorch"
            case .python: return "a Python trainer"
            }
        }
    }

    /// The shipped policy the starter extends (`default` for a command that is not Python).
    public var extends: String
    public var framework: Framework?
    /// The script read, relative to the working directory as given.
    public var script: String?
    /// What each guess rests on, one line each.
    public var evidence: [String] = []
    /// What a person should check before relying on it.
    public var checks: [String] = []
    public var configPath: String?
    /// Role → key (`training.lr`, `arg:--lr`).
    public var roles: [(role: String, key: String)] = []
    public var checkpointDirectory: String?
    public var checkpointPattern: String?
    public var checkpointMarker: String?
    public var resumeArguments: [String]?

    public static func == (a: StarterPolicy, b: StarterPolicy) -> Bool {
        a.extends == b.extends && a.framework == b.framework && a.script == b.script && a.evidence == b.evidence
            && a.checks == b.checks && a.configPath == b.configPath && a.roles.map(\.role) == b.roles.map(\.role)
            && a.roles.map(\.key) == b.roles.map(\.key) && a.checkpointDirectory == b.checkpointDirectory
            && a.checkpointPattern == b.checkpointPattern && a.checkpointMarker == b.checkpointMarker
            && a.resumeArguments == b.resumeArguments
    }

    /// Looks at `command` as it would run in `workingDirectory`.
    public static func guess(command: [String], workingDirectory: String) -> StarterPolicy {
        var starter = StarterPolicy(extends: "default")
        let scriptPath = script(in: command, workingDirectory: workingDirectory)
        var source = ""
        if let scriptPath {
            starter.script = scriptPath.shown
            source = readSources(scriptPath.absolute)
            starter.guessFramework(source, script: scriptPath.shown)
        } else {
            starter.checks.append(
                "no Python script found in the command: the starter extends `default` (any failure is retried)")
        }
        starter.guessConfig(command: command, workingDirectory: workingDirectory)
        starter.guessArgumentRoles(command: command)
        starter.guessCheckpoints(command: command, workingDirectory: workingDirectory)
        starter.guessResume(source)
        if source.contains("vigil_trainer") {
            starter.evidence.append(
                "\(scriptPath?.shown ?? "the script") uses vigil_trainer: checkpoint signal, atomic saves, overrides")
        } else if starter.framework != nil {
            starter.checks.append(
                "the script does not use examples/vigil_trainer.py: without it a repaired learning rate is undone by an optimizer restored from a checkpoint, and the checkpoint signal (USR1) is not handled"
            )
        }
        return starter
    }

    /// The script the command runs: `python[3] [-u …] SCRIPT.py …`, `python -m module`, or a `.py`
    /// that is itself the command.
    static func script(in command: [String], workingDirectory: String) -> (shown: String, absolute: String)? {
        var candidate: String?
        if let first = command.first, first.hasSuffix(".py") {
            candidate = first
        } else if let first = command.first, URL(fileURLWithPath: first).lastPathComponent.hasPrefix("python") {
            var index = 1
            while index < command.count, command[index].hasPrefix("-") {
                if command[index] == "-m", index + 1 < command.count {
                    let module = command[index + 1].replacing(".", with: "/")
                    for file in [module + ".py", module + "/__main__.py"]
                    where FileManager.default.fileExists(atPath: Paths.absolute(file, in: workingDirectory)) {
                        candidate = file
                    }
                    break
                }
                index += 1
            }
            if candidate == nil, index < command.count, command[index].hasSuffix(".py") { candidate = command[index] }
        } else {
            candidate = command.first { $0.hasSuffix(".py") }
        }
        guard let candidate else { return nil }
        let absolute = Paths.absolute(candidate, in: workingDirectory)
        guard FileManager.default.isReadableFile(atPath: absolute) else { return nil }
        return (candidate, absolute)
    }

    /// The script's text, and the text of the modules beside it that it imports (one level).
    static func readSources(_ path: String) -> String {
        guard let text = readText(path) else { return "" }
        var all = text
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        for module in importedModules(text) {
            let first = String(module.split(separator: ".").first ?? "")
            if let local = readText(directory + "/" + first + ".py") { all += "\n" + local }
        }
        return all
    }

    static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        var filled = 0
        while filled < bytes.count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            filled += got
        }
        return String(decoding: bytes.prefix(filled), as: UTF8.self)
    }

    /// Modules named by `import X` and `from X import …` lines (dotted names, in order).
    static func importedModules(_ text: String) -> [String] {
        var modules: [String] = []
        for line in text.split(separator: "\n") {
            let words = line.trimmingSpaces().split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 2, words[0] == "import" || words[0] == "from" else { continue }
            let names = words[0] == "import" ? words[1...].prefix { $0 != "as" } : words[1...1]
            for name in names.joined(separator: " ").split(separator: ",") {
                let trimmed = name.trimmingSpaces()
                if !trimmed.isEmpty, !trimmed.hasPrefix(".") { modules.append(trimmed) }
            }
        }
        return modules
    }

    mutating func guessFramework(_ source: String, script: String) {
        let roots = Set(StarterPolicy.importedModules(source).map { String($0.split(separator: ".").first ?? "") })
        for framework in Framework.allCases where !framework.modules.isEmpty {
            guard let module = framework.modules.first(where: roots.contains) else { continue }
            if framework == .huggingface, !source.contains("Trainer(") && !source.contains("Trainer ") {
                // transformers used without its Trainer: the loop is the script's own.
                continue
            }
            self.framework = framework
            extends = framework.rawValue
            evidence.append("\(script) imports \(module): \(framework.title)")
            return
        }
        framework = .python
        extends = "python"
        evidence.append("\(script) is Python and imports no framework vigil knows: the python policy")
    }
}
