import Foundation
import Testing

@testable import VigilCore

/// The shipped policies: Tests/VigilCoreTests/ClassifierTests.swift → up three → policies/.
private let policiesDirectory: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("policies").path
}()

/// Loads a shipped policy by name from the repository (nil: the default alone).
private func shippedPolicy(_ name: String?) throws -> Policy {
    try PolicyLoader(searchDirectories: [policiesDirectory]).load(name)
}

/// Splits text as the output tail holds it: one string per line.
private func lines(_ text: String) -> [String] {
    text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
}

/// A failed attempt whose stderr (and stdout) ended with `stderr` (and `stdout`).
private func failure(
    _ status: Termination = .exited(1), stderr: String = "", stdout: String = "", sentByVigil: Bool = false,
    errorFile: TrainerErrorFile? = nil, oomKills: Int? = nil, timedOut: Bool = false, stalled: Bool = false,
    resumeArguments: [String] = []
) -> AttemptOutcome {
    AttemptOutcome(
        status: status, signalSentByVigil: sentByVigil, duration: 42,
        tail: OutputTail(stdout: lines(stdout), stderr: lines(stderr)), errorFile: errorFile, oomKills: oomKills,
        timedOut: timedOut, stalled: stalled, resumeArguments: resumeArguments)
}

/// A rule built in code, as the policy decoder would build it.
private func rule(
    _ name: String, _ verdict: VerdictClass, _ configure: (inout Rule) throws -> Void = { _ in }
)
    rethrows -> Rule
{
    var rule = Rule(name: name, verdict: verdict, reason: "because \(name)")
    try configure(&rule)
    return rule
}

/// One row of a classification table: an outcome in, the expected verdict out.
struct ClassificationCase: Sendable, CustomTestStringConvertible {
    var summary: String
    /// The shipped policy to classify with (nil: the default alone, or the hand-built rules).
    var policy: String?
    var outcome: AttemptOutcome
    var verdict: VerdictClass
    var rule: String
    /// A fragment the verdict's reason must contain.
    var reason: String

    init(
        _ summary: String, policy: String? = nil, _ outcome: AttemptOutcome, _ verdict: VerdictClass, rule: String,
        reason: String
    ) {
        self.summary = summary
        self.policy = policy
        self.outcome = outcome
        self.verdict = verdict
        self.rule = rule
        self.reason = reason
    }

    var testDescription: String { summary }

    func check(with classifier: Classifier) {
        let verdict = classifier.classify(outcome)
        #expect(verdict.verdict == self.verdict, "\(summary): \(verdict)")
        #expect(verdict.rule == rule, "\(summary): \(verdict)")
        #expect(verdict.reason.contains(reason), "\(summary): reason was: \(verdict.reason)")
    }
}

// MARK: - Real-looking trainer output

/// Realistic tails, as Python, PyTorch, LightGBM, numpy and torchrun print them.
enum TrainerOutput {
    /// `raise … from e`: the second traceback is the one that killed the process.
    static let chainedDirectCause = """
        Traceback (most recent call last):
          File "/home/ml/train.py", line 41, in load_checkpoint
            state = torch.load(path)
                    ^^^^^^^^^^^^^^^^
          File "/usr/lib/python3.11/site-packages/torch/serialization.py", line 986, in load
            with _open_file_like(f, 'rb') as opened_file:
        FileNotFoundError: [Errno 2] No such file or directory: 'checkpoints/step_1000.pt'

        The above exception was the direct cause of the following exception:

        Traceback (most recent call last):
          File "/home/ml/train.py", line 88, in <module>
            main()
          File "/home/ml/train.py", line 43, in load_checkpoint
            raise RuntimeError(f"could not resume from {path}") from e
        RuntimeError: could not resume from checkpoints/step_1000.pt
        """

    /// An exception raised while handling another: the last one wins.
    static let chainedDuringHandling = """
        Traceback (most recent call last):
          File "/home/ml/train.py", line 12, in <module>
            batch = next(loader)
                    ^^^^^^^^^^^^
        StopIteration

        During handling of the above exception, another exception occurred:

        Traceback (most recent call last):
          File "/home/ml/train.py", line 14, in <module>
            os.makedirs("/mnt/shared/ckpt")
          File "<frozen os>", line 225, in makedirs
        PermissionError: [Errno 13] Permission denied: '/mnt/shared/ckpt'
        """

    /// The reverse: a PermissionError that was handled and turned into something else.
    static let permissionErrorThenRuntimeError = """
        Traceback (most recent call last):
          File "/home/ml/train.py", line 20, in save
            torch.save(state, path)
        PermissionError: [Errno 13] Permission denied: '/mnt/ro/ckpt.pt'

        During handling of the above exception, another exception occurred:

        Traceback (most recent call last):
          File "/home/ml/train.py", line 90, in <module>
            save(state, path)
          File "/home/ml/train.py", line 23, in save
            raise RuntimeError("checkpoint not written")
        RuntimeError: checkpoint not written
        """

    static let cudaOOMMessage = """
        CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity; 12.10 GiB already \
        allocated; 1.52 GiB free; 13.20 GiB reserved in total by PyTorch) If reserved memory is >> allocated memory \
        try setting max_split_size_mb to avoid fragmentation.  See documentation for Memory Management and \
        PYTORCH_CUDA_ALLOC_CONF
        """

    /// torch ≥ 2.1 prints the type as `torch.OutOfMemoryError`.
    static let cudaOOM = """
        epoch 3 step 1200 loss 0.4312
        Traceback (most recent call last):
          File "/workspace/train.py", line 120, in <module>
            loss.backward()
          File "/opt/conda/lib/python3.10/site-packages/torch/_tensor.py", line 492, in backward
            torch.autograd.backward(
          File "/opt/conda/lib/python3.10/site-packages/torch/autograd/__init__.py", line 251, in backward
            Variable._execution_engine.run_backward(  # Calls into the C++ engine to run the backward pass
        torch.OutOfMemoryError: \(cudaOOMMessage)
        """

    /// Older torch prints `torch.cuda.OutOfMemoryError`.
    static let cudaOOMLegacy = """
        Traceback (most recent call last):
          File "/workspace/train.py", line 118, in <module>
            out = model(batch)
        torch.cuda.OutOfMemoryError: \(cudaOOMMessage)
        """

