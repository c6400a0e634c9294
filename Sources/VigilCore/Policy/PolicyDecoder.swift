import Foundation

/// Applies one policy layer (a parsed file) onto a `Policy`, strictly: unknown keys and wrong types
/// throw with the file, the key path and what was expected.
enum PolicyDecoder {
    /// Sets every key the layer names and returns the layer's rules (validated, in order).
    static func apply(_ tree: JSONValue, file: String, to policy: inout Policy) throws -> [Rule] {
        var top = try ObjectReader(tree, file: file, path: "")
        _ = try top.string("extends")
        _ = try top.string("description")
        if var section = try top.object("hooks") {
            for (key, path) in [
                ("onFailure", \Policy.Hooks.onFailure), ("onGiveUp", \.onGiveUp), ("onSuccess", \.onSuccess),
            ] {
                if let argv = try section.strings(key) {
                    guard !argv.isEmpty, !argv[0].isEmpty else {
                        throw section.fail(key, "expected a command as a list of arguments")
                    }
                    policy.hooks[keyPath: path] = argv
                }
            }
            if let v = try section.duration("timeout", in: PolicyRanges.duration) { policy.hooks.timeout = v }
            try section.finish()
        }
        if let patterns = try top.strings("redact") {
            for source in patterns { _ = try pattern(source, rule: "redact", key: "redact", file: file) }
            policy.redact += patterns
        }
        if var section = try top.object("limits") {
            if let v = try section.duration("runtime", in: PolicyRanges.duration) { policy.limits.runtime = v }
            if let v = try section.duration("attempt", in: PolicyRanges.duration) { policy.limits.attempt = v }
            if let v = try section.duration("total", in: PolicyRanges.duration) { policy.limits.total = v }
            if let v = try section.duration("minAttempt", in: PolicyRanges.duration) { policy.limits.minAttempt = v }
            if let v = try section.duration("stall", in: PolicyRanges.duration) { policy.limits.stall = v }
            if let v = try section.duration("gpuRelease", in: PolicyRanges.duration) { policy.limits.gpuRelease = v }
            try section.finish()
        }
        if var section = try top.object("restart") {
            try restart(&section, &policy.restart)
            try section.finish()
        }
        if var section = try top.object("resume") {
            if let args = try section.strings("args") { policy.resume.args = args }
            if let when = try section.choice("when", Policy.Resume.When.allCases.map(\.rawValue)) {
                policy.resume.when = Policy.Resume.When(rawValue: when)!
            }
            try section.finish()
        }
        if var section = try top.object("output") {
            if let v = try section.byteSize("logMaxBytes", in: PolicyRanges.volumeSize) {
                policy.output.logMaxBytes = v
            }
            if let v = try section.int("logBackups", in: PolicyRanges.logBackups) { policy.output.logBackups = v }
            if let v = try section.byteSize("tailBytes", in: PolicyRanges.tailBytes) { policy.output.tailBytes = v }
            if let v = try section.bool("passthrough") { policy.output.passthrough = v }
            if let v = try section.byteSize("keepFree", in: PolicyRanges.volumeSize) { policy.output.keepFree = v }
            if let v = try section.bool("private") { policy.output.privateFiles = v }
            if let v = try section.string("progress") {
                _ = try pattern(v, rule: "output.progress", key: section.keyPath("progress"), file: file)
                policy.output.progress = v
            }
            if let v = try section.strings("metrics") {
                for source in v {
                    _ = try pattern(source, rule: "output.metrics", key: section.keyPath("metrics"), file: file)
                }
                policy.output.metrics = v
            }
            try section.finish()
        }
        if var section = try top.object("divergence") {
            try divergence(&section, &policy.divergence)
            try section.finish()
        }
        if var section = try top.object("stop") {
            try stopSignal(
                &section, "checkpointSignal", example: "USR1", request: "to save a checkpoint and keep going",
                into: &policy.stop.checkpointSignal)
            try checkpointLead(&section, &policy.stop)
            if let v = try section.duration("checkpointTimeout", in: PolicyRanges.duration) {
                policy.stop.checkpointTimeout = v
            }
            if let v = try section.duration("termGrace", in: PolicyRanges.duration) { policy.stop.termGrace = v }
            try stopSignal(
                &section, "dumpSignal", example: "ABRT", request: "to print its stacks", into: &policy.stop.dumpSignal)
            try section.finish()
        }
        if var section = try top.object("checkpoints") {
            try checkpoints(&section, &policy.checkpoints)
            try section.finish()
        }
        if var section = try top.object("config") {
            if let v = try section.string("path") { policy.config.path = v }
            if let v = try section.choice("onChange", Policy.Config.OnChange.allCases.map(\.rawValue)) {
                policy.config.onChange = Policy.Config.OnChange(rawValue: v)!
            }
            if var schema = try section.object("schema") {
                for key in schema.memberKeys {
                    guard var entry = try schema.object(key) else {
                        throw schema.fail(key, "expected an object such as { type: \"int\", min: 1 }, got null")
                    }
                    policy.config.schema[key] = try keySchema(&entry)
                    try entry.finish()
                }
                try schema.finish()
            }
            if var roles = try section.object("roles") {
                for key in roles.memberKeys { policy.config.roles[key] = try roles.string(key) }
                try roles.finish()
            }
            try section.finish()
        }
        var rules: [Rule] = []
        if let items = try top.array("rules") {
            for (index, item) in items.enumerated() {
                var reader = try ObjectReader(item, file: file, path: "rules[\(index)]")
                let rule = try self.rule(&reader)
                if rules.contains(where: { $0.name == rule.name }) {
                    throw reader.fail("name", "a rule named '\(rule.name)' appears twice in this file")
                }
                rules.append(rule)
                try reader.finish()
            }
        }
        try top.finish()
        return rules
    }

