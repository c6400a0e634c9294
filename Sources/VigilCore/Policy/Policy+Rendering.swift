import Foundation

extension Policy {
    /// The resolved policy as a JSON tree, as `vigil policy check` prints it.
    private var checkpointMembers: [String: JSONValue] {
        let c = checkpoints
        var members: [String: JSONValue] = [
            "dir": .string(c.dir), "pattern": c.pattern.map { .string($0) } ?? .null,
            "metadata": c.metadata.map { .string($0) } ?? .null, "metadataRequired": .bool(c.metadataRequired),
            "marker": c.marker.map { .string($0) } ?? .null, "settle": .string(DurationFormat.string(from: c.settle)),
            "onSuccess": .string(c.onSuccess.rawValue), "preserve": .bool(c.preserve),
        ]
        if let v = c.retention.keepLast { members["keepLast"] = .int(v) }
        if let v = c.retention.keepEvery { members["keepEvery"] = .int(v) }
        if let best = c.retention.keepBest {
            members["keepBest"] = .object([
                "metric": .string(best.metric), "order": .string(best.order.rawValue), "count": .int(best.count),
            ])
        }
        return members
    }

    public var resolvedTree: JSONValue {
        func duration(_ seconds: Double) -> JSONValue { .string(DurationFormat.string(from: seconds)) }
        var rules: [JSONValue] = []
        for rule in self.rules {
            var members: [String: JSONValue] = ["name": .string(rule.name), "class": .string(rule.verdict.rawValue)]
            if let reason = rule.reason { members["reason"] = .string(reason) }
            if let codes = rule.exitCodes {
                let list = JSONValue.array(
                    codes.ranges.map {
                        $0.lowerBound == $0.upperBound
                            ? .int($0.lowerBound) : .string("\($0.lowerBound)-\($0.upperBound)")
                    })
                members["exitCodes"] = codes.negated ? .object(["notIn": list]) : list
            }
            if let signals = rule.signals { members["signals"] = .array(signals.map { .string($0.name) }) }
            if let names = rule.exception { members["exception"] = .array(names.map { .string($0) }) }
            if let patterns = rule.output { members["output"] = .array(patterns.map { .string($0.source) }) }
            if let v = rule.oomKilled { members["oomKilled"] = .bool(v) }
            if let v = rule.sentByVigil { members["sentByVigil"] = .bool(v) }
            if let v = rule.diverged { members["diverged"] = .bool(v) }
            if rule.rollback != rule.rollsBackByDefault { members["rollback"] = .bool(rule.rollback) }
            if rule.suspectCheckpoint { members["suspectCheckpoint"] = .bool(true) }
            if let v = rule.timedOut { members["timedOut"] = .bool(v) }
            if let v = rule.stalled { members["stalled"] = .bool(v) }
            if rule.live { members["live"] = .bool(true) }
            if !rule.repairs.isEmpty {
                members["repairs"] = .array(
                    rule.repairs.map { repair in
                        var entry: [String: JSONValue] = ["key": .string(repair.key)]
                        switch repair.operation {
                        case .set(let value): entry["set"] = .string(value.description)
                        case .scale(let factor): entry["scale"] = .double(factor)
                        case .add(let amount): entry["add"] = .double(amount)
                        }
                        if let min = repair.min { entry["min"] = .double(min) }
                        if let max = repair.max { entry["max"] = .double(max) }
                        return .object(entry)
                    })
            }
            if let matcher = rule.errorFile {
                var object: [String: JSONValue] = [:]
                if let types = matcher.type { object["type"] = .array(types.map { .string($0) }) }
                if let message = matcher.message { object["message"] = .string(message.source) }
                members["errorFile"] = .object(object)
            }
            rules.append(.object(members))
        }
        return .object([
            "restart": .object([
                "maxRetries": .int(restart.maxRetries),
                "healthyAfter": duration(restart.healthyAfter),
                "resetOnProgress": .bool(restart.resetOnProgress),
                "backoff": .object([
                    "initial": duration(restart.backoffInitial), "factor": .double(restart.backoffFactor),
                    "max": duration(restart.backoffMax), "jitter": .double(restart.backoffJitter),
                ]),
            ]),
            "resume": .object(["args": .array(resume.args.map { .string($0) }), "when": .string(resume.when.rawValue)]),
            "output": .object([
                "logMaxBytes": .int(output.logMaxBytes), "logBackups": .int(output.logBackups),
                "tailBytes": .int(output.tailBytes), "passthrough": .bool(output.passthrough),
                "keepFree": .int(output.keepFree),
                "private": .bool(output.privateFiles), "progress": output.progress.map { .string($0) } ?? .null,
                "metrics": .array(output.metrics.map { .string($0) }),
            ]),
            "divergence": .object([
                "metrics": .array(divergence.metrics.map { .string($0) }), "band": .double(divergence.band),
                "spike": .double(divergence.spike),
                "spikeMetrics": .array(divergence.spikeMetrics.map { .string($0) }),
            ]),
            "stop": .object([
                "checkpointSignal": .string(stop.checkpointSignal?.name ?? "none"),
                "checkpointLead": stop.leadIsAuto
                    ? .string("auto(min: \(DurationFormat.string(from: stop.checkpointLead)))")
                    : duration(stop.checkpointLead),
                "checkpointTimeout": duration(stop.checkpointTimeout),
                "termGrace": duration(stop.termGrace), "dumpSignal": .string(stop.dumpSignal?.name ?? "none"),
            ]),
            "limits": .object([
                "runtime": limits.runtime.map(duration) ?? .null, "attempt": limits.attempt.map(duration) ?? .null,
                "total": limits.total.map(duration) ?? .null, "minAttempt": duration(limits.minAttempt),
                "stall": limits.stall.map(duration) ?? .null, "gpuRelease": duration(limits.gpuRelease),
            ]),
            "checkpoints": .object(checkpointMembers),
            "config": .object([
                "path": config.path.map { .string($0) } ?? .null, "onChange": .string(config.onChange.rawValue),
                "roles": .object(config.roles.mapValues { .string($0) }),
                "schema": .object(
                    config.schema.mapValues { key in
                        var entry: [String: JSONValue] = [
                            "type": .string(key.type.rawValue), "required": .bool(key.required),
                        ]
                        if let min = key.min { entry["min"] = .double(min) }
                        if let max = key.max { entry["max"] = .double(max) }
                        if let value = key.defaultValue { entry["default"] = .string(value.description) }
                        if !key.values.isEmpty { entry["values"] = .array(key.values.map { .string($0) }) }
                        return .object(entry)
                    }),
            ]),
            "rules": .array(rules),
            "redact": .array(redact.map { .string($0) }),
            "hooks": .object([
                "onFailure": hooks.onFailure.map { .array($0.map { .string($0) }) } ?? .null,
                "onGiveUp": hooks.onGiveUp.map { .array($0.map { .string($0) }) } ?? .null,
                "onSuccess": hooks.onSuccess.map { .array($0.map { .string($0) }) } ?? .null,
                "timeout": duration(hooks.timeout),
            ]),
        ])
    }
}
