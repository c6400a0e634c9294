import Foundation
import Testing

@testable import VigilCore

/// Parsing and editing JSON, INI and `.env` trainer configs: every edit changes only the value's characters, so the
/// expected file is always the original with exactly one substring replaced.
@Suite("Config documents: JSON, INI and .env")
struct ConfigEditTests {
    /// `text` with the single occurrence of `old` replaced by `new` (fails the test when `old` is not unique).
    func replacingOnce(
        _ text: String, _ old: String, _ new: String, sourceLocation: SourceLocation = #_sourceLocation
    )
        -> String
    {
        let count = text.components(separatedBy: old).count - 1
        #expect(count == 1, "'\(old)' occurs \(count) times", sourceLocation: sourceLocation)
        return text.replacingOccurrences(of: old, with: new)
    }

    /// The message of the `VigilError` that `body` throws.
    func failure(_ body: () throws -> Void) -> VigilError? {
        do {
            try body()
            return nil
        } catch let error as VigilError {
            return error
        } catch {
            return nil
        }
    }

    // MARK: - JSON

    static let json = #"""
        {
          "model": {
            "name": "gpt2-small",
            "hidden_size": 768,
            "dropout": 0.1,
            "layers": [12, 12, {"inner": 1}],
            "tokenizer": {"path": "C:\\models\\tok \"v2\"", "lowercase": false}
          },
          "training": {
            "batch_size": 64,
            "learning_rate": 3e-4,
            "lr_text": "1e-4",
            "gradient_accumulation": 1,
            "mixed_precision": true,
            "schedule": [{"step": 0, "lr": 0.0}, {"step": 1000, "lr": 1e-4}],
            "extra": {}
          },
          "output_dir": "/tmp/run \u00e9 ☃",
          "seed": null
        }