    /// `stop.checkpointSignal` or `stop.dumpSignal` into `target`: a signal name or number the trainer can catch,
    /// or `"none"` (nil). SIGKILL and SIGSTOP cannot be caught: the request would kill or freeze the trainer.
    private static func stopSignal(
        _ section: inout ObjectReader, _ key: String, example: String, request: String, into target: inout Signal?
    ) throws {
        guard let text = try section.string(key) else { return }
        if text == "none" {
            target = nil
            return
        }
        guard let signal = Signal(name: text) else {
            throw section.fail(key, "expected a signal name such as \"\(example)\" (or \"none\"), got \"\(text)\"")
        }
        guard signal.canBeCaught else {
            let effect = signal == .kill ? "kill" : "freeze"
            throw section.fail(
                key,
                "expected a signal the trainer can catch, got \"\(text)\": SIG\(signal.name) cannot be caught, "
                    + "so asking the trainer \(request) would \(effect) it")
        }
        target = signal
    }

    private static func divergence(_ section: inout ObjectReader, _ divergence: inout Policy.Divergence) throws {
        if let globs = try section.strings("metrics") {
            guard !globs.contains(where: \.isEmpty) else {
                throw section.fail("metrics", "expected metric names or globs such as \"*loss*\", got an empty one")
            }
            divergence.metrics = globs
        }
        if let globs = try section.strings("spikeMetrics") {
            guard !globs.contains(where: \.isEmpty) else {
                throw section.fail(
                    "spikeMetrics", "expected metric names or globs such as \"*loss*\", got an empty one")
            }
            divergence.spikeMetrics = globs
        }
        for key in ["band", "spike"] {
            guard let factor = try section.number(key, in: PolicyRanges.divergenceFactor) else { continue }
            if factor > 0 && factor <= 1 {
                throw section.fail(key, "expected 0 (off) or a factor above 1, got \(PolicyRanges.text(factor))")
            }
            if key == "band" { divergence.band = factor } else { divergence.spike = factor }
        }
    }