    /// torchrun prefixes every line of a rank's output with `[rankN]: `.
    static let torchrunRankOOM = """
        [rank0]: Traceback (most recent call last):
        [rank0]:   File "/workspace/train_ddp.py", line 77, in <module>
        [rank0]:     main()
        [rank0]:   File "/workspace/train_ddp.py", line 61, in main
        [rank0]:     out = model(x)
        [rank0]:           ^^^^^^^^
        [rank0]: torch.OutOfMemoryError: \(cudaOOMMessage)
        """

    static let lightGBMEmptyData = """
        [LightGBM] [Info] Number of positive: 0, number of negative: 0
        Traceback (most recent call last):
          File "/home/ml/train_gbm.py", line 31, in <module>
            booster = lgb.train(params, train_set, num_boost_round=500)
          File "/usr/lib/python3/site-packages/lightgbm/engine.py", line 255, in train
            booster = Booster(params=params, train_set=train_set)
          File "/usr/lib/python3/site-packages/lightgbm/basic.py", line 263, in _safe_call
            raise LightGBMError(_LIB.LGBM_GetLastError().decode('utf-8'))
        lightgbm.basic.LightGBMError: Check failed: (num_data) > (0) at /__w/1/s/lightgbm-python/src/io/dataset.cpp, \
        line 39 .
        """

    static let numpyArrayMemory = """
        Traceback (most recent call last):
          File "/home/ml/features.py", line 17, in <module>
            x = np.zeros((1000000, 1000))
                ^^^^^^^^^^^^^^^^^^^^^^^^^
        numpy.core._exceptions._ArrayMemoryError: Unable to allocate 7.45 GiB for an array with shape (1000000, \
        1000) and data type float64
        """

    /// The NCCL watchdog gives up on a collective and aborts the process (SIGABRT).
    static let ncclWatchdog = """
        [rank0]:[E1123 09:20:11.123456789 ProcessGroupNCCL.cpp:616] [Rank 0] Watchdog caught collective operation \
        timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600000 \
        milliseconds before timing out.
        [rank0]:[E1123 09:20:11.124000000 ProcessGroupNCCL.cpp:1785] [PG 0 (default_pg) Rank 0] Exception (either \
        an error before or timeout detected by watchdog)
        terminate called after throwing an instance of 'c10::DistBackendError'
        """

    /// argparse refusing the resume flag Vigil appended.
    static let resumeRejected = """
        usage: train.py [-h] [--epochs EPOCHS] [--lr LR]
        train.py: error: unrecognized arguments: --resume
        """

    /// What a shell prints when its child was SIGKILLed.
    static let killed = """
        epoch 1 step 800 loss 0.9120
        Killed
        """

    static let plainLog = """
        INFO: step 3
        Error rate: 0.1
        epoch 2 step 400 loss 1.2031
        """

    /// torchrun's own report after a rank died: its ChildFailedError is the last traceback, the
    /// rank's error is above it. (The exception line ends with a space, as torchrun prints it.)
    static func torchrunReport(after rankOutput: String) -> String {
        rankOutput + "\n" + """
            E1123 09:12:44.123000 140 torch/distributed/elastic/multiprocessing/api.py:869] failed (exitcode: 1) \
            local_rank: 0 (pid: 141) of binary: /usr/bin/python3
            Traceback (most recent call last):
              File "/usr/local/bin/torchrun", line 8, in <module>
                sys.exit(main())
              File "/usr/local/lib/python3.10/dist-packages/torch/distributed/launcher/api.py", line 263, in launch_agent
                raise ChildFailedError(
            torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\u{20}
            ============================================================
            train_ddp.py FAILED
            ------------------------------------------------------------
            Failures:
              <NO_OTHER_FAILURES>
            ------------------------------------------------------------
            Root Cause (first observed failure):
            [0]:
              time      : 2024-11-23_09:12:44
              host      : gpu-node-1
              rank      : 0 (local_rank: 0)
              exitcode  : 1 (pid: 141)
              error_file: <N/A>
              traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html
            ============================================================
            """
    }

    static let torchrunRankTypeError = """
        [rank0]: Traceback (most recent call last):
        [rank0]:   File "/workspace/train_ddp.py", line 61, in main
        [rank0]:     out = model(x, mask)
        [rank0]: TypeError: Net.forward() takes 2 positional arguments but 3 were given
        """

    static let deviceSideAssert = """
        ../aten/src/ATen/native/cuda/Loss.cu:250: nll_loss_forward_reduce_cuda_kernel_2d: block: [0,0,0], \
        thread: [5,0,0] Assertion `t >= 0 && t < n_classes` failed.
        Traceback (most recent call last):
          File "/workspace/train.py", line 97, in <module>
            loss = criterion(logits, labels)
        RuntimeError: CUDA error: device-side assert triggered
        CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might \
        be incorrect.
        """

    static let dataLoaderWorkerKilled = """
        Traceback (most recent call last):
          File "/opt/conda/lib/python3.10/site-packages/torch/utils/data/_utils/signal_handling.py", line 66, in handler
            _error_if_any_worker_fails()
        RuntimeError: DataLoader worker (pid 12345) is killed by signal: Killed.
        """

    static let nanLoss = """
        epoch 3 step 1180 loss=0.4421 lr=3.0e-04
        epoch 3 step 1190 loss=nan lr=3.0e-04
        Traceback (most recent call last):
          File "/workspace/train.py", line 140, in <module>
            assert torch.isfinite(loss), "non-finite loss"
        AssertionError: non-finite loss
        """

    static let connectionReset = """
        Traceback (most recent call last):
          File "/home/ml/fetch.py", line 22, in download_shard
            data = resp.read()
        ConnectionResetError: [Errno 104] Connection reset by peer
        """

    static let moduleNotFound = """
        Traceback (most recent call last):
          File "/home/ml/train.py", line 3, in <module>
            import transformers
        ModuleNotFoundError: No module named 'transformers'
        """

    static let jsonDecode = """
        Traceback (most recent call last):
          File "/home/ml/train.py", line 30, in load_manifest
            return json.load(f)
        json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
        """
}

// MARK: - Tests

@Suite("Classifier")
struct ClassifierTests {
    // MARK: The default policy

