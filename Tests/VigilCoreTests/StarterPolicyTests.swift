import Foundation
import Testing

@testable import VigilCore

/// `vigil init`: what it makes of a command, from files made for each case; and the command itself.
@Suite("vigil init: starter policies", .serialized)
struct StarterPolicyTests {
    let dir: String

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-init")
    }

    func write(_ path: String, _ text: String = "") throws {
        let full = dir + "/" + path
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    @Test("a Hugging Face Trainer script with a YAML config and checkpoint-N/ directories")
    func huggingFace() throws {
        defer { TestSupport.remove(dir) }
        try write(
            "train.py",
            """
            import argparse
            from transformers import Trainer, TrainingArguments
            p = argparse.ArgumentParser()
            p.add_argument("--config")
            p.add_argument("--resume_from_checkpoint", default=None)
            trainer = Trainer(model=model, args=TrainingArguments(output_dir="output"))
            """)
        try write(
            "config.yaml",
            """
            training:
              per_device_train_batch_size: 8
              learning_rate: 5.0e-5
              gradient_accumulation_steps: 2
            model:
              name: gpt2
            """)
        for step in [500, 1000] { try write("output/checkpoint-\(step)/trainer_state.json", "{}") }
        try FileManager.default.createDirectory(
            atPath: dir + "/output/tmp-checkpoint-1500", withIntermediateDirectories: true)
        let command = ["python3", "train.py", "--config", "config.yaml"]
        let starter = StarterPolicy.guess(command: command, workingDirectory: dir)
        #expect(starter.extends == "huggingface" && starter.framework == .huggingface)
        #expect(starter.configPath == "config.yaml")
        #expect(starter.roles.map(\.role) == ["batchSize", "learningRate", "gradientAccumulation"])
        #expect(
            starter.roles.map(\.key) == [
                "training.per_device_train_batch_size", "training.learning_rate",
                "training.gradient_accumulation_steps",
            ])
        #expect(starter.checkpointDirectory == "output" && starter.checkpointPattern == "checkpoint-{step}")
        #expect(starter.checkpointMarker == "trainer_state.json")
        #expect(starter.resumeArguments == ["--resume_from_checkpoint", "{checkpoint}"])
        #expect(starter.evidence.contains("train.py imports transformers: Hugging Face Trainer"))
        #expect(starter.evidence.contains("output/ holds 2 checkpoint(s) named like checkpoint-{step}"))
        #expect(starter.checks.contains { $0.contains("does not use examples/vigil_trainer.py") })
        // The text is a policy that loads, with what was guessed.
        let path = dir + "/vigil.json5"
        try starter.text(command: command).write(toFile: path, atomically: true, encoding: .utf8)
        let policy = try PolicyLoader(searchDirectories: [TestSupport.repositoryRoot + "/policies"]).load(path)
        #expect(policy.config.roles["learningRate"] == "training.learning_rate")
        #expect(policy.checkpoints.pattern == "checkpoint-{step}" && policy.checkpoints.marker == "trainer_state.json")
        #expect(policy.resume.args == ["--resume_from_checkpoint", "{checkpoint}"])
        #expect(policy.rules.contains { $0.name == "hf-checkpoint-load-error" })
    }

    @Test("Lightning's names: epoch=E-step=S.ckpt becomes epoch=*-step={step}.ckpt")
    func lightning() throws {
        defer { TestSupport.remove(dir) }
        try write("fit.py", "import lightning as L\nfrom lightning.pytorch.callbacks import ModelCheckpoint\n")
        for (epoch, step) in [(0, 400), (1, 800), (2, 1200)] {
            try write("checkpoints/epoch=\(epoch)-step=\(step).ckpt")
        }
        try write("checkpoints/last.ckpt")
        let starter = StarterPolicy.guess(command: ["python", "-u", "fit.py", "--lr", "3e-4"], workingDirectory: dir)
        #expect(starter.extends == "lightning")
        #expect(starter.checkpointPattern == "epoch=*-step={step}.ckpt")
        #expect(starter.roles.map(\.key) == ["arg:--lr"])
        #expect(starter.resumeArguments == [])
        #expect(starter.checks.contains { $0.contains("VIGIL_RESUME_FROM") })
    }

    @Test("a framework imported by a module beside the script; python -m; a flag-only resume")
    func localModuleAndModuleRun() throws {
        defer { TestSupport.remove(dir) }
        try write(
            "trainer/__main__.py",
            "from trainer import model\nimport argparse\nparser.add_argument('--resume', action='store_true')\n")
        try write("trainer/trainer.py", "import torch\n")
        let direct = StarterPolicy.guess(command: ["python3", "-m", "trainer"], workingDirectory: dir)
        #expect(direct.script == "trainer/__main__.py")
        #expect(direct.extends == "pytorch", "\(direct.evidence)")
        #expect(direct.resumeArguments == ["--resume"])
    }

    @Test("a command that is no Python script: the default policy, and what to check")
    func notPython() throws {
        defer { TestSupport.remove(dir) }
        let starter = StarterPolicy.guess(command: ["./train.sh", "--epochs", "3"], workingDirectory: dir)
        #expect(starter.extends == "default" && starter.framework == nil)
        #expect(starter.checks.first?.contains("no Python script found") == true)
        #expect(starter.checks.contains { $0.contains("no checkpoints found") })
    }

    @Test(
        "the bundled examples are recognised",
        arguments: [
            ("pytorch", "pytorch"), ("lightning", "lightning"), ("huggingface", "huggingface"), ("sb3", "sb3"),
            ("xgboost", "xgboost"), ("lightgbm", "lightgbm"),
        ])
    func examples(folder: String, policy: String) {
        defer { TestSupport.remove(dir) }
        let script = TestSupport.repositoryRoot + "/examples/\(folder)/train.py"
        let starter = StarterPolicy.guess(command: ["python3", script], workingDirectory: dir)
        #expect(starter.extends == policy, "\(starter.evidence)")
        #expect(starter.evidence.contains { $0.contains("uses vigil_trainer") })
    }

    @Test("name shapes: the last run of digits is the step, earlier ones are *")
    func shapes() {
        #expect(StarterPolicy.shape(of: "model_ep12.pt") == "model_ep{step}.pt")
        #expect(StarterPolicy.shape(of: "rl_model_2048_steps.zip") == "rl_model_{step}_steps.zip")
        #expect(StarterPolicy.shape(of: "v2-run3-step_900.safetensors") == "v*-run*-step_{step}.safetensors")
        #expect(StarterPolicy.shape(of: "last.ckpt") == nil)
        #expect(StarterPolicy.commonPattern(in: ["a_1.pt", "a_2.pt", "b_1.bin", ".a_3.pt.tmp"])! == ("a_{step}.pt", 2))
    }

    @Test("vigil init writes the file, refuses to overwrite it, --print prints; the file passes policy check")
    func command() throws {
        defer { TestSupport.remove(dir) }
        try write("train.py", "import xgboost as xgb\n")
        let run = { (arguments: [String]) throws -> TestProcess in
            try TestProcess(["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", dir, TestSupport.vigilBinary] + arguments)
        }
        let first = try run(["init", "--", "python3", "train.py", "--eta", "0.3"])
        #expect(first.exitCode() == 0, "\(first.output)")
        #expect(first.stdout.contains("vigil: wrote vigil.json5, extending 'xgboost' (XGBoost)"), "\(first.output)")
        #expect(first.stdout.contains("guessed: the command passes --eta 0.3: the learningRate role"))
        #expect(first.stdout.contains("then: vigil run --policy ./vigil.json5 -- python3 train.py --eta 0.3"))
        let check = try run(["policy", "check", "./vigil.json5"])
        #expect(check.exitCode() == 0, "\(check.output)")
        #expect(check.stdout.contains("\"learningRate\": \"arg:--eta\""), "\(check.stdout)")
        let again = try run(["init", "--", "python3", "train.py"])
        #expect(again.exitCode() == 64)
        #expect(again.stderr.contains("exists; use --force"), "\(again.output)")
        let printed = try run(["init", "--print", "--", "python3", "train.py"])
        #expect(printed.exitCode() == 0)
        #expect(printed.stdout.hasPrefix("// A starter policy written by `vigil init` for:"))
        #expect(try run(["init", "--force", "--", "python3", "train.py"]).exitCode() == 0)
    }
}
