import Foundation
import Testing

@testable import VigilCore

/// Every real framework log in Tests/Fixtures/frameworks (captured from CPU runs of PyTorch,
/// Lightning, transformers, Stable-Baselines3, XGBoost, LightGBM and numpy; see its README), read
/// as `vigil policy explain` reads a saved log — the live rules and the divergence watch over every
/// line, then the classifier — under the framework's shipped policy: the class, the rule, the
/// evidence in the reason, and the repairs that rule makes.
@Suite("Real framework logs under the shipped policies")
struct FrameworkLogTests {
    static let directory = TestSupport.repositoryRoot + "/Tests/Fixtures/frameworks/"

    static func policy(_ name: String) throws -> Policy {
        try PolicyLoader(searchDirectories: [TestSupport.repositoryRoot + "/policies"]).load(name)
    }

    /// (log, policy, how the trainer ended, class, rule, a piece of the reason's evidence, repair keys)
    static let rows: [(String, String, Termination, VerdictClass, String, String, [String])] = [
        (
            "lightgbm/bad-ckpt-head.log", "lightgbm", .exited(1), .recoverable, "lightgbm-checkpoint-load-error",
            "lightgbm.basic.LightGBMError: Wrong size of feat", []
        ),
        (
            "lightgbm/bad-ckpt.log", "lightgbm", .signaled(.abort), .recoverable, "lightgbm-checkpoint-load-error",
            "[LightGBM] [Fatal] Check failed: (strs.size()) =", []
        ),
        (
            "lightgbm/climb.log", "lightgbm", .exited(0), .recoverable, "diverged",
            "trainloss rose to 66340.1, above 10", ["@learningRate"]
        ),
        (
            "lightgbm/empty-ckpt.log", "lightgbm", .exited(1), .recoverable, "lightgbm-checkpoint-load-error",
            "lightgbm.basic.LightGBMError: Unknown model form", []
        ),
        (
            "lightgbm/inf-label.log", "lightgbm", .exited(0), .recoverable, "diverged",
            "validloss rose to 5.56094e+69, above 10", ["@learningRate"]
        ),
        ("lightgbm/nan.log", "lightgbm", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        (
            "lightgbm/normal-sklearn.log", "lightgbm", .exited(0), .success, "exit-0", "the trainer exited with code 0",
            []
        ),
        ("lightgbm/normal.log", "lightgbm", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        (
            "lightgbm/oom-segv-faulthandler.log", "lightgbm", .signaled(.segmentationFault), .recoverable,
            "any-failure", "killed by SIGSEGV", []
        ),
        (
            "lightgbm/oom-segv.log", "lightgbm", .signaled(.segmentationFault), .recoverable, "any-failure",
            "killed by SIGSEGV", []
        ),
        (
            "lightgbm/oom.log", "lightgbm", .exited(1), .recoverable, "lightgbm-out-of-memory",
            "lightgbm.basic.LightGBMError: std::bad_alloc", []
        ),
        (
            "lightning/bad-ckpt.log", "lightning", .exited(1), .recoverable, "checkpoint-load-error",
            "RuntimeError: PytorchStreamReader failed reading", []
        ),
        (
            "lightning/bad-last.log", "lightning", .exited(1), .recoverable, "checkpoint-load-error",
            "RuntimeError: PytorchStreamReader failed reading", []
        ),
        (
            "lightning/climb-rich.log", "lightning", .exited(0), .recoverable, "diverged",
            "trainloss became nan: train_loss: nan", ["@learningRate"]
        ),
        (
            "lightning/climb.log", "lightning", .exited(0), .recoverable, "diverged",
            "trainloss became inf: Epoch 1:  88%|", ["@learningRate"]
        ),
        (
            "lightning/last-not-found.log", "lightning", .exited(0), .success, "exit-0",
            "the trainer exited with code 0", []
        ),
        (
            "lightning/nan-anomaly.log", "lightning", .exited(1), .recoverable, "nan-loss",
            "RuntimeError: Function 'MseLossBackward0' return", ["@learningRate"]
        ),
        (
            "lightning/nan-earlystop-verbose-rich.log", "lightning", .exited(0), .recoverable,
            "lightning-nonfinite-metric", "Monitored metric train_loss = nan is not finite.", ["@learningRate"]
        ),
        (
            "lightning/nan-earlystop-verbose.log", "lightning", .exited(0), .recoverable, "diverged",
            "trainloss became nan: Epoch 0:  38%|", ["@learningRate"]
        ),
        (
            "lightning/nan-earlystop.log", "lightning", .exited(0), .recoverable, "diverged",
            "trainloss became nan: Epoch 0:  38%|", ["@learningRate"]
        ),
        (
            "lightning/nan-rich.log", "lightning", .exited(0), .recoverable, "diverged",
            "trainloss became nan: train_loss: nan", ["@learningRate"]
        ),
        (
            "lightning/nan.log", "lightning", .exited(0), .recoverable, "diverged",
            "trainloss became nan: Epoch 0: 100%|", ["@learningRate"]
        ),
        (
            "lightning/normal-noprog.log", "lightning", .exited(0), .success, "exit-0",
            "the trainer exited with code 0", []
        ),
        (
            "lightning/normal-rich.log", "lightning", .exited(0), .success, "exit-0", "the trainer exited with code 0",
            []
        ),
        ("lightning/normal.log", "lightning", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        (
            "lightning/oom-rich.log", "lightning", .exited(1), .recoverable, "cpu-oom",
            "RuntimeError: [enforce fail at alloc_cpu.cpp:127", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "lightning/oom.log", "lightning", .exited(1), .recoverable, "cpu-oom",
            "RuntimeError: [enforce fail at alloc_cpu.cpp:127", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "numpy/bad-ckpt.log", "python", .exited(1), .recoverable, "checkpoint-load-error",
            "zipfile.BadZipFile: File is not a zip file", []
        ),
        (
            "numpy/bad-npy-numpy1.log", "python", .exited(1), .recoverable, "data-error",
            "ValueError: cannot reshape array of size 2040 in", []
        ),
        (
            "numpy/bad-npy.log", "python", .exited(1), .recoverable, "checkpoint-load-error",
            "ValueError: Failed to read all data for array. E", []
        ),
        (
            "numpy/list-oom.log", "python", .exited(1), .recoverable, "memory-error", "MemoryError",
            ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "numpy/memoryerror.log", "python", .exited(1), .recoverable, "memory-error", "MemoryError",
            ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "numpy/nan-numpy1.log", "python", .exited(0), .recoverable, "diverged",
            "gradnorm became inf at step 20; above its band (", ["@learningRate"]
        ),
        (
            "numpy/nan.log", "python", .exited(0), .recoverable, "diverged",
            "gradnorm became inf at step 20; above its band (", ["@learningRate"]
        ),
        ("numpy/normal.log", "python", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        (
            "numpy/oom-cap.log", "python", .exited(1), .recoverable, "memory-error",
            "numpy._core._exceptions._ArrayMemoryError: Unabl", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "numpy/oom-numpy1.log", "python", .exited(1), .recoverable, "memory-error",
            "numpy.core._exceptions._ArrayMemoryError: Unable", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "numpy/oom-zeros.log", "python", .exited(1), .recoverable, "memory-error",
            "numpy._core._exceptions._ArrayMemoryError: Unabl", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "numpy/oom.log", "python", .exited(1), .recoverable, "memory-error",
            "numpy._core._exceptions._ArrayMemoryError: Unabl", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "pytorch/bad-ckpt-head.log", "pytorch", .exited(1), .recoverable, "checkpoint-load-error",
            "RuntimeError: PytorchStreamReader failed reading", []
        ),
        (
            "pytorch/bad-ckpt-mid.log", "pytorch", .exited(1), .recoverable, "io-error",
            "OSError: [Errno 22] Invalid argument", []
        ),
        (
            "pytorch/bad-ckpt.log", "pytorch", .exited(1), .recoverable, "checkpoint-load-error",
            "RuntimeError: PytorchStreamReader failed reading", []
        ),
        (
            "pytorch/climb.log", "pytorch", .exited(0), .recoverable, "diverged",
            "gradnorm became inf at step 15; above its band (", ["@learningRate"]
        ),
        (
            "pytorch/corrupt-ckpt.log", "pytorch", .exited(1), .recoverable, "checkpoint-load-error",
            "RuntimeError: PytorchStreamReader failed reading", []
        ),
        ("pytorch/empty-ckpt.log", "pytorch", .exited(1), .recoverable, "io-error", "EOFError", []),
        (
            "pytorch/import-under-2gb-cap.log", "pytorch", .exited(1), .unrecoverable, "import-error",
            "ImportError: libtorch_cpu.so: failed to map segm", []
        ),
        (
            "pytorch/nan-anomaly.log", "pytorch", .exited(1), .recoverable, "nan-loss",
            "RuntimeError: Function 'AddmmBackward0' returned", ["@learningRate"]
        ),
        (
            "pytorch/nan-buffered.log", "pytorch", .exited(0), .recoverable, "diverged",
            "gradnorm became nan at step 3; above its band (3", ["@learningRate"]
        ),
        (
            "pytorch/nan-check.log", "pytorch", .exited(1), .recoverable, "nan-loss",
            "ValueError: Loss is inf, stopping training", ["@learningRate"]
        ),
        (
            "pytorch/nan-clip.log", "pytorch", .exited(1), .recoverable, "nonfinite-gradients",
            "RuntimeError: The total norm of order 2.0 for gr", ["@learningRate"]
        ),
        (
            "pytorch/nan.log", "pytorch", .exited(0), .recoverable, "diverged",
            "gradnorm became nan at step 3; above its band (3", ["@learningRate"]
        ),
        ("pytorch/normal.log", "pytorch", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        (
            "pytorch/oom-cap.log", "pytorch", .exited(1), .recoverable, "cpu-oom",
            "RuntimeError: [enforce fail at alloc_cpu.cpp:127", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "pytorch/oom.log", "pytorch", .exited(1), .recoverable, "cpu-oom",
            "RuntimeError: [enforce fail at alloc_cpu.cpp:127", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "pytorch/weights-only.log", "pytorch", .exited(1), .unrecoverable, "weights-only-load",
            "_pickle.UnpicklingError: Weights only load faile", []
        ),
        (
            "sb3/bad-ckpt-tail.log", "sb3", .exited(1), .recoverable, "sb3-checkpoint-load-error",
            "ValueError: Error: the file ppo.zip wasn't a zip", []
        ),
        (
            "sb3/bad-ckpt.log", "sb3", .exited(1), .recoverable, "sb3-checkpoint-load-error",
            "AssertionError: No data found in the saved file", []
        ),
        ("sb3/nan-discrete.log", "sb3", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        (
            "sb3/nan.log", "sb3", .exited(1), .recoverable, "sb3-invalid-values",
            "ValueError: Expected parameter loc (Tensor of sh", ["@learningRate"]
        ),
        ("sb3/normal-dqn.log", "sb3", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        ("sb3/normal.log", "sb3", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        (
            "sb3/oom.log", "sb3", .exited(1), .recoverable, "memory-error",
            "numpy._core._exceptions._ArrayMemoryError: Unabl", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "transformers/bad-optimizer.log", "huggingface", .exited(1), .recoverable, "checkpoint-load-error",
            "RuntimeError: PytorchStreamReader failed reading", []
        ),
        (
            "transformers/bad-rng.log", "huggingface", .exited(1), .recoverable, "io-error",
            "OSError: [Errno 22] Invalid argument", []
        ),
        (
            "transformers/bad-state.log", "huggingface", .exited(1), .recoverable, "hf-checkpoint-load-error",
            "load_from_json", []
        ),
        (
            "transformers/bad-weights.log", "huggingface", .exited(1), .recoverable, "checkpoint-load-error",
            "safetensors._safetensors_rust.SafetensorError: E", []
        ),
        (
            "transformers/climb.log", "huggingface", .exited(0), .recoverable, "diverged",
            "loss rose to 2160, above 10", ["@learningRate"]
        ),
        (
            "transformers/empty-ckpt-dir.log", "huggingface", .exited(1), .recoverable, "hf-checkpoint-load-error",
            "ValueError: Can't find a valid checkpoint at out", []
        ),
        (
            "transformers/nan-nofilter.log", "huggingface", .exited(0), .recoverable, "diverged",
            "gradnorm became nan at step 4: {'loss': 'nan', '", ["@learningRate"]
        ),
        (
            "transformers/nan.log", "huggingface", .exited(0), .recoverable, "diverged",
            "gradnorm became nan at step 4: {'loss': '0', 'gr", ["@learningRate"]
        ),
        (
            "transformers/no-ckpt.log", "huggingface", .exited(1), .unrecoverable, "hf-no-checkpoint",
            "ValueError: No valid checkpoint found in output", []
        ),
        (
            "transformers/normal.log", "huggingface", .exited(0), .success, "exit-0", "the trainer exited with code 0",
            []
        ),
        (
            "transformers/oom.log", "huggingface", .exited(1), .recoverable, "cpu-oom",
            "RuntimeError: [enforce fail at alloc_cpu.cpp:127", ["@batchSize", "@gradientAccumulation"]
        ),
        (
            "xgboost/bad-ckpt-alloc.log", "xgboost", .signaled(.abort), .recoverable, "xgboost-out-of-memory",
            "terminate called after throwing an instance of '", []
        ),
        (
            "xgboost/bad-ckpt-segv-faulthandler.log", "xgboost", .signaled(.segmentationFault), .recoverable,
            "any-failure", "killed by SIGSEGV", []
        ),
        (
            "xgboost/bad-ckpt-segv.log", "xgboost", .signaled(.segmentationFault), .recoverable, "any-failure",
            "killed by SIGSEGV", []
        ),
        (
            "xgboost/bad-ckpt.log", "xgboost", .exited(1), .recoverable, "xgboost-checkpoint-load-error",
            "xgboost.core.XGBoostError: basic_string::_M_repl", []
        ),
        (
            "xgboost/bad-json.log", "xgboost", .exited(1), .recoverable, "xgboost-checkpoint-load-error",
            "xgboost.core.XGBoostError: [10:35:03] /__w/xgboo", []
        ),
        (
            "xgboost/ckpt-dir-missing.log", "xgboost", .exited(1), .unrecoverable, "xgboost-checkpoint-dir-missing",
            "xgboost.core.XGBoostError: [10:34:35] /__w/xgboo", []
        ),
        (
            "xgboost/climb.log", "xgboost", .exited(0), .recoverable, "diverged", "trainloss rose to 163.686, above 10",
            ["@learningRate"]
        ),
        (
            "xgboost/empty-ckpt.log", "xgboost", .exited(1), .recoverable, "xgboost-checkpoint-load-error",
            "xgboost.core.XGBoostError: [10:35:08] /__w/xgboo", []
        ),
        (
            "xgboost/eta-range.log", "xgboost", .exited(1), .unrecoverable, "xgboost-invalid-parameter",
            "xgboost.core.XGBoostError: Out of range value fo", []
        ),
        (
            "xgboost/inf-label.log", "xgboost", .exited(1), .unrecoverable, "xgboost-bad-label",
            "xgboost.core.XGBoostError: [10:34:56] /__w/xgboo", []
        ),
        (
            "xgboost/nan.log", "xgboost", .exited(0), .recoverable, "diverged",
            "trainloss became inf at step 0: [0]\ttrain-rmse:i", ["@learningRate"]
        ),
        ("xgboost/normal-sklearn.log", "xgboost", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        ("xgboost/normal.log", "xgboost", .exited(0), .success, "exit-0", "the trainer exited with code 0", []),
        (
            "xgboost/oom.log", "xgboost", .exited(1), .recoverable, "xgboost-out-of-memory",
            "xgboost.core.XGBoostError: std::bad_alloc", []
        ),
        (
            "xgboost/too-many-cols.log", "xgboost", .exited(1), .unrecoverable, "xgboost-invalid-parameter",
            "xgboost.core.XGBoostError: [10:34:57] /__w/xgboo", []
        ),
        (
            "pytorch/cuda-oom.log", "pytorch", .exited(1), .recoverable, "cuda-oom",
            "torch.OutOfMemoryError: CUDA out of memory. Trie",
            ["@batchSize", "@gradientAccumulation", "env:PYTORCH_CUDA_ALLOC_CONF"]
        ),
        (
            "pytorch/cuda-error-oom.log", "pytorch", .exited(1), .recoverable, "cuda-oom-output",
            "torch.AcceleratorError: CUDA error: out of memor",
            ["@batchSize", "@gradientAccumulation", "env:PYTORCH_CUDA_ALLOC_CONF"]
        ),
        (
            "pytorch/cuda-oom-legacy.log", "pytorch", .exited(1), .recoverable, "cuda-oom",
            "torch.cuda.OutOfMemoryError: CUDA out of memory.",
            ["@batchSize", "@gradientAccumulation", "env:PYTORCH_CUDA_ALLOC_CONF"]
        ),
    ]

    @Test("each log's verdict", arguments: rows.indices)
    func verdict(row: Int) throws {
        let (log, name, status, verdictClass, rule, evidence, repairs) = FrameworkLogTests.rows[row]
        let policy = try FrameworkLogTests.policy(name)
        let outcome = try PolicyExplainer.outcome(
            logFile: FrameworkLogTests.directory + log, status: status, tailBytes: policy.output.tailBytes,
            policy: policy)
        let verdict = Classifier(policy: policy).classify(outcome)
        #expect(verdict.verdict == verdictClass, "\(log): \(verdict.reason)")
        #expect(verdict.rule == rule, "\(log): \(verdict.reason)")
        #expect(verdict.reason.contains(evidence), "\(log): \(verdict.reason)")
        let matched = policy.rules.first { $0.name == verdict.rule }
        #expect((matched?.repairs ?? []).map(\.key) == repairs, "\(log)")
    }

    @Test(
        "vigil policy check and policy explain, the binary, on a real log of each framework",
        arguments: [
            ("lightning", "lightning/nan.log", "0", "diverged"),
            ("huggingface", "transformers/nan.log", "0", "diverged"),
            ("sb3", "sb3/nan.log", "1", "sb3-invalid-values"),
            ("xgboost", "xgboost/oom.log", "1", "xgboost-out-of-memory"),
            ("lightgbm", "lightgbm/bad-ckpt-head.log", "1", "lightgbm-checkpoint-load-error"),
            ("pytorch", "pytorch/oom.log", "1", "cpu-oom"), ("python", "numpy/oom.log", "1", "memory-error"),
        ])
    func binary(policy: String, log: String, exitCode: String, rule: String) throws {
        let check = try TestProcess.vigil(["policy", "check", policy])
        #expect(check.exitCode() == 0, "\(check.output)")
        #expect(check.stdout.hasPrefix("// \(policy): valid."))
        let explain = try TestProcess.vigil([
            "policy", "explain", "--policy", policy, "--log", FrameworkLogTests.directory + log, "--exit-code",
            exitCode,
        ])
        #expect(explain.exitCode() == 0, "\(explain.output)")
        #expect(explain.stdout.contains("rule:   \(rule)"), "\(explain.stdout)")
    }

    @Test("every log in the folder has a row")
    func complete() throws {
        var logs: [String] = []
        for framework in try FileManager.default.contentsOfDirectory(atPath: FrameworkLogTests.directory) {
            let folder = FrameworkLogTests.directory + framework
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { continue }
            logs += names.filter { $0.hasSuffix(".log") }.map { framework + "/" + $0 }
        }
        #expect(Set(logs) == Set(FrameworkLogTests.rows.map(\.0)))
    }

    @Test("a SIGKILL: from outside it repairs nothing; with the kernel's OOM-kill count it halves the batch")
    func foreignKill() throws {
        let policy = try FrameworkLogTests.policy("pytorch")
        var outcome = try PolicyExplainer.outcome(
            logFile: FrameworkLogTests.directory + "pytorch/normal.log", status: .signaled(.kill),
            tailBytes: policy.output.tailBytes, policy: policy)
        let foreign = Classifier(policy: policy).classify(outcome)
        #expect(foreign.verdict == .recoverable && foreign.rule == "killed-from-outside", "\(foreign.reason)")
        #expect(foreign.reason.contains("not sent by vigil"))
        #expect(policy.rules.first { $0.name == "killed-from-outside" }?.repairs.isEmpty == true)
        outcome.oomKills = 1
        outcome.oomKillSource = "memory.events of the attempt's cgroup"
        let oom = Classifier(policy: policy).classify(outcome)
        #expect(oom.rule == "oom-killed", "\(oom.reason)")
        #expect(
            oom.reason.contains(
                "the kernel's OOM killer fired 1 time during the attempt (memory.events of the attempt's cgroup)"))
        #expect(
            policy.rules.first { $0.name == "oom-killed" }?.repairs.map(\.key) == [
                "@batchSize", "@gradientAccumulation",
            ])
    }
}
