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

/// Turns an attempt's outcome into a verdict with the policy's rules: an outcome in, a verdict out.
/// Rules are tried in order and the first that matches decides.
public struct Classifier: Sendable {
    public let rules: [Rule]

    public init(rules: [Rule]) {
        self.rules = rules
    }

    public init(policy: Policy) {
        self.rules = policy.rules
    }

    /// The verdict on `outcome` — the only place one is made. Built in, before the policy's rules: a
    /// repair that cannot go on (unrecoverable, under the rule that asked for it), the stops that
    /// are vigil's own (a signal to vigil, the runtime deadline, the total budget: `stopped-by-vigil`,
    /// ignore), a live match (that rule's class, however the trainer ended), a divergence (the
    /// `diverged` rules first), success (exit 0, unless stopped for a time limit or a hang), a trainer
    /// that rejected its resume arguments. Then the rules, first match wins.
    public func classify(_ outcome: AttemptOutcome) -> Verdict {
        if let exhausted = outcome.repairExhausted {
            var before = outcome
            before.repairExhausted = nil
            let verdict = classify(before)
            return Verdict(
                verdict: .unrecoverable, rule: verdict.rule,
                reason: "\(exhausted.description) (after: \(verdict.reason))",
                exception: verdict.exception)
        }
        let exception = outcome.exception
        var live = outcome.liveMatch.map { (rule: $0.rule, line: $0.line, divergence: $0.divergence) }
        if let stop = outcome.stop {
            switch stop.cause {
            case .signal, .runtimeLimit, .totalBudget:
                return Verdict(verdict: .ignore, rule: "stopped-by-vigil", reason: stop.reason, exception: exception)
            case .liveRule(let name, let line):
                if live == nil { live = (name, line, nil) }
            case .attemptLimit, .stall, .leftovers:
                break
            }
        }
        // A live match decides, however the trainer ended after it (a model that diverged and then
        // exited 0 did not succeed).
        if let live {
            let rule = rules.first { $0.name == live.rule }
            let seen = live.line.trimmingSpaces()
            let what = live.divergence.map { "\($0.description): \(seen)" } ?? seen
            return Verdict(
                verdict: rule?.verdict ?? .recoverable, rule: live.rule,
                reason: "\(rule?.reason ?? live.rule) (live: \(what))",
                exception: exception)
        }
        let tail = SearchableTail(outcome.tail)
        // A divergence the trainer outlived (it exited 0 with a NaN loss): the rules about it decide first.
        if outcome.divergence != nil {
            for rule in rules where rule.diverged == true {
                if let evidence = match(rule, outcome, exception, tail) {
                    return Verdict(
                        verdict: rule.verdict, rule: rule.name, reason: "\(rule.reason ?? rule.name) (\(evidence))",
                        exception: exception)
                }
            }
        }
        // A trainer vigil stopped for its time limit or a hang did not finish, whatever its exit code.
        if outcome.status == .exited(0) && !outcome.timedOut && !outcome.stalled {
            return Verdict(verdict: .success, rule: "exit-0", reason: "the trainer exited with code 0")
        }
        if let rejected = resumeRejection(outcome) {
            return Verdict(verdict: .unrecoverable, rule: "resume-rejected", reason: rejected, exception: exception)
        }
        // Vigil knows why it stopped a timed-out or hung attempt; rules about that come first, before
        // whatever the stopped trainer printed on its way out.
        var ordered = rules
        if outcome.timedOut || outcome.stalled {
            let aboutTheStop = rules.filter { $0.timedOut == true || $0.stalled == true }
            ordered = aboutTheStop + rules.filter { $0.timedOut != true && $0.stalled != true }
        }
        for rule in ordered {
            if let evidence = match(rule, outcome, exception, tail) {
                let why = rule.reason ?? rule.name
                let reason = evidence.isEmpty ? why : "\(why) (\(evidence))"
                return Verdict(verdict: rule.verdict, rule: rule.name, reason: reason, exception: exception)
            }
        }
        return Verdict(
            verdict: .recoverable, rule: "no-rule-matched",
            reason: "no rule matched \(describe(outcome.status)); retrying", exception: exception)
    }

    /// The trainer's own CLI refused the resume arguments (argparse, click): retrying repeats it.
    func resumeRejection(_ outcome: AttemptOutcome) -> String? {
        guard let flag = outcome.resumeArguments.first(where: { $0.hasPrefix("-") }) else { return nil }
        let signatures = [
            "unrecognized arguments: ",  // argparse
            "No such option: ",  // click
            "no such option: ",  // optparse
            "unknown option",  // getopt-style
            "Unrecognized options: ",  // hydra/others
        ]
        for line in outcome.tail.allLines {
            guard Classifier.containsToken(flag, in: line), signatures.contains(where: { line.contains($0) }) else {
                continue
            }
            let shown = outcome.resumeArguments.joined(separator: " ")
            return
                "the trainer does not accept the resume argument '\(shown)' (it printed: \(line.trimmingSpaces())); "
                + "set resume.args in the policy or --resume-arg to what it understands, or use --no-resume-arg"
        }
        return nil
    }

    /// Whether `token` occurs in `line` as a whole word (`--resume`, not part of `--resume-from`).
    static func containsToken(_ token: String, in line: String) -> Bool {
        var rest = line[...]
        while let found = rest.firstRange(of: token) {
            let after = found.upperBound
            if after == line.endIndex || !(line[after].isLetter || line[after].isNumber || "-_".contains(line[after])) {
                return true
            }
            rest = line[after...]
        }
        return false
    }