    static let defaultPolicyCases: [ClassificationCase] = [
        ClassificationCase(
            "exit 0 is success", failure(.exited(0), stderr: TrainerOutput.chainedDuringHandling), .success,
            rule: "exit-0", reason: "exited with code 0"),
        ClassificationCase(
            "exit 127: command not found", failure(.exited(127), stderr: "sh: 1: trian.py: not found"),
            .unrecoverable, rule: "command-not-found", reason: "exit code 127"),
        ClassificationCase(
            "exit 126: command not executable", failure(.exited(126), stderr: "sh: 1: ./train.py: Permission denied"),
            .unrecoverable, rule: "command-not-executable", reason: "exit code 126"),
        ClassificationCase(
            "chained 'direct cause': the last exception (RuntimeError) decides",
            failure(stderr: TrainerOutput.chainedDirectCause), .recoverable, rule: "any-failure",
            reason: "RuntimeError: could not resume from checkpoints/step_1000.pt"),
        ClassificationCase(
            "chained 'during handling': the last exception (PermissionError) decides",
            failure(stderr: TrainerOutput.chainedDuringHandling), .unrecoverable, rule: "permission-error",
            reason: "PermissionError: [Errno 13] Permission denied: '/mnt/shared/ckpt'"),
        ClassificationCase(
            "a handled PermissionError followed by a RuntimeError is not a permission error",
            failure(stderr: TrainerOutput.permissionErrorThenRuntimeError), .recoverable, rule: "any-failure",
            reason: "RuntimeError: checkpoint not written"),
        ClassificationCase(
            "a traceback on stdout is found when stderr has none",
            failure(stderr: "W1123 some warning", stdout: TrainerOutput.chainedDuringHandling), .unrecoverable,
            rule: "permission-error", reason: "PermissionError"),
        ClassificationCase(
            "SIGSEGV is a recoverable failure", failure(.signaled(.segmentationFault)), .recoverable,
            rule: "any-failure", reason: "killed by SIGSEGV"),
        ClassificationCase(
            "SIGKILL not sent by vigil is retried, as killed from outside (no OOM count)",
            failure(.signaled(.kill), stderr: TrainerOutput.killed), .recoverable, rule: "killed-from-outside",
            reason: "not sent by vigil"),
        ClassificationCase(
            "an error file takes precedence over the tail (file: PermissionError)",
            failure(
                stderr: TrainerOutput.chainedDirectCause,
                errorFile: TrainerErrorFile(type: "PermissionError", message: "[Errno 13] Permission denied: '/ckpt'")),
            .unrecoverable, rule: "permission-error", reason: "PermissionError: [Errno 13] Permission denied: '/ckpt'"),
        ClassificationCase(
            "an error file takes precedence over the tail (tail: PermissionError)",
            failure(
                stderr: TrainerOutput.chainedDuringHandling,
                errorFile: TrainerErrorFile(type: "ValueError", message: "learning rate must be positive")),
            .recoverable, rule: "any-failure", reason: "ValueError: learning rate must be positive"),
        ClassificationCase(
            "an error file without a type falls back to the tail",
            failure(
                stderr: TrainerOutput.chainedDuringHandling, errorFile: TrainerErrorFile(message: "something broke")),
            .unrecoverable, rule: "permission-error", reason: "PermissionError"),
        ClassificationCase(
            "the trainer rejects the resume argument",
            failure(.exited(2), stderr: TrainerOutput.resumeRejected, resumeArguments: ["--resume"]),
            .unrecoverable, rule: "resume-rejected", reason: "unrecognized arguments: --resume"),
        ClassificationCase(
            "the same output on a fresh start (no resume arguments) is an ordinary failure",
            failure(.exited(2), stderr: TrainerOutput.resumeRejected, resumeArguments: []), .recoverable,
            rule: "any-failure", reason: "exit code 2"),
        ClassificationCase(
            "another unrecognized argument is not a resume rejection",
            failure(
                .exited(2), stderr: "train.py: error: unrecognized arguments: --warmup 10",
                resumeArguments: ["--resume"]), .recoverable, rule: "any-failure", reason: "exit code 2"),
        ClassificationCase(
            "a resume rejection printed on stdout counts too",
            failure(
                .exited(2), stdout: "Error: No such option: --resume", resumeArguments: ["--resume", "latest"]),
            .unrecoverable, rule: "resume-rejected", reason: "'--resume latest'"),
        ClassificationCase(
            "ordinary log lines are not exceptions", failure(.exited(3), stderr: TrainerOutput.plainLog),
            .recoverable, rule: "any-failure", reason: "exit code 3"),
    ]

    @Test("the default policy classifies real failures", arguments: defaultPolicyCases)
    func defaultPolicy(_ row: ClassificationCase) throws {
        row.check(with: Classifier(policy: try shippedPolicy(nil)))
    }

    // MARK: The shipped python and pytorch policies

