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

/// The config, roles, checkpoints and resume guesses of `StarterPolicy`.
extension StarterPolicy {
    /// Key names (the last component, lowercased, `-` as `_`) that play each role, most usual first.
    static let roleKeys: [(role: String, names: [String])] = [
        ("batchSize", ["batch_size", "per_device_train_batch_size", "train_batch_size", "batchsize", "bs"]),
        ("learningRate", ["lr", "learning_rate", "learningrate", "eta"]),
        (
            "gradientAccumulation",
            ["gradient_accumulation_steps", "accumulate_grad_batches", "grad_accum", "gradient_accumulation"]
        ),
    ]

    /// The trainer's config: `--config FILE` (or `--config=FILE`), else the first argument naming an
    /// existing `.yaml`, `.json`, `.toml`, `.ini` or `.env` file; its keys give the roles.
    mutating func guessConfig(command: [String], workingDirectory: String) {
        var path: String?
        for (index, argument) in command.enumerated() {
            if argument == "--config", index + 1 < command.count { path = command[index + 1] }
            if argument.hasPrefix("--config=") { path = String(argument.dropFirst("--config=".count)) }
        }
        path =
            path
            ?? command.dropFirst().first { argument in
                ConfigFormat(path: argument) != nil
                    && FileManager.default.fileExists(atPath: Paths.absolute(argument, in: workingDirectory))
            }
        guard let path else { return }
        let absolute = Paths.absolute(path, in: workingDirectory)
        guard let format = ConfigFormat(path: absolute), let text = StarterPolicy.readText(absolute) else {
            checks.append("the config \(path) could not be read: set config.path and config.roles by hand")
            return
        }
        configPath = path
        let document: any ConfigDocument
        do {
            document = try ConfigFile.parse(text, format: format, path: absolute)
        } catch {
            checks.append("the config \(path) does not parse (\(error)): its roles are not guessed")
            return
        }
        for (role, names) in StarterPolicy.roleKeys {
            let matching = document.keys.filter { key in
                let last = key.split(separator: ".").last.map(String.init) ?? key
                return names.contains(last.lowercased().replacing("-", with: "_"))
                    && document.value(at: key)?.number != nil
            }
            guard let key = matching.first else { continue }
            roles.append((role, key))
            evidence.append("\(path) has \(key) = \(document.value(at: key)!): the \(role) role")
            if matching.count > 1 {
                checks.append(
                    "\(path) has several keys that could be the \(role) role (\(matching.joined(separator: ", "))); \(key) was taken"
                )
            }
        }
        if roles.isEmpty {
            checks.append("no batch size or learning rate found in \(path): name them in config.roles for the repairs")
        }
    }

    /// Roles the command line carries (`--batch-size 32`, `--lr=1e-3`) when the config has none of them.
    mutating func guessArgumentRoles(command: [String]) {
        for (role, names) in StarterPolicy.roleKeys where !roles.contains(where: { $0.role == role }) {
            for (index, argument) in command.enumerated() where argument.hasPrefix("--") {
                let flag = String(argument.split(separator: "=", maxSplits: 1).first ?? "")
                let name = flag.dropFirst(2).lowercased().replacing("-", with: "_")
                guard names.contains(name) else { continue }
                let value =
                    argument.contains("=") ? String(argument.split(separator: "=")[1]) : command[safe: index + 1]
                guard let value, Double(value) != nil else { continue }
                roles.append((role, "arg:" + flag))
                evidence.append("the command passes \(flag) \(value): the \(role) role")
                break
            }
        }
    }