    /// `stop.checkpointLead`: a duration (fixed), `"auto"` (measured, the floor as inherited) or
    /// `"auto(min: DURATION)"` (measured, at least DURATION).
    private static func checkpointLead(_ section: inout ObjectReader, _ stop: inout Policy.Stop) throws {
        if case .string(let text)? = section.value("checkpointLead") {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed == "auto" {
                stop.leadIsAuto = true
                return
            }
            if trimmed.hasPrefix("auto(min:"), trimmed.hasSuffix(")") {
                let inner = trimmed.dropFirst("auto(min:".count).dropLast().trimmingCharacters(in: .whitespaces)
                guard let floor = DurationFormat.seconds(from: inner), PolicyRanges.duration.contains(floor) else {
                    throw section.fail(
                        "checkpointLead",
                        "expected \"auto\", \"auto(min: DURATION)\" or a duration, got \"\(text)\" (\(inner) is no duration from \(PolicyRanges.durationText(PolicyRanges.duration)))"
                    )
                }
                stop.leadIsAuto = true
                stop.checkpointLead = floor
                return
            }
            if trimmed.hasPrefix("auto") {
                throw section.fail(
                    "checkpointLead", "expected \"auto\", \"auto(min: DURATION)\" or a duration, got \"\(text)\"")
            }
        }
        if let v = try section.duration("checkpointLead", in: PolicyRanges.duration) {
            stop.checkpointLead = v
            stop.leadIsAuto = false
        }
    }

    private static func restart(_ section: inout ObjectReader, _ restart: inout Policy.Restart) throws {
        if let v = try section.int("maxRetries", in: PolicyRanges.maxRetries) { restart.maxRetries = v }
        if let v = try section.duration("healthyAfter", in: PolicyRanges.duration) { restart.healthyAfter = v }
        if let v = try section.bool("resetOnProgress") { restart.resetOnProgress = v }
        if var backoff = try section.object("backoff") {
            if let v = try backoff.duration("initial", in: PolicyRanges.duration) { restart.backoffInitial = v }
            if let v = try backoff.number("factor", in: PolicyRanges.backoffFactor) { restart.backoffFactor = v }
            if let v = try backoff.duration("max", in: PolicyRanges.duration) { restart.backoffMax = v }
            if let v = try backoff.number("jitter", in: PolicyRanges.backoffJitter) { restart.backoffJitter = v }
            try backoff.finish()
        }
    }

    private static func checkpoints(_ section: inout ObjectReader, _ checkpoints: inout Policy.Checkpoints) throws {
        if let v = try section.string("dir") { checkpoints.dir = v }
        if let v = try section.string("pattern") {
            guard v.contains("{step}") else {
                throw section.fail("pattern", "expected a name with a {step} placeholder, got \"\(v)\"")
            }
            guard !v.contains("/") else {
                throw section.fail("pattern", "expected a name inside the checkpoint directory (no '/'), got \"\(v)\"")
            }
            checkpoints.pattern = v
        }
        if let v = try section.string("metadata") {
            guard v.contains("{stem}") || v.contains("{step}") || v.contains("{name}") else {
                throw section.fail("metadata", "expected a name with {stem}, {name} or {step}, got \"\(v)\"")
            }
            checkpoints.metadata = v
        }
        if let v = try section.bool("metadataRequired") { checkpoints.metadataRequired = v }
        if let v = try section.string("marker") { checkpoints.marker = v }
        if let v = try section.duration("settle", in: PolicyRanges.duration) { checkpoints.settle = v }
        if let v = try section.int("keepLast", in: PolicyRanges.keepCount) { checkpoints.retention.keepLast = v }
        if let v = try section.int("keepEvery", in: PolicyRanges.keepEvery) { checkpoints.retention.keepEvery = v }
        if var best = try section.object("keepBest") {
            guard let metric = try best.string("metric") else {
                throw best.fail("metric", "keepBest needs the metric's name")
            }
            let order = try best.choice("order", RetentionRule.Order.allCases.map(\.rawValue)) ?? "max"
            let count = try best.int("count", in: PolicyRanges.keepCount) ?? 1
            try best.finish()
            checkpoints.retention.keepBest = RetentionRule.BestRule(
                metric: metric, order: RetentionRule.Order(rawValue: order)!, count: count)
        }
        if let v = try section.choice("onSuccess", Policy.Checkpoints.OnSuccess.allCases.map(\.rawValue)) {
            checkpoints.onSuccess = Policy.Checkpoints.OnSuccess(rawValue: v)!
        }
        if let v = try section.bool("preserve") { checkpoints.preserve = v }
    }