        """#

    @Test("JSON: values, types and keys")
    func jsonValues() throws {
        let doc = try JSONConfigDocument(text: Self.json, path: "train.json")
        #expect(doc.text == Self.json)
        #expect(
            doc.keys == [
                "model.name", "model.hidden_size", "model.dropout", "model.tokenizer.path", "model.tokenizer.lowercase",
                "training.batch_size", "training.learning_rate", "training.lr_text", "training.gradient_accumulation",
                "training.mixed_precision", "output_dir",
            ])
        #expect(doc.value(at: "model.name") == .string("gpt2-small"))
        #expect(doc.value(at: "model.hidden_size") == .int(768))
        #expect(doc.value(at: "model.dropout") == .double(0.1))
        #expect(doc.value(at: "model.tokenizer.path") == .string(#"C:\models\tok "v2""#))
        #expect(doc.value(at: "model.tokenizer.lowercase") == .bool(false))
        #expect(doc.value(at: "training.learning_rate") == .double(3e-4))
        #expect(doc.value(at: "training.lr_text") == .string("1e-4"))
        #expect(doc.value(at: "output_dir") == .string("/tmp/run é ☃"))
        // Not scalars, not addressable, or absent.
        #expect(doc.value(at: "seed") == nil)
        #expect(doc.value(at: "model") == nil)
        #expect(doc.value(at: "model.layers") == nil)
        #expect(doc.value(at: "inner") == nil)
        #expect(doc.value(at: "step") == nil)
        #expect(doc.value(at: "training.missing") == nil)
    }

    @Test("JSON: an edit changes only the value's characters")
    func jsonRoundTrip() throws {
        let doc = try JSONConfigDocument(text: Self.json, path: "train.json")
        let json = Self.json
        #expect(
            try doc.setting("training.batch_size", to: .int(32))
                == replacingOnce(json, #""batch_size": 64"#, #""batch_size": 32"#))
        #expect(
            try doc.setting("training.learning_rate", to: .double(1.5e-4))
                == replacingOnce(json, #""learning_rate": 3e-4"#, #""learning_rate": 1.5e-4"#))
        #expect(
            try doc.setting("training.learning_rate", to: .double(1e-5))
                == replacingOnce(json, #""learning_rate": 3e-4"#, #""learning_rate": 1e-5"#))
        #expect(
            try doc.setting("model.dropout", to: .double(0.5))
                == replacingOnce(json, #""dropout": 0.1"#, #""dropout": 0.5"#))
        #expect(
            try doc.setting("training.mixed_precision", to: .bool(false))
                == replacingOnce(json, #""mixed_precision": true"#, #""mixed_precision": false"#))
        #expect(
            try doc.setting("model.tokenizer.path", to: .string("D:\\tok\t\"v3\"\n"))
                == replacingOnce(json, #""C:\\models\\tok \"v2\"""#, #""D:\\tok\t\"v3\"\n""#))
        // A string stays a string, whatever the new value's type.
        #expect(
            try doc.setting("training.lr_text", to: .double(5e-5))
                == replacingOnce(json, #""lr_text": "1e-4""#, #""lr_text": "5e-05""#))
        // A null is replaced in place.
        #expect(try doc.setting("seed", to: .int(7)) == replacingOnce(json, #""seed": null"#, #""seed": 7"#))
        // The edited text parses back to the new value.
        let edited = try JSONConfigDocument(text: try doc.setting("model.name", to: .string("a\u{1}é")), path: "x")
        #expect(edited.value(at: "model.name") == .string("a\u{1}é"))
        #expect(try doc.setting("model.name", to: .string("a\u{1}é")).contains(#""a\u0001é""#))
    }

    @Test("JSON: adding a missing key as the last member, indented like its siblings")
    func jsonAdd() throws {
        let text = """
            {
                "data": {
                    "path": "/data/train",
                    "workers": 4
                },
                "epochs": 10
            }
            """
        let doc = try JSONConfigDocument(text: text, path: "cfg.json")
        #expect(
            try doc.setting("data.shuffle", to: .bool(true))
                == replacingOnce(text, #""workers": 4"#, "\"workers\": 4,\n        \"shuffle\": true"))
        #expect(
            try doc.setting("seed", to: .int(1))
                == replacingOnce(text, #""epochs": 10"#, "\"epochs\": 10,\n    \"seed\": 1"))
        #expect(
            try doc.setting("optimizer.adam.beta1", to: .double(0.9))
                == replacingOnce(
                    text, #""epochs": 10"#,
                    """
                    "epochs": 10,
                        "optimizer": {
                            "adam": {
                                "beta1": 0.9
                            }
                        }
                    """))

        // An empty object in a pretty-printed file; a one-line object.
        let main = try JSONConfigDocument(text: Self.json, path: "train.json")
        #expect(
            try main.setting("training.extra.flag", to: .string("on"))
                == replacingOnce(Self.json, #""extra": {}"#, "\"extra\": {\n      \"flag\": \"on\"\n    }"))
        #expect(
            try main.setting("model.tokenizer.max_length", to: .int(512))
                == replacingOnce(Self.json, #""lowercase": false}"#, #""lowercase": false, "max_length": 512}"#))
        let added = try JSONConfigDocument(text: try doc.setting("optimizer.adam.beta1", to: .double(0.9)), path: "x")
        #expect(added.value(at: "optimizer.adam.beta1") == .double(0.9))
        #expect(try JSONConfigDocument(text: "{}", path: "x").setting("a.b", to: .int(1)) == #"{"a": {"b": 1}}"#)
        let crlf = try JSONConfigDocument(text: "{\r\n  \"a\": 1\r\n}\r\n", path: "x")
        #expect(try crlf.setting("b", to: .int(2)) == "{\r\n  \"a\": 1,\r\n  \"b\": 2\r\n}\r\n")

        // Paths through a scalar or an array, or onto an object, are refused.
        for (document, key) in [(doc, "data.workers.x"), (main, "model.layers.x"), (doc, "data"), (main, "model")] {
            let error = failure { _ = try document.setting(key, to: .int(1)) }
            #expect(error?.code == .invalidConfig, "\(key)")
        }
        #expect(failure { _ = try doc.setting("epochs", to: .double(.nan)) }?.code == .invalidConfig)
    }

    @Test(
        "JSON: syntax errors name the line and column",
        arguments: [
            ("{\n  \"a\": 1,\n}\n", "line 3, column 1"),
            ("{\n  // batch\n  \"a\": 1\n}", "line 2, column 3"),
            ("{\n  \"a\": 1\n  \"b\": 2\n}", "line 3, column 3"),
            ("{\n  \"a\": \"open\n}", "line 2, column 8"),
            ("{\n  \"a\": 01\n}", "line 2, column 8"),
            ("{\n  \"a\": [1, 2,]\n}", "line 2, column 14"),
            ("{\"a\": tru}", "line 1, column 7"),
            ("{} x", "line 1, column 4"),
            ("", "line 1, column 1"),
        ])
    func jsonErrors(text: String, location: String) {
        let error = failure { _ = try JSONConfigDocument(text: text, path: "bad.json") }
        #expect(error?.code == .invalidConfig)
        #expect(error?.file == "bad.json")
        #expect(error?.message.hasPrefix(location + ": ") == true, "\(error?.message ?? "no error")")
    }

    // MARK: - INI

    static let ini = """
        ; Training configuration
        # generated by hand

