import Foundation
import Testing

@testable import VigilCore

/// YAML and TOML config documents: parsing the subset training configs use, editing one value
/// without touching a byte elsewhere, adding keys, and naming the line of a syntax error.
@Suite("Config documents: YAML and TOML")
struct ConfigDocumentTests {
    static let yaml = """
        ---
        # Fine-tuning run for the 7B model.
        experiment: "llama-7b-ft"
        seed: 1234

        model:
          name: 'meta-llama/Llama-2-7b'   # the base checkpoint
          dtype: bfloat16
          lora:
            rank: 16
            alpha: 32.0
            dropout: .05
            targets: [q_proj, v_proj]

        training:
          batch_size: 64      # per device; halved on OOM
          grad_accum: "2"
          learning_rate: 3.0e-4
          warmup: 1e-2
          max_steps: 10_000
          use_amp: true
          compile: False
          resume: ~
          schedule:
            - cosine
            - linear
          note: |
            multi-line notes
            are kept as they are
          optimizer: adamw

        data:
          path: "/data/train.jsonl"   # "quoted" with a # inside the string
          shuffle: yes
          workers: -4
        """

    static let toml = """
        # Fine-tuning run for the 7B model.
        experiment = "llama-7b-ft"
        seed = 1_234

        [model]
        name = 'meta-llama/Llama-2-7b'   # the base checkpoint
        dtype = "bfloat16"
        lora.rank = 16
        lora.alpha = 32.0

        [training]
        batch_size = 64      # per device; halved on OOM
        grad_accum = "2"
        learning_rate = 3.0e-4
        warmup = 1e-2
        use_amp = true
        layers = [
          1, 2,  # first
          3,
        ]
        extra = { a = 1, b = "x" }
        notes = \"\"\"
        kept as is
        \"\"\"

        [training.schedule]
        kind = "cosine"   # or linear
        min_lr = 0.0

        [data]
        "file name" = "/data/train.jsonl"  # "quoted" with a # inside
        shuffle = false
        workers = -4

        """

    func yamlDoc(_ text: String = Self.yaml) throws -> YAMLConfigDocument {
        try YAMLConfigDocument(text: text, path: "train.yaml")
    }

    func tomlDoc(_ text: String = Self.toml) throws -> TOMLConfigDocument {
        try TOMLConfigDocument(text: text, path: "train.toml")
    }

    /// The original with exactly one occurrence of `old` replaced by `new`.
    func replacingOnce(_ text: String, _ old: String, _ new: String) -> String {
        #expect(text.components(separatedBy: old).count == 2, "\(old) occurs once")
        return text.replacingOccurrences(of: old, with: new)
    }