    static let shippedPolicyCases: [ClassificationCase] = [
        // python
        ClassificationCase(
            "python: chained 'direct cause' ends in a RuntimeError", policy: "python",
            failure(stderr: TrainerOutput.chainedDirectCause), .recoverable, rule: "runtime-error",
            reason: "RuntimeError: could not resume from checkpoints/step_1000.pt"),
        ClassificationCase(
            "python: chained 'during handling' ends in a PermissionError", policy: "python",
            failure(stderr: TrainerOutput.chainedDuringHandling), .unrecoverable, rule: "permission-error",
            reason: "Permission denied: '/mnt/shared/ckpt'"),
        ClassificationCase(
            "python: a handled PermissionError followed by a RuntimeError", policy: "python",
            failure(stderr: TrainerOutput.permissionErrorThenRuntimeError), .recoverable, rule: "runtime-error",
            reason: "RuntimeError: checkpoint not written"),
        ClassificationCase(
            "python: ConnectionResetError is an OSError", policy: "python",
            failure(stderr: TrainerOutput.connectionReset), .recoverable, rule: "io-error",
            reason: "ConnectionResetError: [Errno 104] Connection reset by peer"),
        ClassificationCase(
            "python: ModuleNotFoundError", policy: "python", failure(stderr: TrainerOutput.moduleNotFound),
            .unrecoverable, rule: "import-error", reason: "No module named 'transformers'"),
        ClassificationCase(
            "python: JSONDecodeError is a data error", policy: "python", failure(stderr: TrainerOutput.jsonDecode),
            .recoverable, rule: "data-error", reason: "json.decoder.JSONDecodeError: Expecting value"),
        ClassificationCase(
            "python: numpy _ArrayMemoryError", policy: "python", failure(stderr: TrainerOutput.numpyArrayMemory),
            .recoverable, rule: "memory-error",
            reason: "numpy.core._exceptions._ArrayMemoryError: Unable to allocate 7.45 GiB"),
        ClassificationCase(
            "python: LightGBMError falls through to the default's any-failure", policy: "python",
            failure(stderr: TrainerOutput.lightGBMEmptyData), .recoverable, rule: "any-failure",
            reason: "lightgbm.basic.LightGBMError: Check failed: (num_data) > (0)"),
        ClassificationCase(
            "python: the script does not exist", policy: "python",
            failure(
                .exited(2),
                stderr: "/usr/bin/python3: can't open file '/home/ml/trian.py': [Errno 2] No such file or directory"),
            .unrecoverable, rule: "script-not-found", reason: "can't open file"),
        ClassificationCase(
            "python: resume rejected", policy: "python",
            failure(.exited(2), stderr: TrainerOutput.resumeRejected, resumeArguments: ["--resume"]),
            .unrecoverable, rule: "resume-rejected", reason: "does not accept the resume argument '--resume'"),
        ClassificationCase(
            "python: the same usage error on a fresh start is a usage error, not a resume rejection",
            policy: "python", failure(.exited(2), stderr: TrainerOutput.resumeRejected), .unrecoverable,
            rule: "usage-error", reason: "output matched /^[Uu]sage: /"),
        ClassificationCase(
            "python: exit 127 still hits the default's rule", policy: "python",
            failure(.exited(127), stderr: "env: 'pythn': No such file or directory"), .unrecoverable,
            rule: "command-not-found", reason: "exit code 127"),
        ClassificationCase(
            "python: the error file comes before the tail", policy: "python",
            failure(
                stderr: TrainerOutput.chainedDirectCause,
                errorFile: TrainerErrorFile(type: "ValueError", message: "shard 17 has 0 rows")),
            .recoverable, rule: "data-error", reason: "ValueError: shard 17 has 0 rows"),
        ClassificationCase(
            "python: KeyboardInterrupt", policy: "python",
            failure(
                .exited(130), stderr: "Traceback (most recent call last):\n  File \"t.py\", line 9\nKeyboardInterrupt"),
            .unrecoverable, rule: "keyboard-interrupt", reason: "KeyboardInterrupt"),

        // pytorch
        ClassificationCase(
            "pytorch: CUDA OOM, torch ≥ 2.1", policy: "pytorch", failure(stderr: TrainerOutput.cudaOOM),
            .recoverable, rule: "cuda-oom", reason: "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate"),
        ClassificationCase(
            "pytorch: CUDA OOM, older torch", policy: "pytorch", failure(stderr: TrainerOutput.cudaOOMLegacy),
            .recoverable, rule: "cuda-oom", reason: "torch.cuda.OutOfMemoryError: CUDA out of memory"),
        ClassificationCase(
            "pytorch: CUDA OOM in a rank's [rank0]: prefixed traceback", policy: "pytorch",
            failure(stderr: TrainerOutput.torchrunRankOOM), .recoverable, rule: "cuda-oom",
            reason: "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"),
        ClassificationCase(
            "pytorch: CUDA OOM in a rank, then torchrun's ChildFailedError", policy: "pytorch",
            failure(stderr: TrainerOutput.torchrunReport(after: TrainerOutput.torchrunRankOOM)), .recoverable,
            rule: "cuda-oom-output", reason: "[rank0]: torch.OutOfMemoryError: CUDA out of memory"),
        ClassificationCase(
            "pytorch: a rank's TypeError, then torchrun's ChildFailedError", policy: "pytorch",
            failure(stderr: TrainerOutput.torchrunReport(after: TrainerOutput.torchrunRankTypeError)),
            .unrecoverable, rule: "torchrun-rank-code-error", reason: "[rank0]: TypeError: Net.forward()"),
        ClassificationCase(
            "pytorch: NCCL watchdog timeout, then abort", policy: "pytorch",
            failure(.signaled(.abort), stderr: TrainerOutput.ncclWatchdog), .recoverable, rule: "nccl-error",
            reason: "output matched /Watchdog caught collective operation timeout/"),
        ClassificationCase(
            "pytorch: a bare 'Killed' and a SIGKILL vigil did not send, no OOM count: killed from outside",
            policy: "pytorch", failure(.signaled(.kill), stderr: TrainerOutput.killed), .recoverable,
            rule: "killed-from-outside", reason: "no sign of running out of memory"),
        ClassificationCase(
            "pytorch: the cgroup's OOM count rose", policy: "pytorch",
            failure(.exited(1), stderr: TrainerOutput.plainLog, oomKills: 2), .recoverable, rule: "oom-killed",
            reason: "OOM killer fired 2 times"),
        ClassificationCase(
            "pytorch: SIGKILL that vigil sent is not an OOM kill", policy: "pytorch",
            failure(.signaled(.kill), stderr: TrainerOutput.killed, sentByVigil: true, oomKills: 0), .recoverable,
            rule: "any-failure", reason: "killed by SIGKILL"),
        ClassificationCase(
            "pytorch: SIGSEGV", policy: "pytorch", failure(.signaled(.segmentationFault)), .recoverable,
            rule: "segfault", reason: "killed by SIGSEGV"),
        ClassificationCase(
            "pytorch: device-side assert", policy: "pytorch", failure(stderr: TrainerOutput.deviceSideAssert),
            .unrecoverable, rule: "cuda-device-assert", reason: "device-side assert triggered"),
        ClassificationCase(
            "pytorch: a DataLoader worker killed", policy: "pytorch",
            failure(stderr: TrainerOutput.dataLoaderWorkerKilled), .recoverable, rule: "dataloader-worker-died",
            reason: "DataLoader worker (pid 12345) is killed by signal"),
        ClassificationCase(
            "pytorch: a NaN loss explains the assert after it", policy: "pytorch",
            failure(stderr: TrainerOutput.nanLoss), .recoverable, rule: "nan-loss", reason: "loss=nan"),
        ClassificationCase(
            "pytorch: python's rules still apply (numpy)", policy: "pytorch",
            failure(stderr: TrainerOutput.numpyArrayMemory), .recoverable, rule: "memory-error",
            reason: "Unable to allocate 7.45 GiB"),
        ClassificationCase(
            "pytorch: python's rules still apply (chained PermissionError)", policy: "pytorch",
            failure(stderr: TrainerOutput.chainedDuringHandling), .unrecoverable, rule: "permission-error",
            reason: "PermissionError"),
        ClassificationCase(
            "pytorch: LightGBM falls through to any-failure", policy: "pytorch",
            failure(stderr: TrainerOutput.lightGBMEmptyData), .recoverable, rule: "any-failure",
            reason: "LightGBMError"),
        ClassificationCase(
            "pytorch: an error file naming a CUDA OOM beats a ValueError in the tail", policy: "pytorch",
            failure(
                stderr: "Traceback (most recent call last):\n  File \"t.py\", line 1\nValueError: bad shard",
                errorFile: TrainerErrorFile(type: "torch.OutOfMemoryError", message: "CUDA out of memory.")),
            .recoverable, rule: "cuda-oom", reason: "torch.OutOfMemoryError: CUDA out of memory."),
        ClassificationCase(
            "pytorch: resume rejected", policy: "pytorch",
            failure(.exited(2), stderr: TrainerOutput.resumeRejected, resumeArguments: ["--resume"]),
            .unrecoverable, rule: "resume-rejected", reason: "unrecognized arguments: --resume"),
        ClassificationCase(
            "pytorch: exit 126", policy: "pytorch", failure(.exited(126)), .unrecoverable,
            rule: "command-not-executable", reason: "exit code 126"),
    ]