        [model]
        name = resnet50
        pretrained: True
        dropout = 0.25

        [training]
        batch_size = 64
        learning_rate=0.001
        optimizer : "adamw"
        epochs = 90
        milestones =
            30
            60
        # a comment between keys
        label = 'quoted'

        [paths]
        data = /datasets/imagenet ; part of the value in configparser

        """

    @Test("INI: values, types and keys")
    func iniValues() throws {
        let doc = try INIConfigDocument(text: Self.ini, path: "train.ini", format: .ini)
        #expect(
            doc.keys == [
                "model.name", "model.pretrained", "model.dropout", "training.batch_size", "training.learning_rate",
                "training.optimizer", "training.epochs", "training.milestones", "training.label", "paths.data",
            ])
        #expect(doc.value(at: "model.name") == .string("resnet50"))
        #expect(doc.value(at: "model.pretrained") == .bool(true))
        #expect(doc.value(at: "model.dropout") == .double(0.25))
        #expect(doc.value(at: "training.batch_size") == .int(64))
        #expect(doc.value(at: "training.BATCH_SIZE") == .int(64))
        #expect(doc.value(at: "training.learning_rate") == .double(0.001))
        #expect(doc.value(at: "training.optimizer") == .string("adamw"))
        #expect(doc.value(at: "training.milestones") == .string("\n30\n60"))
        #expect(doc.value(at: "training.label") == .string("quoted"))
        #expect(doc.value(at: "paths.data") == .string("/datasets/imagenet ; part of the value in configparser"))
        #expect(doc.value(at: "batch_size") == nil)
        #expect(doc.value(at: "model.batch_size") == nil)

        let plain = try INIConfigDocument(
            text: "seed = 1\n[DEFAULT]\nlr = 0.1\n[run.a]\nx: 2\n", path: "p.cfg", format: .ini)
        #expect(plain.keys == ["seed", "DEFAULT.lr", "run.a.x"])
        #expect(plain.value(at: "seed") == .int(1))
        #expect(plain.value(at: "run.a.x") == .int(2))
        #expect(plain.value(at: "run.a.lr") == .double(0.1))
    }

    @Test("INI: an edit changes only the value's characters")
    func iniRoundTrip() throws {
        let doc = try INIConfigDocument(text: Self.ini, path: "train.ini", format: .ini)
        let ini = Self.ini
        #expect(
            try doc.setting("training.batch_size", to: .int(32))
                == replacingOnce(ini, "batch_size = 64", "batch_size = 32"))
        #expect(
            try doc.setting("training.learning_rate", to: .double(0.0005))
                == replacingOnce(ini, "learning_rate=0.001", "learning_rate=0.0005"))
        #expect(
            try doc.setting("training.optimizer", to: .string("sgd"))
                == replacingOnce(ini, #"optimizer : "adamw""#, #"optimizer : "sgd""#))
        #expect(
            try doc.setting("model.pretrained", to: .bool(false))
                == replacingOnce(ini, "pretrained: True", "pretrained: False"))
        #expect(
            try doc.setting("training.label", to: .string("new label"))
                == replacingOnce(ini, "label = 'quoted'", "label = 'new label'"))
        #expect(
            try doc.setting("training.Epochs", to: .int(100)) == replacingOnce(ini, "epochs = 90", "epochs = 100"))
        #expect(
            try doc.setting("training.milestones", to: .string("10"))
                == replacingOnce(ini, "milestones =\n    30\n    60", "milestones = 10"))
        #expect(failure { _ = try doc.setting("model.name", to: .string("a\nb")) }?.code == .invalidConfig)
    }

    @Test("INI: adding a missing key at the end of its section, or a new section")
    func iniAdd() throws {
        let doc = try INIConfigDocument(text: Self.ini, path: "train.ini", format: .ini)
        let ini = Self.ini
        #expect(
            try doc.setting("model.depth", to: .int(50))
                == replacingOnce(ini, "dropout = 0.25\n", "dropout = 0.25\ndepth = 50\n"))
        #expect(
            try doc.setting("training.warmup", to: .int(5))
                == replacingOnce(ini, "label = 'quoted'\n", "label = 'quoted'\nwarmup = 5\n"))
        #expect(try doc.setting("scheduler.gamma", to: .double(0.1)) == ini + "\n[scheduler]\ngamma = 0.1\n")
        #expect(try doc.setting("seed", to: .int(3)) == "seed = 3\n" + ini)

        let colon = try INIConfigDocument(text: "[a]\nx: 1\n[b]", path: "c.ini", format: .ini)
        #expect(try colon.setting("a.y", to: .bool(true)) == "[a]\nx: 1\ny: true\n[b]")
        #expect(try colon.setting("b.z", to: .string("s")) == "[a]\nx: 1\n[b]\nz: s\n")
        let crlf = try INIConfigDocument(text: "[a]\r\nx = 1\r\n", path: "c.ini", format: .ini)
        #expect(try crlf.setting("a.x", to: .int(2)) == "[a]\r\nx = 2\r\n")
        #expect(try crlf.setting("b.y", to: .int(2)) == "[a]\r\nx = 1\r\n\r\n[b]\r\ny = 2\r\n")
        let blank = try INIConfigDocument(text: "[a]\r\nx = 1\r\n\r\n", path: "c.ini", format: .ini)
        #expect(try blank.setting("b.y", to: .int(2)) == "[a]\r\nx = 1\r\n\r\n[b]\r\ny = 2\r\n")
    }

    @Test(
        "INI: syntax errors name the line",
        arguments: [
            ("[a]\nx = 1\njust some words\n", "line 3: "),
            ("; c\n[a\nx = 1\n", "line 2: "),
            ("[a]\nx = 1\nX = 2\n", "line 3: "),
            ("[a]\n[a]\n", "line 2: "),
            ("[a]\n= 1\n", "line 2: "),
        ])
    func iniErrors(text: String, location: String) {
        let error = failure { _ = try INIConfigDocument(text: text, path: "bad.ini", format: .ini) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.file == "bad.ini")
        #expect(error?.message.hasPrefix(location) == true, "\(error?.message ?? "no error")")
    }

    // MARK: - .env

    static let env = #"""
        # Environment for the trainer
        export CUDA_VISIBLE_DEVICES=0,1
        WANDB_PROJECT="vision \"baseline\""
        BATCH_SIZE=64   # per device
        LR='3e-4'
          USE_AMP = TRUE

        PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
        EMPTY=
        URL=http://host/#anchor
        """#

    @Test(".env: values, types and keys")
    func envValues() throws {
        let doc = try INIConfigDocument(text: Self.env, path: ".env", format: .env)
        #expect(
            doc.keys == [
                "CUDA_VISIBLE_DEVICES", "WANDB_PROJECT", "BATCH_SIZE", "LR", "USE_AMP", "PYTORCH_CUDA_ALLOC_CONF",
                "EMPTY", "URL",
            ])
        #expect(doc.value(at: "CUDA_VISIBLE_DEVICES") == .string("0,1"))
        #expect(doc.value(at: "WANDB_PROJECT") == .string(#"vision "baseline""#))
        #expect(doc.value(at: "BATCH_SIZE") == .int(64))
        #expect(doc.value(at: "LR") == .double(3e-4))
        #expect(doc.value(at: "USE_AMP") == .bool(true))
        #expect(doc.value(at: "PYTORCH_CUDA_ALLOC_CONF") == .string("expandable_segments:True"))
        #expect(doc.value(at: "EMPTY") == .string(""))
        #expect(doc.value(at: "URL") == .string("http://host/#anchor"))
        #expect(doc.value(at: "batch_size") == nil)
    }

    @Test(".env: an edit changes only the value's characters")
    func envRoundTrip() throws {
        let doc = try INIConfigDocument(text: Self.env, path: ".env", format: .env)
        let env = Self.env
        #expect(
            try doc.setting("BATCH_SIZE", to: .int(32))
                == replacingOnce(env, "BATCH_SIZE=64   # per device", "BATCH_SIZE=32   # per device"))
        #expect(try doc.setting("LR", to: .double(1.5e-4)) == replacingOnce(env, "LR='3e-4'", "LR='1.5e-4'"))
        #expect(
            try doc.setting("WANDB_PROJECT", to: .string(#"a "b" \ c"#))
                == replacingOnce(env, #"WANDB_PROJECT="vision \"baseline\"""#, #"WANDB_PROJECT="a \"b\" \\ c""#))
        #expect(
            try doc.setting("CUDA_VISIBLE_DEVICES", to: .string("0"))
                == replacingOnce(env, "export CUDA_VISIBLE_DEVICES=0,1", "export CUDA_VISIBLE_DEVICES=0"))
        #expect(try doc.setting("USE_AMP", to: .bool(false)) == replacingOnce(env, "USE_AMP = TRUE", "USE_AMP = FALSE"))
        #expect(try doc.setting("EMPTY", to: .int(5)) == replacingOnce(env, "EMPTY=\n", "EMPTY=5\n"))
        #expect(
            try doc.setting("PYTORCH_CUDA_ALLOC_CONF", to: .string("max_split_size_mb:128"))
                == replacingOnce(env, "=expandable_segments:True", "=max_split_size_mb:128"))
        // A bare value that would not read back is quoted.
        let quoted = try doc.setting("BATCH_SIZE", to: .string("a #b"))
        #expect(quoted == replacingOnce(env, "BATCH_SIZE=64", #"BATCH_SIZE="a #b""#))
        #expect(
            try INIConfigDocument(text: quoted, path: ".env", format: .env).value(at: "BATCH_SIZE") == .string("a #b"))
    }

    @Test(".env: adding a missing key at the end, in the file's style")
    func envAdd() throws {
        let doc = try INIConfigDocument(text: Self.env, path: ".env", format: .env)
        #expect(try doc.setting("NUM_WORKERS", to: .int(8)) == Self.env + "\nNUM_WORKERS=8\n")
        #expect(try doc.setting("RUN_NAME", to: .string("my run")) == Self.env + "\nRUN_NAME=my run\n")
        let exported = try INIConfigDocument(text: "export A = 1\n", path: "prod.env", format: .env)
        #expect(try exported.setting("B", to: .string(" x")) == "export A = 1\nexport B = \" x\"\n")
        #expect(failure { _ = try doc.setting("training.batch_size", to: .int(1)) }?.code == .invalidConfig)
        #expect(failure { _ = try doc.setting("1ABC", to: .int(1)) }?.code == .invalidConfig)
    }

    @Test(
        ".env: syntax errors name the line",
        arguments: [
            ("# c\nA=1\nBAD LINE\n", "line 3: "),
            ("A=1\nB=\"open\nC=2\n", "line 2: "),
            ("A='x' y\n", "line 1: "),
            ("A=\"multi\nline\"\n=3\n", "line 3: "),
        ])
    func envErrors(text: String, location: String) {
        let error = failure { _ = try INIConfigDocument(text: text, path: ".env", format: .env) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.hasPrefix(location) == true, "\(error?.message ?? "no error")")
    }

    // MARK: - Formats

    @Test("ConfigFormat from the path's extension, and ConfigFile.parse by format")
    func formats() throws {
        let cases: [(String, ConfigFormat?)] = [
            ("configs/train.json", .json), ("a.YAML", .yaml), ("a.yml", .yaml), ("pyproject.toml", .toml),
            ("setup.cfg", .ini), ("train.ini", .ini), ("app.conf", .ini), (".env", .env), ("/srv/prod.env", .env),
            ("README.md", nil), ("Makefile", nil), ("config", nil),
        ]
        for (path, format) in cases {
            #expect(ConfigFormat(path: path) == format, "\(path)")
        }
        let json = try ConfigFile.parse(#"{"a": {"b": 2}}"#, format: .json, path: "x.json")
        #expect(json.value(at: "a.b") == .int(2))
        let ini = try ConfigFile.parse("[a]\nb = 2\n", format: .ini, path: "x.ini")
        #expect(ini.value(at: "a.b") == .int(2))
        let env = try ConfigFile.parse("B=2\n", format: .env, path: ".env")
        #expect(env.value(at: "B") == .int(2))
    }
}