    func lineError(_ body: () throws -> Void) -> VigilError? {
        do {
            try body()
        } catch let error as VigilError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
        }
        return nil
    }

    // MARK: YAML

    @Test func yamlEditChangesOnlyTheValue() throws {
        let doc = try yamlDoc()
        #expect(
            try doc.setting("training.batch_size", to: .int(32))
                == replacingOnce(Self.yaml, "batch_size: 64      #", "batch_size: 32      #"))
        #expect(
            try doc.setting("training.grad_accum", to: .int(4))
                == replacingOnce(Self.yaml, #"grad_accum: "2""#, #"grad_accum: "4""#))
        #expect(
            try doc.setting("model.name", to: .string("it's"))
                == replacingOnce(Self.yaml, "'meta-llama/Llama-2-7b'", "'it''s'"))
        // A float keeps the file's style: an exponent form stays one (in YAML with a `.` and a sign).
        #expect(
            try doc.setting("training.learning_rate", to: .double(0.00015))
                == replacingOnce(Self.yaml, "3.0e-4", "1.5e-4"))
        #expect(
            try doc.setting("training.warmup", to: .double(5e-5))
                == replacingOnce(Self.yaml, "1e-2", "5.0e-5"))
        #expect(
            try doc.setting("training.resume", to: .string("ckpt/last"))
                == replacingOnce(Self.yaml, "resume: ~", "resume: ckpt/last"))
        #expect(
            try doc.setting("data.path", to: .string("/d/a \"b\""))
                == replacingOnce(Self.yaml, #""/data/train.jsonl""#, #""/d/a \"b\"""#))
        #expect(
            try doc.setting("model.dtype", to: .string("true"))
                == replacingOnce(Self.yaml, "dtype: bfloat16", #"dtype: "true""#))
        #expect(
            try doc.setting("training.compile", to: .bool(true))
                == replacingOnce(Self.yaml, "compile: False", "compile: true"))
        // An edited file parses again to the new value.
        let edited = try yamlDoc(try doc.setting("model.lora.dropout", to: .double(0.1)))
        #expect(edited.value(at: "model.lora.dropout") == .double(0.1))
    }

    @Test func yamlValues() throws {
        let doc = try yamlDoc()
        #expect(doc.value(at: "experiment") == .string("llama-7b-ft"))
        #expect(doc.value(at: "seed") == .int(1234))
        #expect(doc.value(at: "model.name") == .string("meta-llama/Llama-2-7b"))
        #expect(doc.value(at: "model.lora.alpha") == .double(32))
        #expect(doc.value(at: "model.lora.dropout") == .double(0.05))
        #expect(doc.value(at: "training.batch_size") == .int(64))
        #expect(doc.value(at: "training.grad_accum") == .string("2"))
        #expect(doc.value(at: "training.learning_rate") == .double(3e-4))
        #expect(doc.value(at: "training.warmup") == .double(0.01))
        #expect(doc.value(at: "training.max_steps") == .string("10_000"))
        #expect(doc.value(at: "training.use_amp") == .bool(true))
        #expect(doc.value(at: "training.compile") == .bool(false))
        #expect(doc.value(at: "data.path") == .string("/data/train.jsonl"))
        #expect(doc.value(at: "data.shuffle") == .string("yes"))
        #expect(doc.value(at: "data.workers") == .int(-4))
        for notScalar in [
            "training.resume", "training.schedule", "model.lora.targets", "training.note", "model", "nope",
        ] {
            #expect(doc.value(at: notScalar) == nil, "\(notScalar)")
        }
        #expect(
            doc.keys == [
                "experiment", "seed", "model.name", "model.dtype", "model.lora.rank", "model.lora.alpha",
                "model.lora.dropout", "training.batch_size", "training.grad_accum", "training.learning_rate",
                "training.warmup", "training.max_steps", "training.use_amp", "training.compile",
                "training.optimizer", "data.path", "data.shuffle", "data.workers",
            ])
    }

    @Test func yamlAddsMissingKeys() throws {
        let doc = try yamlDoc()
        #expect(
            try doc.setting("model.lora.bias", to: .string("none"))
                == replacingOnce(Self.yaml, "[q_proj, v_proj]\n", "[q_proj, v_proj]\n    bias: none\n"))
        #expect(
            try doc.setting("training.clip", to: .double(1))
                == replacingOnce(Self.yaml, "  optimizer: adamw\n", "  optimizer: adamw\n  clip: 1.0\n"))
        #expect(try doc.setting("run", to: .string("a: b")) == Self.yaml + "\nrun: \"a: b\"")
        #expect(
            try doc.setting("logging.wandb.project", to: .string("ft"))
                == Self.yaml + "\nlogging:\n  wandb:\n    project: ft")
        let empty = try yamlDoc("# nothing yet\n")
        #expect(try empty.setting("a.b", to: .bool(false)) == "# nothing yet\na:\n  b: false\n")
        // An empty `key:` takes children.
        let placeholder = "opt:   # later\nlr: 1\n"
        #expect(
            try yamlDoc(placeholder).setting("opt.momentum", to: .double(0.9))
                == "opt:   # later\n  momentum: 0.9\nlr: 1\n")
        #expect(try yamlDoc(placeholder).setting("opt", to: .string("sgd")) == "opt: sgd   # later\nlr: 1\n")
    }

    @Test func yamlListsAtTheKeysIndentation() throws {
        let text = "layers:\n- 1\n- 2\nlr: 0.1\n"
        let doc = try yamlDoc(text)
        #expect(doc.keys == ["lr"])
        #expect(try doc.setting("lr", to: .double(0.05)) == "layers:\n- 1\n- 2\nlr: 0.05\n")
    }

    @Test func yamlCRLF() throws {
        let text = "a:\r\n  b: 1 # c\r\n"
        let doc = try yamlDoc(text)
        #expect(doc.value(at: "a.b") == .int(1))
        #expect(try doc.setting("a.b", to: .int(2)) == "a:\r\n  b: 2 # c\r\n")
        #expect(try doc.setting("a.c", to: .int(3)) == "a:\r\n  b: 1 # c\r\n  c: 3\r\n")
    }

    @Test func yamlPathThroughNonMappingThrows() throws {
        let doc = try yamlDoc()
        for key in [
            "training.batch_size.x", "model.lora.targets.x", "training.note.x", "model.dtype.a.b", "training.resume.x",
        ] {
            let error = lineError { _ = try doc.setting(key, to: .int(1)) }
            #expect(error?.code == .invalidConfig, "\(key)")
            #expect(error?.key == key)
        }
        #expect(lineError { _ = try doc.setting("training.schedule", to: .int(1)) }?.code == .invalidConfig)
        #expect(lineError { _ = try doc.setting("model", to: .int(1)) }?.code == .invalidConfig)
    }

    @Test(arguments: [
        ("a:\n  b: 1\n   c: 2\n", 3, "bad indentation"),
        ("a:\n    b: 1\n  c: 2\n", 3, "bad indentation"),
        ("a: 1\nb: \"open\n", 2, "unterminated double-quoted"),
        ("a: 1\nb: 'open # x\n", 2, "unterminated single-quoted"),
        ("a:\n\tb: 1\n", 2, "tab"),
        ("a:\n  b: 1\n  b: 2\n", 3, "duplicate key"),
        ("x: 1\nx: 2\n", 2, "duplicate key"),
        ("base: &b 1\n", 1, "anchors"),
        ("lr: *b\n", 1, "anchors"),
        ("a:\n  <<: 3\n", 2, "merge keys"),
        ("opt: {lr: 1}\n", 1, "flow mappings"),
        ("l: [1,\n  2]\n", 1, "flow list"),
        ("a: 1\n---\nb: 2\n", 2, "several documents"),
        ("- 1\n- 2\n", 1, "top level"),
        ("a: b: c\n", 1, "plain value"),
        ("a: one\n  two\n", 2, "multi-line plain"),
        ("just text\n", 1, "expected 'key: value'"),
        ("a: \"x\" y\n", 1, "unexpected text"),
    ])
    func yamlErrorsNameTheLine(text: String, line: Int, message: String) {
        let error = lineError { _ = try yamlDoc(text) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.file == "train.yaml")
        #expect(error?.message.hasPrefix("line \(line): ") == true, "\(error?.message ?? "no error")")
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
    }

    @Test func yamlErrorNamesTheKey() {
        let error = lineError { _ = try yamlDoc("train:\n  lr: 'x\n") }
        #expect(error?.key == "train.lr")
    }

    // MARK: TOML

    @Test func tomlEditChangesOnlyTheValue() throws {
        let doc = try tomlDoc()
        #expect(
            try doc.setting("training.batch_size", to: .int(32))
                == replacingOnce(Self.toml, "batch_size = 64      #", "batch_size = 32      #"))
        #expect(
            try doc.setting("training.grad_accum", to: .int(4))
                == replacingOnce(Self.toml, #"grad_accum = "2""#, #"grad_accum = "4""#))
        #expect(
            try doc.setting("model.name", to: .string("other/model"))
                == replacingOnce(Self.toml, "'meta-llama/Llama-2-7b'", "'other/model'"))
        #expect(
            try doc.setting("model.name", to: .string("it's"))
                == replacingOnce(Self.toml, "'meta-llama/Llama-2-7b'", #""it's""#))
        #expect(
            try doc.setting("training.learning_rate", to: .double(0.00015))
                == replacingOnce(Self.toml, "3.0e-4", "1.5e-4"))
        #expect(
            try doc.setting("training.warmup", to: .double(5e-5))
                == replacingOnce(Self.toml, "1e-2", "5e-5"))
        #expect(
            try doc.setting("model.lora.rank", to: .int(8))
                == replacingOnce(Self.toml, "lora.rank = 16", "lora.rank = 8"))
        #expect(
            try doc.setting("data.file name", to: .string("a\\b"))
                == replacingOnce(Self.toml, #""/data/train.jsonl""#, #""a\\b""#))
        #expect(
            try doc.setting("seed", to: .int(7)) == replacingOnce(Self.toml, "seed = 1_234", "seed = 7"))
        #expect(
            try doc.setting("training.schedule.kind", to: .string("linear"))
                == replacingOnce(Self.toml, #""cosine"   #"#, #""linear"   #"#))
        let edited = try tomlDoc(try doc.setting("data.shuffle", to: .bool(true)))
        #expect(edited.value(at: "data.shuffle") == .bool(true))
    }

    @Test func tomlValues() throws {
        let doc = try tomlDoc()
        #expect(doc.value(at: "experiment") == .string("llama-7b-ft"))
        #expect(doc.value(at: "seed") == .int(1234))
        #expect(doc.value(at: "model.name") == .string("meta-llama/Llama-2-7b"))
        #expect(doc.value(at: "model.lora.rank") == .int(16))
        #expect(doc.value(at: "model.lora.alpha") == .double(32))
        #expect(doc.value(at: "training.learning_rate") == .double(3e-4))
        #expect(doc.value(at: "training.warmup") == .double(0.01))
        #expect(doc.value(at: "training.use_amp") == .bool(true))
        #expect(doc.value(at: "training.schedule.min_lr") == .double(0))
        #expect(doc.value(at: "data.file name") == .string("/data/train.jsonl"))
        #expect(doc.value(at: "data.workers") == .int(-4))
        for notScalar in ["training.layers", "training.extra", "training.extra.a", "training.notes", "model", "nope"] {
            #expect(doc.value(at: notScalar) == nil, "\(notScalar)")
        }
        #expect(
            doc.keys == [
                "experiment", "seed", "model.name", "model.dtype", "model.lora.rank", "model.lora.alpha",
                "training.batch_size", "training.grad_accum", "training.learning_rate", "training.warmup",
                "training.use_amp", "training.schedule.kind", "training.schedule.min_lr", "data.file name",
                "data.shuffle", "data.workers",
            ])
        let escaped = try tomlDoc(#"s = "tab\there \"q\" \u00e9""# + "\n")
        #expect(escaped.value(at: "s") == .string("tab\there \"q\" é"))
        let numbers = try tomlDoc("a = 0x1F\nb = +inf\nc = 1_000.5\nd = 6.02e+23\n")
        #expect(numbers.value(at: "a") == .int(31))
        #expect(numbers.value(at: "b") == .double(.infinity))
        #expect(numbers.value(at: "c") == .double(1000.5))
        #expect(numbers.value(at: "d") == .double(6.02e23))
    }

    @Test func tomlAddsMissingKeys() throws {
        let doc = try tomlDoc()
        #expect(
            try doc.setting("data.seed", to: .int(1))
                == replacingOnce(Self.toml, "workers = -4\n", "workers = -4\nseed = 1\n"))
        #expect(
            try doc.setting("training.schedule.warmup", to: .double(0.1))
                == replacingOnce(Self.toml, "min_lr = 0.0\n", "min_lr = 0.0\nwarmup = 0.1\n"))
        #expect(
            try doc.setting("model.lora.dropout", to: .double(0.05))
                == replacingOnce(Self.toml, "lora.alpha = 32.0\n", "lora.alpha = 32.0\nlora.dropout = 0.05\n"))
        #expect(
            try doc.setting("run_name", to: .string("x"))
                == replacingOnce(Self.toml, "seed = 1_234\n", "seed = 1_234\nrun_name = \"x\"\n"))
        #expect(
            try doc.setting("logging.wandb.project", to: .string("ft"))
                == Self.toml + "\n[logging.wandb]\nproject = \"ft\"\n")
        #expect(try tomlDoc("[a]\nx = 1").setting("b.y", to: .int(2)) == "[a]\nx = 1\n\n[b]\ny = 2\n")
        #expect(try tomlDoc("# hi\n[a]\nx = 1\n").setting("top", to: .int(2)) == "# hi\ntop = 2\n\n[a]\nx = 1\n")
        #expect(try tomlDoc("").setting("top", to: .bool(true)) == "top = true\n")
        #expect(try tomlDoc("[a]\n  x = 1\n\n").setting("a.y", to: .int(2)) == "[a]\n  x = 1\n  y = 2\n\n")
        #expect(try tomlDoc("[a]\n\n[b]\n").setting("a.y", to: .int(2)) == "[a]\ny = 2\n\n[b]\n")
        #expect(try tomlDoc("a = 1\r\n").setting("b", to: .int(2)) == "a = 1\r\nb = 2\r\n")
    }

    @Test func tomlPathThroughNonTableThrows() throws {
        let doc = try tomlDoc()
        for key in ["seed.x", "training.layers.x", "training.extra.a", "training.extra.c", "training.notes.x"] {
            let error = lineError { _ = try doc.setting(key, to: .int(1)) }
            #expect(error?.code == .invalidConfig, "\(key)")
            #expect(error?.key == key)
        }
        for key in ["training.layers", "training.notes", "training", "training.extra"] {
            #expect(lineError { _ = try doc.setting(key, to: .int(1)) }?.code == .invalidConfig, "\(key)")
        }
        let arrays = try tomlDoc("[[runs]]\nlr = 1\n")
        #expect(arrays.keys.isEmpty)
        #expect(lineError { _ = try arrays.setting("runs.lr", to: .int(1)) }?.code == .invalidConfig)
    }

    @Test(arguments: [
        ("a = 1\nb = \"open\n", 2, "unterminated string"),
        ("a = 1\nb = 'open\n", 2, "unterminated string"),
        ("[t]\na = 1\na = 2\n", 3, "duplicate key"),
        ("[t]\na = 1\n[t]\n", 3, "duplicate table"),
        ("a = 1\na.b = 2\n", 2, "not a table"),
        ("a = 1\nb 2\n", 2, "expected '='"),
        ("a = 1\n\nb = nope\n", 3, "invalid value"),
        ("a = 1 2\n", 1, "unexpected text"),
        ("a = [1,\n2\n", 1, "unterminated array"),
        ("a = {x = 1\n", 1, "unterminated inline table"),
        ("x = 1\n[t\n", 2, "expected ']'"),
        ("s = \"\"\"\nnever closed\n", 1, "unterminated multi-line"),
        ("a = \"bad \\q\"\n", 1, "invalid escape"),
        ("a = 01\n", 1, "invalid value"),
    ])
    func tomlErrorsNameTheLine(text: String, line: Int, message: String) {
        let error = lineError { _ = try tomlDoc(text) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.file == "train.toml")
        #expect(error?.message.hasPrefix("line \(line): ") == true, "\(error?.message ?? "no error")")
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
    }

    @Test func parseByFormat() throws {
        #expect(try ConfigFile.parse(Self.yaml, format: .yaml, path: "c.yaml").value(at: "seed") == .int(1234))
        #expect(try ConfigFile.parse(Self.toml, format: .toml, path: "c.toml").value(at: "seed") == .int(1234))
    }
}