    /// Where the checkpoints are: a directory the command names (`--output_dir`, `--checkpoint-dir`,
    /// the config's), else a usual one that exists; the pattern from the names found there, else the
    /// framework's convention.
    mutating func guessCheckpoints(command: [String], workingDirectory: String) {
        var candidates: [String] = []
        let flags = [
            "--output_dir", "--output-dir", "--checkpoint-dir", "--checkpoint_dir", "--ckpt-dir", "--save-dir",
        ]
        for (index, argument) in command.enumerated() {
            for flag in flags {
                if argument == flag, let value = command[safe: index + 1] { candidates.append(value) }
                if argument.hasPrefix(flag + "=") { candidates.append(String(argument.dropFirst(flag.count + 1))) }
            }
        }
        let named = candidates.first
        candidates += ["checkpoints", "checkpoint", "ckpts", "ckpt", "output", "outputs", "out", "models", "runs"]
        for directory in candidates {
            let absolute = Paths.absolute(directory, in: workingDirectory)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: absolute),
                let (pattern, count) = StarterPolicy.commonPattern(in: names)
            else { continue }
            checkpointDirectory = directory
            checkpointPattern = pattern
            evidence.append("\(directory)/ holds \(count) checkpoint(s) named like \(pattern)")
            if pattern.hasPrefix("checkpoint-{step}"), framework == .huggingface {
                checkpointMarker = "trainer_state.json"
            }
            return
        }
        let conventions: [Framework: (String, String, String?)] = [
            .huggingface: (named ?? "output", "checkpoint-{step}", "trainer_state.json"),
            .lightning: (named ?? "checkpoints", "epoch=*-step={step}.ckpt", nil),
            .sb3: (named ?? "checkpoints", "rl_model_{step}_steps.zip", nil),
            .xgboost: (named ?? "checkpoints", "model_{step}.ubj", nil),
        ]
        guard let framework, let (directory, pattern, marker) = conventions[framework] else {
            checks.append(
                "no checkpoints found: set checkpoints.dir and checkpoints.pattern (with {step}) so vigil can resume, judge and keep them"
            )
            return
        }
        checkpointDirectory = directory
        checkpointPattern = pattern
        checkpointMarker = marker
        checks.append(
            "no checkpoints found yet: \(directory)/\(pattern) is \(framework.title)'s convention; check that the trainer writes there"
                + (framework == .lightning ? " (ModelCheckpoint(dirpath=\"checkpoints\"))" : ""))
    }

    /// The most common name shape among `names` with digits: the last run of digits is `{step}`,
    /// earlier runs are `*`. Nil when nothing has digits.
    static func commonPattern(in names: [String]) -> (String, Int)? {
        var counts: [String: Int] = [:]
        for name in names where !name.hasPrefix(".") && !name.hasPrefix("tmp") {
            guard let pattern = shape(of: name) else { continue }
            counts[pattern, default: 0] += 1
        }
        return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }.map { ($0.key, $0.value) }
    }

    /// `epoch=3-step=1200.ckpt` → `epoch=*-step={step}.ckpt`; `model.pt` → nil.
    static func shape(of name: String) -> String? {
        var runs: [Range<String.Index>] = []
        var index = name.startIndex
        while index < name.endIndex {
            if name[index].isASCII, name[index].isNumber {
                let start = index
                while index < name.endIndex, name[index].isASCII, name[index].isNumber {
                    index = name.index(after: index)
                }
                runs.append(start..<index)
            } else {
                index = name.index(after: index)
            }
        }
        guard let last = runs.last else { return nil }
        var shaped = name
        shaped.replaceSubrange(last, with: "{step}")
        for run in runs.dropLast().reversed() { shaped.replaceSubrange(run, with: "*") }
        return shaped
    }

    /// How the script takes a checkpoint to resume from: an argparse option named like a resume
    /// (`--resume`, `--resume_from_checkpoint`, `--ckpt_path`), with `{checkpoint}` unless it is a
    /// flag; else none, and the script should read `VIGIL_RESUME_FROM`.
    mutating func guessResume(_ source: String) {
        let names = [
            "--resume_from_checkpoint", "--resume-from-checkpoint", "--resume-from", "--resume_from", "--ckpt_path",
            "--ckpt-path", "--checkpoint", "--resume",
        ]
        for line in source.split(separator: "\n") where line.contains("add_argument") {
            guard let name = names.first(where: { line.contains("\"\($0)\"") || line.contains("'\($0)'") }) else {
                continue
            }
            let isFlag = line.contains("store_true")
            resumeArguments = isFlag ? [name] : [name, "{checkpoint}"]
            evidence.append(
                "\(script ?? "the script") accepts \(name)\(isFlag ? " (a flag: it finds the checkpoint itself)" : ""): resume.args"
            )
            return
        }
        guard framework != nil else { return }
        resumeArguments = []
        checks.append(
            "\(script ?? "the script") has no resume option vigil recognises: resume.args is [] and the trainer should resume from VIGIL_RESUME_FROM (vigil_trainer.resume_from()), or set resume.args"
        )
    }
}

extension Array {
    fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
