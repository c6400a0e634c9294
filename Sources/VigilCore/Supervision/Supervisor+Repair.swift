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

/// The trainer's config as read from disk.
struct LoadedConfig {
    var path: String
    var format: ConfigFormat
    var document: any ConfigDocument
}

extension Supervisor {
    /// Reads the trainer's config when there is one Vigil can edit; syntax errors are exit 78.
    func loadConfig() throws -> LoadedConfig? {
        guard let path = configPath else { return nil }
        guard FileManager.default.fileExists(atPath: path) else {
            if !request.policy.config.schema.isEmpty {
                throw VigilError(.notFound, file: path, "the trainer's config file does not exist")
            }
            return nil
        }
        guard let format = ConfigFormat(path: path) else {
            if !request.policy.config.schema.isEmpty {
                throw VigilError(
                    .invalidConfig, file: path,
                    "unknown config format: expected .json, .yaml/.yml, .toml, .ini/.cfg/.conf or .env")
            }
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw VigilError(.invalidConfig, file: path, "cannot be read as UTF-8 text")
        }
        return LoadedConfig(
            path: path, format: format, document: try ConfigFile.parse(text, format: format, path: path))
    }

    /// Before the first attempt: validate the config against `config.schema`, repair what the schema
    /// can (clamp, default), and stop with exit 78 listing every problem it cannot — the file untouched.
    func validateConfig() throws {
        let schema = request.policy.config.schema
        guard !schema.isEmpty, let config = try loadConfig() else { return }
        let check = ConfigSchema.check(config.document, schema: schema, file: config.path)
        guard check.problems.isEmpty else {
            throw VigilError(
                .invalidConfig, file: config.path,
                "does not match config.schema:\n  " + check.problems.joined(separator: "\n  "))
        }
        guard !check.repairs.isEmpty else { return }
        var text = config.document.text
        for repair in check.repairs {
            let document = try ConfigFile.parse(text, format: config.format, path: config.path)
            text = try document.setting(repair.key, to: repair.value)
            note("vigil: config repair (\(repair.record.reason)): \(repair.record.line)")
        }
        let hashBefore = try SHA256.hex(ofFile: config.path)
        try writeConfig(text, to: config.path, backupLabel: "before-schema")
        journal.schemaRepairs = (journal.schemaRepairs ?? []) + check.repairs.map(\.record)
        // Vigil's own edit is not a user's change — unless the user had changed it already.
        if journal.expectedConfigHash == nil || journal.expectedConfigHash == hashBefore {
            journal.expectedConfigHash = try SHA256.hex(ofFile: config.path)
        }
        save()
    }

    /// After a failure whose rule names repairs: work out every change, and apply them all together
    /// (config edits in one atomic write). Returns why not, when one of them is exhausted.
    func applyRepairs(of rule: Rule, to attempt: inout Journal.Attempt) throws -> RepairExhausted? {
        guard !rule.repairs.isEmpty else { return nil }
        // The config is read only when a repair edits it: env: and arg: repairs need no config.
        let editsConfig = rule.repairs.contains { repair in
            let key =
                repair.key.hasPrefix("@") ? request.policy.config.roles[String(repair.key.dropFirst())] : repair.key
            return key.map { !$0.hasPrefix("env:") && !$0.hasPrefix("arg:") } ?? false
        }
        let config = editsConfig ? try loadConfig() : nil
        var text = config?.document.text
        let hashBefore = config.flatMap { try? SHA256.hex(ofFile: $0.path) }
        var records: [RepairRecord] = []
        var env = journal.environmentOverrides ?? [:]
        var unchanged: [RepairExhausted] = []
        var args = journal.argumentOverrides ?? [:]
        for repair in rule.repairs {
            var key = repair.key
            if key.hasPrefix("@") {
                guard let mapped = request.policy.config.roles[String(key.dropFirst())] else {
                    note("vigil: repair of \(key) skipped: the policy names no config.roles.\(key.dropFirst())")
                    continue
                }
                key = mapped
            }
            // Where the key lives decides how its value is read and written; the rest is the same.
            let current: ConfigValue?
            var bounded = repair
            let commit: (ConfigValue) throws -> Void
            if key.hasPrefix("env:") {
                let name = String(key.dropFirst(4))
                current = (env[name] ?? request.environment[name]).map(ConfigValue.init(parsing:))
                commit = { env[name] = $0.description }
            } else if key.hasPrefix("arg:") {
                let flag = String(key.dropFirst(4))
                current = (args[flag] ?? Supervisor.argumentValue(flag, in: request.command)).map(
                    ConfigValue.init(parsing:))
                commit = { args[flag] = $0.description }
            } else {
                guard let loaded = config, let currentText = text else {
                    note("vigil: repair of \(key) skipped: no config file (config.path or the trainer's --config)")
                    continue
                }
                let document = try ConfigFile.parse(currentText, format: loaded.format, path: loaded.path)
                current = document.value(at: key)
                if let schema = request.policy.config.schema[key] {
                    bounded.min = [repair.min, schema.min].compactMap { $0 }.max()
                    bounded.max = [repair.max, schema.max].compactMap { $0 }.min()
                }
                commit = { text = try document.setting(key, to: $0) }
            }
            if case .set(let value) = repair.operation, current == value { continue }  // already in effect
            let integral = Repair.isIntegral(key, role: repair.role, config: request.policy.config)
            switch bounded.apply(to: current, integral: integral) {
            case .failure(let exhausted):
                if exhausted.crossesBound { return exhausted }
                unchanged.append(exhausted)
            case .success(let next):
                try commit(next)
                records.append(
                    RepairRecord(key: key, before: current?.description, after: next.description, reason: rule.name))
            }
        }
        if records.isEmpty, let first = unchanged.first {
            return RepairExhausted(key: first.key, reason: "no repair can change anything any more (\(first.reason))")
        }
        if let loaded = config, let text, text != loaded.document.text {
            try writeConfig(
                text, to: loaded.path, backupLabel: String(cFormat: "before-attempt-%03ld", attempt.number + 1))
            // Vigil's own edit is not a user's change — unless the user had changed it already.
            if journal.expectedConfigHash == nil || journal.expectedConfigHash == hashBefore {
                journal.expectedConfigHash = try SHA256.hex(ofFile: loaded.path)
            }
        }
        journal.environmentOverrides = env.isEmpty ? nil : env
        journal.argumentOverrides = args.isEmpty ? nil : args
        for record in records { note("vigil: repair (\(rule.name)): \(record.line)") }
        attempt.repairs = records.isEmpty ? nil : records
        return nil
    }