    /// Checks that hold across layers, once the policy is resolved.
    static func validate(_ policy: Policy, file: String) throws {
        let checkpoints = policy.checkpoints
        if checkpoints.pattern == nil {
            let needing = [
                checkpoints.metadata != nil ? "metadata" : nil,
                checkpoints.retention.isEmpty ? nil : "keepLast/keepEvery/keepBest",
                checkpoints.preserve ? "preserve" : nil, checkpoints.onSuccess != .keep ? "onSuccess" : nil,
                policy.resume.when == .whenCheckpointExists ? "resume.when: when-checkpoint-exists" : nil,
                policy.resume.args.contains { $0.contains("{checkpoint}") || $0.contains("{step}") }
                    ? "{checkpoint} in resume.args" : nil,
            ].compactMap { $0 }
            if !needing.isEmpty {
                throw VigilError(
                    .invalidPolicy, file: file, key: "checkpoints.pattern",
                    "\(needing.joined(separator: ", ")) need a checkpoint pattern such as \"model_ep{step}.pt\"")
            }
        }
    }

    static func rule(_ reader: inout ObjectReader) throws -> Rule {
        guard let name = try reader.string("name"), !name.isEmpty else {
            throw reader.fail("name", "every rule needs a name (it is shown in verdicts and reports)")
        }
        let classNames = VerdictClass.allCases.filter { $0 != .success }.map(\.rawValue)
        guard let className = try reader.choice("class", classNames) else {
            throw reader.fail("class", "rule '\(name)' needs a class: one of \(classNames.joined(separator: ", "))")
        }
        var rule = Rule(name: name, verdict: VerdictClass(rawValue: className)!, reason: try reader.string("reason"))
        if let value = reader.value("exitCodes") {
            rule.exitCodes = try exitCodes(value, reader: reader)
        }
        if let names = try reader.strings("signals") {
            rule.signals = try names.map { text in
                guard let signal = Signal(name: text) else {
                    let numbers = Signal.numbers
                    let what =
                        Int(text) != nil
                        ? "is not a signal number (\(numbers.lowerBound) to \(numbers.upperBound))"
                        : "is not a signal name (e.g. KILL, SEGV, TERM)"
                    throw reader.fail("signals", "rule '\(name)': '\(text)' \(what)")
                }
                return signal
            }
        }
        rule.exception = try reader.strings("exception")
        if let sources = try reader.strings("output") {
            rule.output = try sources.map {
                try pattern($0, rule: name, key: reader.keyPath("output"), file: reader.file)
            }
        }
        rule.oomKilled = try reader.bool("oomKilled")
        rule.sentByVigil = try reader.bool("sentByVigil")
        rule.timedOut = try reader.bool("timedOut")
        rule.stalled = try reader.bool("stalled")
        rule.diverged = try reader.bool("diverged")
        rule.live = try reader.bool("live") ?? false
        rule.rollbackSetting = try reader.bool("rollback")
        rule.suspectCheckpoint = try reader.bool("suspectCheckpoint") ?? false
        if let items = try reader.array("repairs") {
            rule.repairs = try items.enumerated().map { index, item in
                var entry = try ObjectReader(item, file: reader.file, path: "\(reader.keyPath("repairs"))[\(index)]")
                let repair = try self.repair(&entry)
                try entry.finish()
                return repair
            }
        }
        if var errorFile = try reader.object("errorFile") {
            var matcher = Rule.ErrorFileMatcher()
            matcher.type = try errorFile.strings("type")
            if let source = try errorFile.string("message") {
                matcher.message = try pattern(source, rule: name, key: errorFile.keyPath("message"), file: reader.file)
            }
            try errorFile.finish()
            rule.errorFile = matcher
        }
        if rule.live {
            let others =
                rule.exitCodes != nil || rule.signals != nil || rule.exception != nil || rule.oomKilled != nil
                || rule.sentByVigil != nil || rule.timedOut != nil || rule.stalled != nil || rule.errorFile != nil
            let watches = (rule.output != nil ? 1 : 0) + (rule.diverged == true ? 1 : 0)
            guard watches == 1, !others, rule.diverged != false else {
                throw reader.fail(
                    "live",
                    "rule '\(name)': a live rule is checked while the trainer runs, on each output line (`output` patterns) or on each metric (`diverged: true`), so it needs exactly one of them and no other matcher"
                )
            }
        }
        return rule
    }