    /// The evidence for `rule`, or nil when it does not match.
    func match(
        _ rule: Rule, _ outcome: AttemptOutcome, _ exception: PythonException?, _ tail: SearchableTail
    ) -> String? {
        var evidence: [String] = []
        if let codes = rule.exitCodes {
            guard case .exited(let code) = outcome.status, codes.contains(Int(code)) else { return nil }
            evidence.append("exit code \(code)")
        }
        if let signals = rule.signals {
            guard case .signaled(let signal) = outcome.status, signals.contains(signal) else { return nil }
            evidence.append(describe(outcome.status) + (outcome.signalSentByVigil ? ", sent by vigil" : ""))
        }
        if let wanted = rule.sentByVigil {
            guard case .signaled = outcome.status, outcome.signalSentByVigil == wanted else { return nil }
            if !wanted { evidence.append("not sent by vigil") }
        }
        if let names = rule.exception {
            guard let exception, names.contains(where: exception.matches) else { return nil }
            evidence.append(oneLine(exception))
        }
        if let patterns = rule.output {
            guard let found = tail.firstMatch(patterns) else { return nil }
            evidence.append("output matched /\(found.pattern)/: \(shorten(found.line))")
        }
        if let wanted = rule.oomKilled {
            let (isOOM, why) = oomEvidence(outcome)
            guard isOOM == wanted else { return nil }
            if isOOM { evidence.append(why) }
        }
        if let wanted = rule.diverged {
            guard (outcome.divergence != nil) == wanted else { return nil }
            if let divergence = outcome.divergence { evidence.append(divergence.description) }
        }
        if let wanted = rule.timedOut {
            guard outcome.timedOut == wanted else { return nil }
            if wanted { evidence.append("the attempt reached its time limit") }
        }
        if let wanted = rule.stalled {
            guard outcome.stalled == wanted else { return nil }
            if wanted { evidence.append("no output and no new checkpoint for the stall timeout") }
        }
        if let matcher = rule.errorFile {
            guard let file = outcome.errorFile else { return nil }
            if let types = matcher.type {
                guard let type = file.type, types.contains(where: PythonException(type: type, message: "").matches)
                else {
                    return nil
                }
            }
            if let pattern = matcher.message {
                guard pattern.firstMatch(in: file.message ?? "") != nil else { return nil }
            }
            evidence.append("error file: \(file.type ?? "?"): \(shorten(file.message ?? ""))")
        }
        // Every matcher the rule names has matched (a rule with none is a fallback); negative
        // matchers such as `oomKilled: false` match without evidence, so describe the failure.
        if evidence.isEmpty { evidence.append(exception.map(oneLine) ?? describe(outcome.status)) }
        return evidence.joined(separator: "; ")
    }

    /// Whether the kernel killed something of the attempt for lack of memory, and the evidence: only
    /// a rise of an OOM-kill count proves it (the cgroup's `memory.events` `oom_kill`, or v1's
    /// `memory.oom_control`). A SIGKILL alone proves nothing: `kill -9`, a preemption, a node agent,
    /// `scancel` all look the same, and halving a batch for them would compound with every kill.
    func oomEvidence(_ outcome: AttemptOutcome) -> (Bool, String) {
        guard let kills = outcome.oomKills, kills > 0 else { return (false, "") }
        let source = outcome.oomKillSource.map { " (\($0))" } ?? ""
        return (
            true,
            "the kernel's OOM killer fired \(kills) time\(kills == 1 ? "" : "s") during the attempt\(source)"
        )
    }

    func oneLine(_ exception: PythonException) -> String {
        let first = exception.message.split(separator: "\n").first.map(String.init) ?? ""
        return first.isEmpty ? exception.type : "\(exception.type): \(shorten(first))"
    }

    func shorten(_ text: String) -> String {
        let trimmed = text.trimmingSpaces()
        return trimmed.count > 160 ? String(trimmed.prefix(157)) + "…" : trimmed
    }

    func describe(_ status: Termination) -> String {
        switch status {
        case .exited(let code): return "exit code \(code)"
        case .signaled(let signal): return "killed by \(signal)"
        }
    }
}

/// The tail's lines and text, prepared once per classification for every rule's patterns.
struct SearchableTail {
    let lines: [String]
    let text: [UInt8]
    let folded: [UInt8]

    init(_ tail: OutputTail) {
        lines = tail.stdout + tail.stderr
        text = Array(lines.joined(separator: "\n").utf8)
        folded = text.map(LiteralPrefilter.lower)
    }

    /// The newest line matching any of `patterns` (the end of the output explains the failure).
    func firstMatch(_ patterns: [Pattern]) -> (pattern: String, line: String)? {
        // Rule patterns out by their literals over the whole tail first: most never occur.
        let candidates = patterns.filter { pattern in
            guard let prefilter = pattern.prefilter else { return true }
            return (prefilter.ignoresCase ? folded : text).withUnsafeBytes { prefilter.occurs(in: $0) }
        }
        guard !candidates.isEmpty else { return nil }
        for line in lines.reversed() {
            for pattern in candidates where pattern.firstMatch(in: line) != nil {
                return (pattern.source, line)
            }
        }
        return nil
    }
}
