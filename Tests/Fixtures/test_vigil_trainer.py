"""Tests of examples/vigil_trainer.py, the framework-free parts (standard library only).

    python3 -m unittest Tests/Fixtures/test_vigil_trainer.py      # from the repository root
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "examples"))
sys.path.insert(0, EXAMPLES)

import vigil_trainer as vigil  # noqa: E402

VIGIL_VARS = [
    "VIGIL_RUN_ID", "VIGIL_CHECKPOINT_SIGNAL", "VIGIL_ERROR_FILE", "VIGIL_HEARTBEAT_FILE",
    "VIGIL_OVERRIDES", "VIGIL_RESUME_FROM", "VIGIL_CHECKPOINT_DIR", "VIGIL_DEADLINE", "VIGIL_ATTEMPT",
]


class EnvTestCase(unittest.TestCase):
    """Each test starts with no VIGIL_* variable and a scratch directory."""

    def setUp(self):
        self._saved_env = {k: os.environ.get(k) for k in VIGIL_VARS}
        for k in VIGIL_VARS:
            os.environ.pop(k, None)
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._tmp.cleanup()

    def run_script(self, code, env=None, timeout=30):
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["PYTHONPATH"] = EXAMPLES
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              universal_newlines=True)


class AtomicSaveTest(EnvTestCase):
    def test_file_appears_whole_and_no_temp_is_left(self):
        path = os.path.join(self.dir, "model_ep1.pt")
        seen = {}

        def write(tmp):
            seen["tmp"] = tmp
            self.assertFalse(os.path.exists(path), "the final name exists before the rename")
            with open(tmp, "wb") as f:
                f.write(b"x" * 1000)

        self.assertEqual(vigil.atomic_save(path, write), path)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"x" * 1000)
        self.assertEqual(os.listdir(self.dir), ["model_ep1.pt"])
        tmp_name = os.path.basename(seen["tmp"])
        self.assertTrue(tmp_name.startswith(".") and tmp_name.endswith(".tmp"), tmp_name)
        self.assertEqual(os.path.dirname(seen["tmp"]), self.dir)

    def test_replacing_a_file_keeps_the_old_content_until_the_rename(self):
        path = os.path.join(self.dir, "latest.json")
        with open(path, "w") as f:
            f.write("old")

        def write(tmp):
            with open(tmp, "w") as f:
                f.write("ne")
                f.flush()
                with open(path) as g:
                    self.assertEqual(g.read(), "old")
                f.write("w")

        vigil.atomic_save(path, write)
        with open(path) as f:
            self.assertEqual(f.read(), "new")
        self.assertEqual(os.listdir(self.dir), ["latest.json"])

    def test_a_reader_never_sees_a_half_written_file(self):
        path = os.path.join(self.dir, "ckpt.bin")
        old, new = b"A" * 50000, b"B" * 50000
        with open(path, "wb") as f:
            f.write(old)
        seen, done = set(), threading.Event()

        def reader():
            while not done.is_set():
                with open(path, "rb") as f:
                    seen.add(f.read())

        thread = threading.Thread(target=reader)
        thread.start()

        def write(tmp):
            with open(tmp, "wb") as f:
                for i in range(0, len(new), 1000):
                    f.write(new[i:i + 1000])
                    f.flush()
                    time.sleep(0.001)

        try:
            vigil.atomic_save(path, write)
            time.sleep(0.02)
        finally:
            done.set()
            thread.join()
        self.assertTrue(seen <= {old, new}, "a reader saw %d distinct contents" % len(seen))

    def test_a_failed_write_leaves_the_old_file_and_no_temp(self):
        path = os.path.join(self.dir, "model.pt")
        with open(path, "w") as f:
            f.write("old")

        def write(tmp):
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("disk on fire")

        with self.assertRaises(RuntimeError):
            vigil.atomic_save(path, write)
        with open(path) as f:
            self.assertEqual(f.read(), "old")
        self.assertEqual(os.listdir(self.dir), ["model.pt"])

    def test_directory_checkpoint(self):
        path = os.path.join(self.dir, "checkpoint-100")

        def write(tmp):
            self.assertTrue(os.path.isdir(tmp))
            self.assertFalse(os.path.exists(path))
            for name in ("model.safetensors", "trainer_state.json"):
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(name)

        vigil.atomic_save(path, write, directory=True)
        self.assertEqual(sorted(os.listdir(path)), ["model.safetensors", "trainer_state.json"])
        self.assertEqual(os.listdir(self.dir), ["checkpoint-100"])

    def test_writer_that_creates_the_directory_itself(self):
        path = os.path.join(self.dir, "sub", "ckpt_dir")

        def write(tmp):
            os.makedirs(os.path.join(tmp, "inner"))
            with open(os.path.join(tmp, "inner", "w.bin"), "wb") as f:
                f.write(b"1")

        vigil.atomic_save(path, write)
        self.assertTrue(os.path.isfile(os.path.join(path, "inner", "w.bin")))
        self.assertEqual(os.listdir(os.path.dirname(path)), ["ckpt_dir"])

    def test_replacing_a_directory(self):
        path = os.path.join(self.dir, "best")
        os.mkdir(path)
        with open(os.path.join(path, "old.bin"), "w") as f:
            f.write("old")

        def write(tmp):
            self.assertTrue(os.path.isfile(os.path.join(path, "old.bin")), "the old one is gone too early")
            with open(os.path.join(tmp, "new.bin"), "w") as f:
                f.write("new")

        vigil.atomic_save(path, write, directory=True)
        self.assertEqual(os.listdir(path), ["new.bin"])
        self.assertEqual(os.listdir(self.dir), ["best"])

    def test_failed_directory_write_leaves_nothing(self):
        path = os.path.join(self.dir, "checkpoint-7")

        def write(tmp):
            with open(os.path.join(tmp, "part"), "w") as f:
                f.write("x")
            raise OSError("no space left on device")

        with self.assertRaises(OSError):
            vigil.atomic_save(path, write, directory=True)
        self.assertEqual(os.listdir(self.dir), [])

    def test_writer_that_appends_an_extension(self):
        path = os.path.join(self.dir, "weights.npy")

        def write(tmp):  # numpy.save(tmp, a) writes tmp + ".npy"
            with open(tmp + ".npy", "wb") as f:
                f.write(b"npy")

        vigil.atomic_save(path, write)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"npy")
        self.assertEqual(os.listdir(self.dir), ["weights.npy"])

    def test_writer_that_writes_nothing(self):
        path = os.path.join(self.dir, "rank1.ckpt")
        self.assertIsNone(vigil.atomic_save(path, lambda tmp: None))
        self.assertIsNone(vigil.atomic_save(path, lambda tmp: None, directory=True))
        self.assertEqual(os.listdir(self.dir), [])


class SignalTest(EnvTestCase):
    def tearDown(self):
        vigil.uninstall()
        vigil.clear_checkpoint_request()
        vigil._flags["stop"] = False
        super().tearDown()

    def wait_for(self, predicate, timeout=5.0):
        end = time.monotonic() + timeout
        while not predicate() and time.monotonic() < end:
            time.sleep(0.01)
        return predicate()

    def test_checkpoint_flag_after_sigusr1(self):
        os.environ["VIGIL_CHECKPOINT_SIGNAL"] = "USR1"
        self.assertEqual(vigil.install(), signal.SIGUSR1)
        self.assertFalse(vigil.checkpoint_requested())
        os.kill(os.getpid(), signal.SIGUSR1)
        self.assertTrue(self.wait_for(vigil.checkpoint_requested))
        self.assertTrue(vigil.checkpoint_requested(), "the flag stays until it is cleared")
        vigil.clear_checkpoint_request()
        self.assertFalse(vigil.checkpoint_requested())
        self.assertFalse(vigil.stop_requested())

    def test_default_is_usr1_and_install_is_idempotent(self):
        self.assertEqual(vigil.install(), signal.SIGUSR1)
        self.assertEqual(vigil.install(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        self.assertTrue(self.wait_for(vigil.checkpoint_requested))
        vigil.uninstall()
        self.assertIs(signal.getsignal(signal.SIGUSR1), signal.SIG_DFL)

    def test_other_signal_names(self):
        for name in ("SIGUSR2", "usr2", str(int(signal.SIGUSR2))):
            os.environ["VIGIL_CHECKPOINT_SIGNAL"] = name
            self.assertEqual(vigil.checkpoint_signal(), signal.SIGUSR2, name)

    def test_empty_signal_means_none(self):
        os.environ["VIGIL_CHECKPOINT_SIGNAL"] = ""
        before = signal.getsignal(signal.SIGUSR1)
        self.assertIsNone(vigil.install())
        self.assertIs(signal.getsignal(signal.SIGUSR1), before)

    def test_previous_handler_still_runs(self):
        calls = []
        signal.signal(signal.SIGUSR1, lambda signum, frame: calls.append(signum))
        try:
            vigil.install()
            os.kill(os.getpid(), signal.SIGUSR1)
            self.assertTrue(self.wait_for(lambda: calls))
            self.assertTrue(vigil.checkpoint_requested())
        finally:
            vigil.uninstall()
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)

    def test_sigterm_sets_the_flag_and_a_second_one_kills(self):
        result = self.run_script("""
            import os, signal, sys, time
            import vigil_trainer as vigil
            vigil.install()
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(500):
                if vigil.stop_requested():
                    break
                time.sleep(0.01)
            print("stop_requested", vigil.stop_requested(), flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            print("still alive", flush=True)
        """)
        self.assertEqual(result.stdout.strip(), "stop_requested True")
        self.assertEqual(result.returncode, -signal.SIGTERM, result.stderr)

    def test_exit_if_stopped(self):
        result = self.run_script("""
            import os, signal, time
            import vigil_trainer as vigil
            vigil.install()
            vigil.exit_if_stopped()
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
            vigil.exit_if_stopped()
            print("not reached")
        """)
        self.assertEqual(result.returncode, vigil.STOPPED_EXIT_CODE)
        self.assertNotIn("not reached", result.stdout)


class OverridesTest(EnvTestCase):
    EXAMPLE = {
        "config": "/abs/path/config.yaml",
        "set": {"training.lr": 0.00015, "training.batch_size": 16, "env:FOO": "1", "arg:--batch-size": "16"},
        "roles": {"learningRate": 0.00015, "batchSize": 16, "gradientAccumulation": 4},
    }

    def test_full(self):
        os.environ["VIGIL_OVERRIDES"] = json.dumps(self.EXAMPLE)
        o = vigil.overrides()
        self.assertTrue(o)
        self.assertEqual(o.config, "/abs/path/config.yaml")
        self.assertEqual(o.role("learningRate"), 0.00015)
        self.assertEqual(o.learning_rate, 0.00015)
        self.assertEqual(o.batch_size, 16)
        self.assertEqual(o.gradient_accumulation, 4)
        self.assertIsNone(o.workers)
        self.assertEqual(o.role("workers", 2), 2)
        self.assertEqual(o.get("training.batch_size"), 16)
        self.assertEqual(o.get("env:FOO"), "1")
        self.assertEqual(o.get("arg:--batch-size"), "16")
        self.assertIsNone(o.get("training.epochs"))
        self.assertEqual(o.get("training.epochs", 3), 3)

    def test_values_of_arg_and_env_keys_are_strings(self):
        # What Vigil passes for a role backed by arg:--lr: the argument's text.
        os.environ["VIGIL_OVERRIDES"] = json.dumps({
            "config": None, "set": {"arg:--lr": "0.005", "arg:--bs": "16"},
            "roles": {"learningRate": "0.005", "batchSize": "16", "workers": "many"}})
        o = vigil.overrides()
        self.assertEqual(o.role("learningRate"), "0.005")
        self.assertEqual(o.learning_rate, 0.005)
        self.assertIsInstance(o.learning_rate, float)
        self.assertEqual(o.batch_size, 16)
        self.assertIsInstance(o.batch_size, int)
        self.assertIsNone(o.workers)
        self.assertEqual(o.number("learningRate"), 0.005)
        self.assertEqual(o.number("batchSize"), 16)
        self.assertEqual(o.number("workers", 4), 4)
        self.assertEqual(o.get("arg:--lr"), "0.005")
        opt = FakeOptimizer(0.01)
        self.assertEqual(vigil.apply_to_optimizer(opt), 0.005)
        self.assertEqual(opt.param_groups[0]["lr"], 0.005)

    def test_absent_and_empty(self):
        for value in (None, "", "{}", "  ", '{"config": null, "set": {}, "roles": {}}'):
            if value is None:
                os.environ.pop("VIGIL_OVERRIDES", None)
            else:
                os.environ["VIGIL_OVERRIDES"] = value
            o = vigil.overrides()
            self.assertFalse(o, value)
            self.assertIsNone(o.config)
            self.assertIsNone(o.learning_rate)
            self.assertEqual(o.set, {})

    def test_malformed_is_empty(self):
        for value in ("{not json", "[1, 2]", '{"set": [1], "roles": "x"}'):
            os.environ["VIGIL_OVERRIDES"] = value
            stderr, sys.stderr = sys.stderr, open(os.devnull, "w")
            try:
                o = vigil.overrides()
            finally:
                sys.stderr.close()
                sys.stderr = stderr
            self.assertFalse(o, value)


class FakeOptimizer(object):
    def __init__(self, *lrs, **extra):
        self.param_groups = [dict(params=[], lr=lr, **extra) for lr in lrs]


class FakeScheduler(object):
    def __init__(self, optimizer):
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self._last_lr = [g["lr"] for g in optimizer.param_groups]


class ApplyToOptimizerTest(EnvTestCase):
    def test_no_override_changes_nothing(self):
        opt = FakeOptimizer(0.1)
        self.assertIsNone(vigil.apply_to_optimizer(opt))
        self.assertEqual(opt.param_groups[0]["lr"], 0.1)

    def test_single_group_from_the_environment(self):
        os.environ["VIGIL_OVERRIDES"] = json.dumps({"roles": {"learningRate": 0.00015}})
        opt = FakeOptimizer(0.0003)
        self.assertEqual(vigil.apply_to_optimizer(opt), 0.00015)
        self.assertEqual(opt.param_groups[0]["lr"], 0.00015)

    def test_scheduler_base_lrs_and_initial_lr(self):
        opt = FakeOptimizer(0.001)
        sched = FakeScheduler(opt)
        vigil.apply_to_optimizer(opt, sched, lr=0.0005)
        self.assertEqual(opt.param_groups[0]["lr"], 0.0005)
        self.assertEqual(opt.param_groups[0]["initial_lr"], 0.0005)
        self.assertEqual(sched.base_lrs, [0.0005])
        self.assertEqual(sched._last_lr, [0.0005])

    def test_mid_schedule_keeps_its_place(self):
        # Restored from a checkpoint: base 1e-3, the schedule has decayed it to 4e-4.
        opt = FakeOptimizer(0.001)
        sched = FakeScheduler(opt)
        opt.param_groups[0]["lr"] = 0.0004
        vigil.apply_to_optimizer(opt, sched, lr=0.0005)
        self.assertAlmostEqual(opt.param_groups[0]["lr"], 0.0002)
        self.assertAlmostEqual(opt.param_groups[0]["initial_lr"], 0.0005)
        self.assertAlmostEqual(sched.base_lrs[0], 0.0005)

    def test_groups_keep_their_ratios(self):
        opt = FakeOptimizer(0.01, 0.001)  # a head at 10x the backbone's rate
        sched = FakeScheduler(opt)
        vigil.apply_to_optimizer(opt, [sched], lr=0.005)
        self.assertAlmostEqual(opt.param_groups[0]["lr"], 0.005)
        self.assertAlmostEqual(opt.param_groups[1]["lr"], 0.0005)
        self.assertAlmostEqual(sched.base_lrs[1], 0.0005)

    def test_zero_lr_is_set_outright(self):
        opt = FakeOptimizer(0.0)
        vigil.apply_to_optimizer(opt, lr=0.1)
        self.assertEqual(opt.param_groups[0]["lr"], 0.1)

    def test_not_an_optimizer(self):
        with self.assertRaises(TypeError):
            vigil.apply_to_optimizer(object(), lr=0.1)


class OutOfMemoryError(RuntimeError):
    pass


OutOfMemoryError.__module__ = "torch.cuda"


class Outer(object):
    class Inner(Exception):
        pass


Outer.Inner.__module__ = "mylib.errors"


class ErrorFileTest(EnvTestCase):
    def raise_and_write(self, exc):
        path = os.path.join(self.dir, "attempt-001.error.json")
        os.environ["VIGIL_ERROR_FILE"] = path
        try:
            raise exc
        except BaseException:
            self.assertEqual(vigil.write_error(), path)
        self.assertEqual(os.listdir(self.dir), ["attempt-001.error.json"])
        with open(path) as f:
            return json.load(f)

    def test_builtin_exception(self):
        data = self.raise_and_write(ValueError("bad value 3"))
        self.assertEqual(sorted(data), ["message", "traceback", "type"])
        self.assertEqual(data["type"], "ValueError")
        self.assertEqual(data["message"], "bad value 3")
        self.assertIn("Traceback (most recent call last):", data["traceback"])
        self.assertIn("raise_and_write", data["traceback"])
        self.assertTrue(data["traceback"].rstrip().endswith("ValueError: bad value 3"))

    def test_dotted_and_nested_names(self):
        self.assertEqual(self.raise_and_write(OutOfMemoryError("CUDA out of memory"))["type"],
                         "torch.cuda.OutOfMemoryError")
        self.assertEqual(self.raise_and_write(Outer.Inner("x"))["type"], "mylib.errors.Outer.Inner")

    def test_chained_exception(self):
        try:
            try:
                {}["missing"]
            except KeyError as e:
                raise RuntimeError("wrapped") from e
        except RuntimeError as e:
            exc = e
        data = self.raise_and_write(exc)
        self.assertEqual(data["type"], "RuntimeError")
        self.assertIn("KeyError: 'missing'", data["traceback"])
        self.assertIn("direct cause", data["traceback"])

    def test_without_the_variable(self):
        try:
            raise ValueError("x")
        except ValueError as e:
            self.assertIsNone(vigil.write_error(e))

    def test_excepthook_writes_then_defers(self):
        path = os.path.join(self.dir, "error.json")
        result = self.run_script("""
            import vigil_trainer as vigil
            vigil.install_excepthook()
            vigil.install_excepthook()
            def load_batch():
                raise KeyError("labels")
            load_batch()
        """, env={"VIGIL_ERROR_FILE": path})
        self.assertEqual(result.returncode, 1)
        self.assertIn("KeyError: 'labels'", result.stderr)  # the previous hook still printed it
        self.assertEqual(result.stderr.count("Traceback (most recent call last)"), 1)
        with open(path) as f:
            data = json.load(f)
        self.assertEqual(data["type"], "KeyError")
        self.assertEqual(data["message"], "'labels'")
        self.assertIn("load_batch", data["traceback"])

    def test_sys_exit_writes_nothing(self):
        path = os.path.join(self.dir, "error.json")
        result = self.run_script("""
            import sys, vigil_trainer as vigil
            vigil.install()
            sys.exit(3)
        """, env={"VIGIL_ERROR_FILE": path})
        self.assertEqual(result.returncode, 3)
        self.assertFalse(os.path.exists(path))


class HeartbeatTest(EnvTestCase):
    def setUp(self):
        super().setUp()
        vigil._heartbeat_state["last"] = None

    def test_touches_the_file_at_most_once_a_second(self):
        path = os.path.join(self.dir, "heartbeat")
        with open(path, "w"):
            pass
        os.utime(path, (1000, 1000))
        os.environ["VIGIL_HEARTBEAT_FILE"] = path
        self.assertTrue(vigil.heartbeat())
        first = os.stat(path).st_mtime
        self.assertGreater(first, time.time() - 60)
        os.utime(path, (1000, 1000))
        self.assertFalse(vigil.heartbeat(), "a second beat within a second")
        self.assertEqual(os.stat(path).st_mtime, 1000)
        self.assertTrue(vigil.heartbeat(force=True))
        self.assertGreater(os.stat(path).st_mtime, 1000)

    def test_creates_a_missing_file(self):
        path = os.path.join(self.dir, "beat")
        os.environ["VIGIL_HEARTBEAT_FILE"] = path
        self.assertTrue(vigil.heartbeat())
        self.assertTrue(os.path.isfile(path))

    def test_without_the_variable(self):
        self.assertFalse(vigil.heartbeat())
        self.assertEqual(os.listdir(self.dir), [])

    def test_log_progress_beats_and_prints(self):
        path = os.path.join(self.dir, "beat")
        os.environ["VIGIL_HEARTBEAT_FILE"] = path
        result = self.run_script("""
            import vigil_trainer as vigil
            vigil.log_progress(3, 10, loss=float("nan"), lr=1e-4, epoch=1)
            vigil.log_progress(4, loss=0.5)
        """, env={"VIGIL_HEARTBEAT_FILE": path})
        self.assertEqual(result.stdout, "step 3/10 loss=nan lr=0.0001 epoch=1\nstep 4 loss=0.5\n")
        self.assertTrue(os.path.isfile(path))


class LatestCheckpointTest(EnvTestCase):
    def test_highest_step_and_no_temporaries(self):
        for name in ("model_step2.pt", "model_step10.pt", ".model_step99.pt.12-ab.tmp", "model_step11.pt.tmp",
                     "model_step12.pt.partial", "notes.txt"):
            with open(os.path.join(self.dir, name), "w"):
                pass
        os.mkdir(os.path.join(self.dir, "epoch=3-step=40.ckpt"))
        self.assertEqual(vigil.latest_checkpoint(self.dir, "model_step{step}.pt"),
                         os.path.join(self.dir, "model_step10.pt"))
        self.assertEqual(vigil.latest_checkpoint(self.dir, "epoch=*-step={step}.ckpt"),
                         os.path.join(self.dir, "epoch=3-step=40.ckpt"))
        self.assertIsNone(vigil.latest_checkpoint(self.dir, "rl_model_{step}_steps.zip"))
        self.assertIsNone(vigil.latest_checkpoint(os.path.join(self.dir, "missing"), "x{step}"))
        os.environ["VIGIL_CHECKPOINT_DIR"] = self.dir
        self.assertEqual(vigil.latest_checkpoint(pattern="model_step{step}.pt"),
                         os.path.join(self.dir, "model_step10.pt"))


class RunInfoTest(EnvTestCase):
    def test_values(self):
        self.assertIsNone(vigil.resume_from())
        self.assertFalse(vigil.under_vigil())
        self.assertIsNone(vigil.deadline())
        self.assertEqual(vigil.checkpoint_dir(), "checkpoints")
        os.environ.update(VIGIL_RESUME_FROM="/ck/model_ep3.pt", VIGIL_RUN_ID="r1", VIGIL_ATTEMPT="2",
                          VIGIL_DEADLINE=str(int(time.time()) + 100), VIGIL_CHECKPOINT_DIR="/ck")
        self.assertEqual(vigil.resume_from(), "/ck/model_ep3.pt")
        self.assertTrue(vigil.under_vigil())
        self.assertEqual(vigil.attempt(), 2)
        self.assertEqual(vigil.checkpoint_dir(), "/ck")
        self.assertTrue(90 < vigil.seconds_left() <= 100)
        os.environ["VIGIL_RESUME_FROM"] = ""
        self.assertIsNone(vigil.resume_from())

    def test_integrations_are_lazy(self):
        result = self.run_script("""
            import sys, vigil_trainer
            print(sorted(m for m in ("torch", "lightning", "transformers", "stable_baselines3") if m in sys.modules))
            try:
                vigil_trainer.NoSuchThing
            except AttributeError:
                print("AttributeError")
        """)
        self.assertEqual(result.stdout, "[]\nAttributeError\n", result.stderr)


if __name__ == "__main__":
    unittest.main()