    static func keySchema(_ entry: inout ObjectReader) throws -> KeySchema {
        let typeName = try entry.choice("type", KeySchema.ValueType.allCases.map(\.rawValue)) ?? "string"
        var schema = KeySchema(type: KeySchema.ValueType(rawValue: typeName)!)
        schema.min = try entry.number("min", in: PolicyRanges.configNumber)
        schema.max = try entry.number("max", in: PolicyRanges.configNumber)
        try bounds(schema.min, schema.max, entry)
        if schema.type == .int, let min = schema.min, let max = schema.max, min.rounded(.up) > max.rounded(.down) {
            throw entry.fail(
                "max", "no integer lies between min \(PolicyRanges.text(min)) and max \(PolicyRanges.text(max))")
        }
        schema.required = try entry.bool("required") ?? false
        schema.values = try entry.strings("values") ?? []
        if let value = entry.value("default") {
            let fallback = try configValue(value, entry, "default")
            try checkDefault(fallback, of: schema, entry)
            schema.defaultValue = fallback
        }
        if schema.type == .enum && schema.values.isEmpty {
            throw entry.fail("values", "an enum needs its allowed values")
        }
        return schema
    }

    /// A numeric `default` must be what the schema allows: whole for an `int`, within `min` and `max` (else the
    /// check would write a value that its own next run finds wrong).
    static func checkDefault(_ fallback: ConfigValue, of schema: KeySchema, _ entry: ObjectReader) throws {
        guard let number = fallback.number, schema.type == .int || schema.type == .float else { return }
        if schema.type == .int, case .double = fallback {
            throw entry.fail("default", "expected an integer for a key of type int, got \(PolicyRanges.text(number))")
        }
        if let min = schema.min, number < min {
            throw entry.fail("default", "\(PolicyRanges.text(number)) is below min \(PolicyRanges.text(min))")
        }
        if let max = schema.max, number > max {
            throw entry.fail("default", "\(PolicyRanges.text(number)) is above max \(PolicyRanges.text(max))")
        }
    }

    /// `min` must not be above `max` (nothing could satisfy both).
    static func bounds(_ min: Double?, _ max: Double?, _ entry: ObjectReader) throws {
        guard let min, let max, min > max else { return }
        throw entry.fail("max", "max \(PolicyRanges.text(max)) is below min \(PolicyRanges.text(min))")
    }