    @Test("the shipped python and pytorch policies classify real failures", arguments: shippedPolicyCases)
    func shippedPolicies(_ row: ClassificationCase) throws {
        row.check(with: Classifier(policy: try shippedPolicy(row.policy)))
    }

    // MARK: Hand-built rules over real output

    /// Rules in the shape a framework policy would have, built in code.
    static let frameworkRules: [Rule] = [
        rule("resume-flag-typo", .unrecoverable) { $0.exitCodes = ExitCodeSet([64...64]) },
        rule("nccl-timeout", .recoverable) {
            $0.output = [try! Pattern("Watchdog caught collective operation timeout")]
        },
        rule("cuda-oom", .recoverable) { $0.exception = ["torch.cuda.OutOfMemoryError", "torch.OutOfMemoryError"] },
        rule("host-oom", .recoverable) { $0.exception = ["MemoryError"] },
        rule("lightgbm-empty-data", .unrecoverable) {
            $0.exception = ["LightGBMError"]
            $0.output = [try! Pattern(#"Check failed: \(num_data\) > \(0\)"#)]
        },
        rule("oom-killed", .recoverable) { $0.oomKilled = true },
        rule("preempted", .ignore) { $0.signals = [.terminate, .interrupt] },
        rule("crashed", .unrecoverable) { $0.signals = [.segmentationFault, .abort] },
        rule("timed-out", .recoverable) { $0.timedOut = true },
        rule("stalled", .recoverable) { $0.stalled = true },
        rule("bad-config", .unrecoverable) {
            $0.errorFile = Rule.ErrorFileMatcher(type: ["ValueError"], message: try! Pattern("config"))
        },
        rule("usage", .unrecoverable) { $0.exitCodes = ExitCodeSet([2...2, 64...78]) },
    ]

    static let frameworkCases: [ClassificationCase] = [
        ClassificationCase(
            "PyTorch CUDA OOM (torch ≥ 2.1: torch.OutOfMemoryError)", failure(stderr: TrainerOutput.cudaOOM),
            .recoverable, rule: "cuda-oom", reason: "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate"),
        ClassificationCase(
            "PyTorch CUDA OOM (older torch: torch.cuda.OutOfMemoryError)",
            failure(stderr: TrainerOutput.cudaOOMLegacy), .recoverable, rule: "cuda-oom",
            reason: "torch.cuda.OutOfMemoryError: CUDA out of memory"),
        ClassificationCase(
            "torchrun's [rank0]: prefixed traceback", failure(stderr: TrainerOutput.torchrunRankOOM), .recoverable,
            rule: "cuda-oom", reason: "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"),
        ClassificationCase(
            "numpy _ArrayMemoryError is a MemoryError", failure(stderr: TrainerOutput.numpyArrayMemory),
            .recoverable, rule: "host-oom", reason: "Unable to allocate 7.45 GiB"),
        ClassificationCase(
            "LightGBM empty data set: exception AND output", failure(stderr: TrainerOutput.lightGBMEmptyData),
            .unrecoverable, rule: "lightgbm-empty-data", reason: "lightgbm.basic.LightGBMError: Check failed"),
        ClassificationCase(
            "NCCL watchdog timeout (the process aborts)",
            failure(.signaled(.abort), stderr: TrainerOutput.ncclWatchdog), .recoverable, rule: "nccl-timeout",
            reason: "output matched /Watchdog caught collective operation timeout/"),
        ClassificationCase(
            "a bare 'Killed' with a SIGKILL vigil did not send proves no OOM",
            failure(.signaled(.kill), stderr: "Killed"), .recoverable, rule: "no-rule-matched",
            reason: "killed by SIGKILL"),
        ClassificationCase(
            "the kernel's OOM count rose during the attempt", failure(.exited(1), oomKills: 3), .recoverable,
            rule: "oom-killed", reason: "fired 3 times"),
        ClassificationCase(
            "one OOM kill, singular", failure(.signaled(.kill), sentByVigil: true, oomKills: 1), .recoverable,
            rule: "oom-killed", reason: "fired 1 time during the attempt"),
        ClassificationCase(
            "SIGKILL sent by vigil is not an OOM kill",
            failure(.signaled(.kill), stderr: "Killed", sentByVigil: true, timedOut: true), .recoverable,
            rule: "timed-out", reason: "reached its time limit"),
        ClassificationCase(
            "an OOM count of zero is no evidence", failure(.exited(1), oomKills: 0, stalled: true), .recoverable,
            rule: "stalled", reason: "no output and no new checkpoint"),
        ClassificationCase(
            "SIGTERM is preemption", failure(.signaled(.terminate)), .ignore, rule: "preempted",
            reason: "killed by SIGTERM"),
        ClassificationCase(
            "SIGINT sent by vigil says so", failure(.signaled(.interrupt), sentByVigil: true), .ignore,
            rule: "preempted", reason: "killed by SIGINT, sent by vigil"),
        ClassificationCase(
            "SIGSEGV", failure(.signaled(.segmentationFault)), .unrecoverable, rule: "crashed",
            reason: "killed by SIGSEGV"),
        ClassificationCase(
            "error file type and message",
            failure(
                errorFile: TrainerErrorFile(type: "ValueError", message: "bad config: lr < 0")),
            .unrecoverable, rule: "bad-config", reason: "error file: ValueError: bad config: lr < 0"),
        ClassificationCase(
            "error file of another type does not match",
            failure(
                .exited(70), errorFile: TrainerErrorFile(type: "KeyError", message: "config")),
            .unrecoverable, rule: "usage", reason: "exit code 70"),
        ClassificationCase(
            "exit code ranges", failure(.exited(2), stderr: TrainerOutput.plainLog), .unrecoverable, rule: "usage",
            reason: "exit code 2"),
        ClassificationCase(
            "the first matching rule wins", failure(.exited(64)), .unrecoverable, rule: "resume-flag-typo",
            reason: "exit code 64"),
        ClassificationCase(
            "nothing matches", failure(.exited(1), stderr: TrainerOutput.chainedDirectCause), .recoverable,
            rule: "no-rule-matched", reason: "no rule matched exit code 1"),
    ]

    @Test("hand-built rules classify real framework failures", arguments: frameworkCases)
    func frameworkFailures(_ row: ClassificationCase) {
        row.check(with: Classifier(rules: Self.frameworkRules))
    }

    // MARK: Rule semantics

    @Test("every matcher a rule names must match (AND)")
    func matchersAreANDed() throws {
        let both = try rule("value-on-exit-3", .unrecoverable) {
            $0.exitCodes = ExitCodeSet([3...3])
            $0.exception = ["ValueError"]
            $0.output = [try Pattern("lr must be")]
        }
        let classifier = Classifier(rules: [both])
        let text = "Traceback (most recent call last):\n  File \"t.py\", line 1\nValueError: lr must be > 0"
        #expect(classifier.classify(failure(.exited(3), stderr: text)).rule == "value-on-exit-3")
        #expect(classifier.classify(failure(.exited(4), stderr: text)).rule == "no-rule-matched")
        #expect(classifier.classify(failure(.exited(3), stderr: "KeyError: 'lr must be'")).rule == "no-rule-matched")
        #expect(classifier.classify(failure(.exited(3), stderr: "ValueError: bad")).rule == "no-rule-matched")
        #expect(classifier.classify(failure(.signaled(.kill), stderr: text)).rule == "no-rule-matched")
        let verdict = classifier.classify(failure(.exited(3), stderr: text))
        #expect(
            verdict.reason == "because value-on-exit-3 (exit code 3; ValueError: lr must be > 0; "
                + "output matched /lr must be/: ValueError: lr must be > 0)")
    }

    @Test("within a matcher, any listed value matches (OR)")
    func valuesAreORed() throws {
        let classifier = Classifier(rules: [
            try rule("any-of", .ignore) { $0.output = [try Pattern("^preempted$"), try Pattern("spot instance")] }
        ])
        #expect(classifier.classify(failure(stdout: "warning: spot instance reclaimed")).rule == "any-of")
        #expect(classifier.classify(failure(stderr: "preempted")).rule == "any-of")
        #expect(classifier.classify(failure(stderr: "not preempted")).rule == "no-rule-matched")
    }

    @Test("rules are tried in order and the first match wins")
    func firstMatchWins() {
        let a = rule("a", .unrecoverable) { $0.exitCodes = ExitCodeSet([1...5]) }
        let b = rule("b", .ignore) { $0.exitCodes = ExitCodeSet([1...1]) }
        #expect(Classifier(rules: [a, b]).classify(failure(.exited(1))).rule == "a")
        #expect(Classifier(rules: [b, a]).classify(failure(.exited(1))).rule == "b")
        #expect(Classifier(rules: [b, a]).classify(failure(.exited(4))).rule == "a")
    }

    @Test("a rule with no matchers is a fallback that matches any failure, but not success")
    func fallbackRule() {
        let fallback = Rule(name: "anything", verdict: .recoverable)
        let classifier = Classifier(rules: [fallback, Rule(name: "never-reached", verdict: .unrecoverable)])
        for outcome in [failure(.exited(1)), failure(.signaled(.kill)), failure(.exited(255), timedOut: true)] {
            let verdict = classifier.classify(outcome)
            #expect(verdict.rule == "anything")
            #expect(verdict.verdict == .recoverable)
        }
        // Without a reason, the name explains; the evidence is the status or the exception.
        #expect(classifier.classify(failure(.exited(9))).reason == "anything (exit code 9)")
        #expect(classifier.classify(failure(stderr: "ValueError: x")).reason == "anything (ValueError: x)")
        #expect(classifier.classify(failure(.exited(0))).verdict == .success)
    }

    @Test("boolean matchers set to false match only when the fact is absent")
    func falseMatchers() {
        let notOOM = rule("exit-137-not-oom", .ignore) {
            $0.exitCodes = ExitCodeSet([137...137])
            $0.oomKilled = false
        }
        let classifier = Classifier(rules: [notOOM])
        #expect(classifier.classify(failure(.exited(137), oomKills: 0)).rule == "exit-137-not-oom")
        #expect(classifier.classify(failure(.exited(137), oomKills: 2)).rule == "no-rule-matched")
    }

    @Test("the verdict carries the exception it saw")
    func verdictCarriesException() throws {
        let verdict = Classifier(rules: []).classify(failure(stderr: TrainerOutput.cudaOOM))
        let exception = try #require(verdict.exception)
        #expect(exception.type == "torch.OutOfMemoryError")
        #expect(exception.traceback?.hasPrefix("Traceback (most recent call last):") == true)
    }

    // MARK: ExitCodeSet

    @Test(
        "ExitCodeSet contains values and ranges, or everything else when negated",
        arguments: [
            (ExitCodeSet([1...1, 3...9]), [1, 3, 5, 9], [0, 2, 10, -1]),
            (ExitCodeSet([0...0, 75...75], negated: true), [1, 2, 74, 76, 255], [0, 75]),
            (ExitCodeSet([]), [], [0, 1, 255]),
            (ExitCodeSet([], negated: true), [0, 1, 255], []),
        ] as [(ExitCodeSet, [Int], [Int])])
    func exitCodeSet(_ set: ExitCodeSet, _ inside: [Int], _ outside: [Int]) {
        for code in inside { #expect(set.contains(code), "\(set) should contain \(code)") }
        for code in outside { #expect(!set.contains(code), "\(set) should not contain \(code)") }
    }

    @Test("ExitCodeSet describes itself as written")
    func exitCodeSetDescription() {
        #expect(ExitCodeSet([1...1, 3...9]).description == "1, 3-9")
        #expect(ExitCodeSet([0...0, 75...75], negated: true).description == "not in 0, 75")
    }
}

// MARK: - Python exceptions

@Suite("Classifier: Python exceptions")
struct PythonExceptionTests {
    static let exceptionLines: [(line: String, type: String?, message: String?)] = [
        ("ValueError: bad value", "ValueError", "bad value"),
        (
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried", "torch.cuda.OutOfMemoryError",
            "CUDA out of memory. Tried"
        ),
        ("KeyboardInterrupt", "KeyboardInterrupt", ""),
        ("_PrivateError: x", "_PrivateError", "x"),
        ("Ünïcode_Error: x", "Ünïcode_Error", "x"),  // non-ASCII: the walk over Characters decides
        ("INFO: step 3", "INFO", "step 3"),  // log levels are told apart later
        ("step 12345 loss=0.5 lr=0.001", nil, nil),  // refused at the first space
        ("a b: c", nil, nil),
        ("loss=nan: diverged", nil, nil),
        ("épreuve: x", nil, nil),  // not named like a type
        (".Error: x", nil, nil),
        ("Done", nil, nil),
        ("Error:", nil, nil),
    ]

    @Test("an exception line: `pkg.Type: message` or a bare exception name", arguments: exceptionLines.indices)
    func exceptionLine(index: Int) {
        let (line, type, message) = Self.exceptionLines[index]
        let parsed = PythonException.exceptionLine(line)
        #expect(parsed?.type == type && parsed?.message == message, "\(line)")
    }

    struct LastCase: Sendable, CustomTestStringConvertible {
        var summary: String
        var text: String
        var type: String?
        var message: String?
        var hasTraceback = true
        var testDescription: String { summary }
    }

    static let lastCases: [LastCase] = [
        LastCase(
            summary: "direct cause: the last exception", text: TrainerOutput.chainedDirectCause,
            type: "RuntimeError", message: "could not resume from checkpoints/step_1000.pt"),
        LastCase(
            summary: "during handling: the last exception", text: TrainerOutput.chainedDuringHandling,
            type: "PermissionError", message: "[Errno 13] Permission denied: '/mnt/shared/ckpt'"),
        LastCase(
            summary: "torch.OutOfMemoryError", text: TrainerOutput.cudaOOM, type: "torch.OutOfMemoryError",
            message: TrainerOutput.cudaOOMMessage),
        LastCase(
            summary: "a torchrun [rank0]: prefix on every line", text: TrainerOutput.torchrunRankOOM,
            type: "torch.OutOfMemoryError", message: TrainerOutput.cudaOOMMessage),
        LastCase(
            summary: "LightGBM", text: TrainerOutput.lightGBMEmptyData, type: "lightgbm.basic.LightGBMError",
            message: "Check failed: (num_data) > (0) at /__w/1/s/lightgbm-python/src/io/dataset.cpp, line 39 ."),
        LastCase(
            summary: "numpy", text: TrainerOutput.numpyArrayMemory, type: "numpy.core._exceptions._ArrayMemoryError",
            message: "Unable to allocate 7.45 GiB for an array with shape (1000000, 1000) and data type float64"),
        LastCase(
            summary: "a bare exception name",
            text: "Traceback (most recent call last):\n  File \"t.py\", line 3\n"
                + "KeyboardInterrupt", type: "KeyboardInterrupt", message: ""),
        LastCase(
            summary: "a multi-line message",
            text: """
                Traceback (most recent call last):
                  File "/home/ml/train.py", line 52, in <module>
                    model.load_state_dict(state["model"])
                RuntimeError: Error(s) in loading state_dict for Net:
                \tMissing key(s) in state_dict: "fc.weight", "fc.bias".
                \tUnexpected key(s) in state_dict: "head.weight".

                INFO: shutting down
                """,
            type: "RuntimeError",
            message: """
                Error(s) in loading state_dict for Net:
                \tMissing key(s) in state_dict: "fc.weight", "fc.bias".
                \tUnexpected key(s) in state_dict: "head.weight".
                """),
        LastCase(
            summary: "a message continued on unindented lines stops at the next log line",
            text: """
                Traceback (most recent call last):
                  File "/home/ml/train.py", line 9, in <module>
                ValueError: bad config
                expected batch_size > 0
                WARNING: exiting
                """,
            type: "ValueError", message: "bad config\nexpected batch_size > 0"),
        LastCase(
            summary: "no header (scrolled out of the tail): the last line that looks like an exception",
            text: """
                    raise ValueError("loss is nan")
                ValueError: loss is nan
                INFO: step 3
                epoch 2 step 400 loss nan
                """,
            type: "ValueError", message: "loss is nan", hasTraceback: false),
        LastCase(
            summary: "no header, dotted name", text: "step 1\njson.decoder.JSONDecodeError: Expecting value: line 1",
            type: "json.decoder.JSONDecodeError", message: "Expecting value: line 1", hasTraceback: false),
        LastCase(summary: "ordinary log lines are not exceptions", text: TrainerOutput.plainLog, type: nil),
        LastCase(
            summary: "log levels, warnings, paths and 'Killed' are not exceptions",
            text: """
                WARNING: low disk space
                DEBUG: batch 7
                Epoch 3: loss=0.1
                /usr/lib/python3/site-packages/torch/nn/modules/module.py:1501: UserWarning: deprecated
                RuntimeWarning: overflow encountered in exp
                Killed
                Namespace(lr=0.1, epochs=3)
                """,
            type: nil),
        LastCase(summary: "empty output", text: "", type: nil),
        LastCase(summary: "a header with nothing after it", text: "Traceback (most recent call last):", type: nil),
    ]

    @Test("PythonException.last(in:) finds the exception that ended the output", arguments: lastCases)
    func last(_ row: LastCase) throws {
        let found = PythonException.last(in: lines(row.text))
        guard let type = row.type else {
            #expect(found == nil, "parsed \(String(describing: found))")
            return
        }
        let exception = try #require(found)
        #expect(exception.type == type)
        if let message = row.message { #expect(exception.message == message) }
        #expect((exception.traceback != nil) == row.hasTraceback)
        if let traceback = exception.traceback {
            #expect(traceback.hasPrefix("Traceback (most recent call last):"))
            #expect(!traceback.contains("[rank0]"))
            #expect(traceback.contains(type))
        }
    }

    @Test("the traceback of a chained exception is the last block only")
    func chainedTraceback() throws {
        let exception = try #require(PythonException.last(in: lines(TrainerOutput.chainedDirectCause)))
        let traceback = try #require(exception.traceback)
        #expect(traceback.contains("raise RuntimeError"))
        #expect(!traceback.contains("FileNotFoundError"))
        #expect(!traceback.contains("direct cause"))
    }

    @Test("an ordinary log line interleaved in a traceback is not the exception")
    func interleavedLogLine() throws {
        let text = """
            Traceback (most recent call last):
              File "/home/ml/train.py", line 88, in <module>
            INFO: step 3
                main()
              File "/home/ml/train.py", line 60, in main
                raise ValueError("lr must be positive")
            ValueError: lr must be positive
            """
        let exception = try #require(PythonException.last(in: lines(text)))
        #expect(exception.type == "ValueError")
        #expect(exception.message == "lr must be positive")
    }

    @Test(
        "PythonException.matches: full name, last component, built-in base class",
        arguments: [
            ("torch.cuda.OutOfMemoryError", "torch.cuda.OutOfMemoryError", true),
            ("torch.cuda.OutOfMemoryError", "OutOfMemoryError", true),
            ("torch.OutOfMemoryError", "OutOfMemoryError", true),
            ("torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError", false),
            ("mylib.errors.OutOfMemoryError", "torch.cuda.OutOfMemoryError", false),
            ("lightgbm.basic.LightGBMError", "LightGBMError", true),
            ("lightgbm.basic.LightGBMError", "lightgbm.basic.LightGBMError", true),
            ("lightgbm.basic.LightGBMError", "basic.LightGBMError", false),
            ("ConnectionResetError", "OSError", true),
            ("ConnectionResetError", "ConnectionError", true),
            ("ConnectionResetError", "ValueError", false),
            ("BrokenPipeError", "OSError", true),
            ("FileNotFoundError", "OSError", true),
            ("FileNotFoundError", "PermissionError", false),
            ("PermissionError", "PermissionError", true),
            ("ModuleNotFoundError", "ImportError", true),
            ("json.decoder.JSONDecodeError", "ValueError", true),
            ("KeyError", "LookupError", true),
            ("KeyError", "IndexError", false),
            ("numpy.core._exceptions._ArrayMemoryError", "MemoryError", true),
            ("ValueError", "Error", false),
            ("ValueError", "valueerror", false),
            ("OSError", "ConnectionResetError", false),
        ])
    func matches(_ type: String, _ name: String, _ expected: Bool) {
        #expect(PythonException(type: type, message: "").matches(name) == expected)
    }

    @Test("shortType is the last component")
    func shortType() {
        #expect(PythonException(type: "torch.cuda.OutOfMemoryError", message: "").shortType == "OutOfMemoryError")
        #expect(PythonException(type: "ValueError", message: "").shortType == "ValueError")
    }
}

// MARK: - OOM kill counter

@Suite("Classifier: OOM kill counter")
struct OOMKillCounterTests {
    /// Writes `files` (relative path → content) under a fresh directory and returns it.
    func sampleRoot(_ files: [String: String]) throws -> String {
        let root = NSTemporaryDirectory() + "vigil-oom-\(UUID().uuidString.prefix(8))"
        for (path, content) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test("cgroup v2: memory.events of the process's cgroup")
    func cgroupV2() throws {
        let root = try sampleRoot([
            "proc/self/cgroup": "0::/user.slice/x.scope\n",
            "sys/fs/cgroup/user.slice/x.scope/memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 3\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let counter = OOMKillCounter(root: root)
        #expect(counter.eventsFile == root + "/sys/fs/cgroup/user.slice/x.scope/memory.events")
        #expect(counter.count() == 3)
        // The count is read afresh each time: a kill during the attempt shows up.
        try "low 0\nhigh 0\nmax 2\noom 1\noom_kill 4\n".write(
            toFile: counter.eventsFile!, atomically: true, encoding: .utf8)
        #expect(counter.count() == 4)
    }

    @Test("cgroup v1: memory.oom_control of the memory controller's cgroup")
    func cgroupV1() throws {
        let root = try sampleRoot([
            "proc/self/cgroup": "12:pids:/docker/abc\n5:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n"
                + "1:name=systemd:/docker/abc\n",
            "sys/fs/cgroup/memory/docker/abc/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let counter = OOMKillCounter(root: root)
        #expect(counter.eventsFile == root + "/sys/fs/cgroup/memory/docker/abc/memory.oom_control")
        #expect(counter.count() == 2)
    }

    @Test("hybrid hierarchy: an empty v2 line does not hide the v1 memory controller")
    func hybrid() throws {
        let root = try sampleRoot([
            "proc/self/cgroup": "0::/system.slice/containerd.service\n5:memory:/docker/abc\n",
            "sys/fs/cgroup/memory/docker/abc/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(OOMKillCounter(root: root).count() == 1)
    }

    @Test("inside a container whose cgroup path is not visible, the root memory.events is used")
    func containerFallback() throws {
        let root = try sampleRoot([
            "proc/self/cgroup": "0::/kubepods/burstable/pod1234/abcdef\n",
            "sys/fs/cgroup/memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 5\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(OOMKillCounter(root: root).count() == 5)
    }

    @Test("no cgroup files: the count is unknown, not zero")
    func unknown() throws {
        let empty = try sampleRoot(["proc/self/cgroup": "0::/user.slice/x.scope\n"])
        let missing = try sampleRoot([:])
        defer {
            try? FileManager.default.removeItem(atPath: empty)
            try? FileManager.default.removeItem(atPath: missing)
        }
        #expect(OOMKillCounter(root: empty).eventsFile == nil)
        #expect(OOMKillCounter(root: empty).count() == nil)
        #expect(OOMKillCounter(root: missing).count() == nil)
        #expect(OOMKillCounter(eventsFile: nil).count() == nil)
    }

    @Test(
        "oom_kill_disable is not oom_kill",
        arguments: [
            ("oom_kill_disable 1\nunder_oom 0\n", nil),
            ("oom_kill_disable 0\nunder_oom 0\noom_kill 7\n", 7),
            ("low 0\noom 2\noom_kill 0\n", 0),
            ("oom_kill x\n", nil),
        ] as [(String, Int?)])
    func parseCount(_ text: String, _ expected: Int?) {
        #expect(OOMKillCounter.parseCount(text) == expected)
    }
}