    /// Writes the config atomically (temp, fsync, rename), with the file's own permissions, after
    /// saving the original once and the version being replaced, under `config-backups/`.
    func writeConfig(_ text: String, to path: String, backupLabel: String) throws {
        let backups = directory.path + "/config-backups"
        try FileManager.default.createDirectory(atPath: backups, withIntermediateDirectories: true)
        let name = Path.lastComponent(path)
        let current = FileManager.default.contents(atPath: path) ?? Data()
        let original = "\(backups)/\(name).original"
        // Backups may hold secrets (a .env): readable by the owner only.
        if !FileManager.default.fileExists(atPath: original) {
            try AtomicFile.write(current, to: original, permissions: 0o600)
        }
        try AtomicFile.write(current, to: "\(backups)/\(name).\(backupLabel)", permissions: 0o600)
        var info = stat()
        let mode = stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0o644
        try AtomicFile.write(Data(text.utf8), to: path, permissions: mode, beforeRename: Supervisor.faultInjection)
    }

    /// `VIGIL_FAULT_INJECTION=config-before-rename`: vigil kills itself between writing the new config
    /// and renaming it into place (tests prove the old config survives whole).
    static let faultInjection: (@Sendable () -> Void)? = {
        guard ProcessInfo.processInfo.environment["VIGIL_FAULT_INJECTION"] == "config-before-rename" else { return nil }
        return { kill(getpid(), SIGKILL) }
    }()

    /// The value of `--flag V` or `--flag=V` in `argv`.
    static func argumentValue(_ flag: String, in argv: [String]) -> String? {
        for (index, argument) in argv.enumerated() {
            if argument == flag, index + 1 < argv.count { return argv[index + 1] }
            if argument.hasPrefix(flag + "=") { return String(argument.dropFirst(flag.count + 1)) }
        }
        return nil
    }

    /// `argv` with each overridden flag's value replaced (or the flag appended).
    static func applying(_ overrides: [String: String], to argv: [String]) -> [String] {
        var result = argv
        for flag in overrides.keys.sorted() {
            let value = overrides[flag]!
            if let index = result.firstIndex(of: flag), index + 1 < result.count {
                result[index + 1] = value
            } else if let index = result.firstIndex(where: { $0.hasPrefix(flag + "=") }) {
                result[index] = flag + "=" + value
            } else {
                result += [flag, value]
            }
        }
        return result
    }
}

extension Supervisor {
    /// Applies the matched rule's repairs to the config, environment and arguments; returns why not
    /// when one of them cannot go on (the classifier makes that unrecoverable).
    func repairIfAsked(_ attempt: inout Journal.Attempt, stop: VigilStop?) throws -> RepairExhausted? {
        guard let verdict = attempt.verdict, verdict.verdict == .recoverable || verdict.verdict == .ignore,
            stop?.cause.isSignal != true,
            let rule = request.policy.rules.first(where: { $0.name == verdict.rule }), !rule.repairs.isEmpty
        else { return nil }
        return try applyRepairs(of: rule, to: &attempt)
    }
}