    static func repair(_ entry: inout ObjectReader) throws -> Repair {
        guard let key = try entry.string("key"), !key.isEmpty else {
            throw entry.fail("key", "a repair needs a key: a config key, env:NAME, arg:--flag or @role")
        }
        var operations: [Repair.Operation] = []
        if let value = entry.value("set") { operations.append(.set(try configValue(value, entry, "set"))) }
        if let factor = try entry.number("scale", in: PolicyRanges.repairScale) { operations.append(.scale(factor)) }
        if let amount = try entry.number("add", in: PolicyRanges.configNumber) { operations.append(.add(amount)) }
        guard operations.count == 1 else {
            throw entry.fail("set", "a repair needs exactly one of set, scale or add")
        }
        let min = try entry.number("min", in: PolicyRanges.configNumber)
        let max = try entry.number("max", in: PolicyRanges.configNumber)
        try bounds(min, max, entry)
        return Repair(key: key, operation: operations[0], min: min, max: max)
    }

    /// A value written into the trainer's config (`set`, a schema's `default`); a number must be finite and
    /// within `PolicyRanges.configNumber`.
    static func configValue(_ value: JSONValue, _ entry: ObjectReader, _ key: String) throws -> ConfigValue {
        let range = PolicyRanges.configNumber
        switch value {
        case .int(let v) where range.contains(Double(v)): return .int(v)
        case .double(let v) where v.isFinite && range.contains(v): return .double(v)
        case .int, .double:
            throw entry.outOfRange(key, "a number from \(PolicyRanges.text(range)), true/false or a string", value)
        case .bool(let v): return .bool(v)
        case .string(let v): return .string(v)
        default: throw entry.mismatch(key, "a number, true/false or a string", value)
        }
    }

    static func pattern(_ source: String, rule: String, key: String, file: String) throws -> Pattern {
        do {
            return try Pattern(source)
        } catch {
            throw VigilError(
                .invalidPolicy, file: file, key: key,
                "rule '\(rule)': invalid regular expression /\(source)/ (\(error))")
        }
    }

    /// `[1, 2, "3-9"]`, `1`, `"3-9"`, `{in: [...]}` or `{notIn: [...]}`; every code from 0 to 255.
    static func exitCodes(_ value: JSONValue, reader: ObjectReader) throws -> ExitCodeSet {
        let key = reader.keyPath("exitCodes")
        let codes = PolicyRanges.exitCode
        let allowed = "exit codes from \(PolicyRanges.text(codes))"
        func fail(_ message: String) -> VigilError { VigilError(.invalidPolicy, file: reader.file, key: key, message) }
        func ranges(_ value: JSONValue) throws -> [ClosedRange<Int>] {
            switch value {
            case .int(let code):
                guard codes.contains(code) else { throw fail("expected \(allowed), got \(code)") }
                return [code...code]
            case .string(let text):
                // Empty parts are kept, so that "-1" and "3-" are refused rather than read as 1 and 3.
                let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                let numbers = parts.compactMap { Int($0) }
                guard numbers.count == parts.count, let low = numbers.first, let high = numbers.last, low <= high
                else {
                    throw fail("expected an exit code or a range like \"3-9\" (\(allowed)), got \"\(text)\"")
                }
                guard codes.contains(low), codes.contains(high) else {
                    throw fail("expected \(allowed), got \"\(text)\"")
                }
                return [low...high]
            case .array(let items): return try items.flatMap { try ranges($0) }
            default:
                throw fail(
                    "expected exit codes (1, \"3-9\", [1, 2]) from \(PolicyRanges.text(codes)), "
                        + "got \(value.typeName) \(value.preview)")
            }
        }
        if case .object = value {
            var object = try ObjectReader(value, file: reader.file, path: key)
            let included = object.value("in")
            let excluded = object.value("notIn")
            try object.finish()
            switch (included, excluded) {
            case (let included?, nil): return ExitCodeSet(try ranges(included))
            case (nil, let excluded?): return ExitCodeSet(try ranges(excluded), negated: true)
            default: throw fail("expected exactly one of 'in' or 'notIn'")
            }
        }
        return ExitCodeSet(try ranges(value))
    }
}
