#!/usr/bin/env python3
"""A configurable fake trainer for Vigil's integration tests (standard library only).

It "trains" step by step, deterministically and fast, and can be told to fail in every
way a real trainer fails: exceptions with real tracebacks (also dotted names such as
torch.cuda.OutOfMemoryError, also chained), plain exit codes, death by signal, hangs,
NaN losses, floods of output, stray grandchildren. It speaks the trainer protocol of
DESIGN.md section 4 (VIGIL_CHECKPOINT_DIR, VIGIL_CHECKPOINT_SIGNAL, VIGIL_ERROR_FILE,
VIGIL_RESUME_FROM with --resume-from-env).

Order of events in step i (1-based):
  sleep --step-time -> print "step i/N loss=..." (+ --stderr-lines) -> step i counts as
  done -> --crash-at check -> --hang-at check -> periodic checkpoint.
So a crash at step i loses step i (the resumed run replays it), while a checkpoint
asked for by signal during a hang at step i saves step i (the resumed run goes past
the hang).

Exit codes: 0 done (also after --flood), 2 usage error (argparse), 3 --resume PATH
does not exist, 1 uncaught exception, C for --exit-code C, -SIG for --signal-self.
Run with --help for the flags.
"""

import argparse
import atexit
import builtins
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

WORKER_CODE = "import time\nwhile True: time.sleep(1)"
WORKER_CODE_IGNORING_TERM = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(1)"
)


def out(line):
    # One write per line (print() writes the text and the newline separately), so a
    # signal handler's raw_out() can only land between whole lines. An orphan whose
    # supervisor died has nobody reading its output: it goes on without printing.
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass


def err(line):
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass


def raw_out(text):
    """Write from a signal handler: os.write bypasses sys.stdout's buffer, whose
    reentrancy check would raise if the handler interrupted a print."""
    try:
        os.write(1, text.encode())
    except OSError:
        pass


def log_signal(path, name):
    """Append the signal's name to --signal-log (what the trainer really received)."""
    if path:
        with open(path, "a") as f:
            f.write(name + "\n")


def loss_at(step):
    return 2.5 * 0.85 ** step + 0.05


def signal_number(name, parser):
    """'KILL', 'SIGKILL', 'kill' or '9' -> signal number."""
    try:
        if name.isdigit():
            return signal.Signals(int(name))
        upper = name.upper()
        return signal.Signals[upper if upper.startswith("SIG") else "SIG" + upper]
    except (KeyError, ValueError):
        parser.error(f"unknown signal: {name}")


def resolve_exception(name, message, parser):
    """A builtin exception class by name, or a made-up class whose traceback line reads
    exactly `name: message` (for dotted names such as torch.cuda.OutOfMemoryError)."""
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        module, _, qualname = name.rpartition(".")
        if not qualname.isidentifier():
            parser.error(f"not an exception name: {name}")
        # traceback prints `module.qualname` unless the module is __main__ or builtins.
        base = RuntimeError if module else Exception
        cls = type(qualname, (base,), {"__module__": module or "__main__", "__qualname__": qualname})
    try:
        cls(message)
    except TypeError:
        parser.error(f"{name} cannot be built from a single message argument")
    return cls


def parse_args(argv):
    # Checked by hand before the parser exists, so that with --reject-resume the parser
    # has never heard of --resume and rejects it in argparse's own words.
    reject_resume = "--reject-resume" in argv
    # allow_abbrev=False: otherwise argparse would take --resume as an abbreviation of
    # --resume-from-env when --resume is rejected, and --step as one of --steps.
    p = argparse.ArgumentParser(description="Fake trainer for Vigil's tests.", allow_abbrev=False)
    p.add_argument("--steps", type=int, default=5, help="total steps (default 5)")
    p.add_argument("--step-time", type=float, default=0.0, metavar="SECONDS", help="sleep per step")
    p.add_argument("--stderr-lines", type=int, default=0, metavar="N", help="lines to stderr per step")
    p.add_argument("--nan-at", type=int, metavar="STEP", help="print loss=nan from this step on")
    p.add_argument("--config", metavar="FILE", help="read a config (.json, .yaml, .toml, .ini, .env) and print it")
    p.add_argument("--fail-while", metavar="KEY>N", help="raise MemoryError while the config's KEY > N (or KEY<N)")
    p.add_argument("--fail-as", action="store_true",
                   help="--fail-while and --fail-while-arg raise --exception with --message instead of MemoryError")
    p.add_argument("--batch-size", type=int, help="an argument a repair may change; printed")
    p.add_argument("--fail-while-arg", metavar="N", type=int, help="raise MemoryError while --batch-size > N")
    p.add_argument("--show-env", action="append", default=[], metavar="NAME", help="print env NAME=value")
    p.add_argument("--say", action="append", default=[], metavar="TEXT", help="print TEXT as a line at start")
    p.add_argument("--say-file", metavar="PATH", help="print the lines of PATH at start (to stdout and stderr)")
    p.add_argument("--nan-times", type=int, metavar="K", help="only in the first K runs (needs --state-file)")

    g = p.add_argument_group("checkpoints and resume")
    g.add_argument("--checkpoint-dir", default=os.environ.get("VIGIL_CHECKPOINT_DIR") or None, metavar="DIR",
                   help="default: $VIGIL_CHECKPOINT_DIR; no checkpoints when neither is set")
    g.add_argument("--checkpoint-every", type=int, default=1, metavar="K", help="0 = only on signal")
    g.add_argument("--periodic-saves", type=int, metavar="N", help="at most N periodic checkpoints in this process")
    g.add_argument("--checkpoint-pattern", default="ckpt_step{step}.json", help="file name with {step}")
    g.add_argument("--checkpoint-signal", default=os.environ.get("VIGIL_CHECKPOINT_SIGNAL") or "USR1",
                   metavar="SIG", help="default: $VIGIL_CHECKPOINT_SIGNAL, else USR1")
    g.add_argument("--usr1", choices=["checkpoint", "ignore", "default"], default="checkpoint",
                   help="what the checkpoint signal does (default: checkpoint now and continue)")
    if not reject_resume:
        g.add_argument("--resume", nargs="?", const="auto", metavar="PATH",
                       help="resume from PATH, or from the latest checkpoint when PATH is absent or 'auto'")
    g.add_argument("--resume-from-env", action="store_true",
                   help="resume from $VIGIL_RESUME_FROM when set and --resume is not given")
    g.add_argument("--reject-resume", action="store_true", help="do not accept --resume at all")
    g.add_argument("--die-writing-at", type=int, metavar="STEP",
                   help="write this step's checkpoint in place, half of it, then SIGKILL itself")
    g.add_argument("--die-writing-times", type=int, metavar="K", help="only the first K times (needs --state-file)")
    g.add_argument("--delete-previous", action="store_true",
                   help="after each periodic checkpoint, delete the previous one (and its sidecar)")
    g.add_argument("--crash-after-checkpoint", action="store_true",
                   help="exit 1 right after every periodic checkpoint but the last step's")
    g.add_argument("--metadata", action="store_true",
                   help="write a sidecar {stem}.meta.json with step, loss and total_profit after each checkpoint")
    g.add_argument("--save-mode", choices=["atomic", "in-place"], default="atomic",
                   help="atomic: temp file + os.replace (default); in-place: write the final name directly")
    g.add_argument("--save-time", type=float, default=0.0, metavar="SECONDS",
                   help="every save (periodic or on the signal) takes this long: its file is written in ten pieces")
    g.add_argument("--checkpoint-delay", type=float, default=0.0, metavar="SECONDS",
                   help="on the checkpoint signal, wait this long before saving")
    g.add_argument("--finish-on-checkpoint-signal", action="store_true",
                   help="after saving on the checkpoint signal, finish the current step and exit 0")
    g.add_argument("--handler-delay", type=float, default=0.0, metavar="SECONDS",
                   help="install the checkpoint-signal handler only this long after start")

    g = p.add_argument_group("learning rate, divergence, optimizer state")
    g.add_argument("--lr", type=float, default=0.01, help="the learning rate (default 0.01; --config's --lr-key wins)")
    g.add_argument("--lr-key", default="lr", metavar="KEY", help="the config's learning-rate key, dotted (default lr)")
    g.add_argument("--climb-at", type=int, metavar="STEP",
                   help="from STEP the loss grows x--climb-factor per step while lr > --stable-lr; after 1e4: nan")
    g.add_argument("--climb-factor", type=float, default=5.0, metavar="F")
    g.add_argument("--stable-lr", type=float, default=0.0, metavar="LR", help="no climb at this lr or below")
    g.add_argument("--restore-optimizer", action="store_true",
                   help="on resume, the lr comes from the checkpoint (optimizer state), not from the config")
    g.add_argument("--apply-overrides", action="store_true",
                   help="after restoring, apply VIGIL_OVERRIDES' learning rate (examples/vigil_trainer.py)")
    g.add_argument("--layout", choices=["file", "directory"], default="file",
                   help="directory: checkpoint dirs as HF Trainer writes them (model.safetensors, optimizer.bin, "
                        "trainer_state.json), staged under tmp-NAME and renamed")
    g.add_argument("--tear-at", type=int, metavar="STEP",
                   help="--layout directory: write checkpoint STEP in place with --tear-file cut short, then SIGKILL")
    g.add_argument("--tear-file", default="model.safetensors", metavar="NAME")
    g.add_argument("--tear-times", type=int, metavar="K", help="only the first K times (needs --state-file)")

    g = p.add_argument_group("failures")
    g.add_argument("--crash-at", type=int, metavar="STEP", help="fail at this step (after printing it)")
    g.add_argument("--exception", default="RuntimeError", metavar="NAME",
                   help="exception to raise: builtin or dotted (torch.cuda.OutOfMemoryError)")
    g.add_argument("--message", metavar="TEXT", help="default: 'simulated failure at step S'")
    g.add_argument("--message-env", metavar="NAME", help="the message is the value of environment variable NAME")
    g.add_argument("--chained", action="store_true", help="raise it from a KeyError")
    how = g.add_mutually_exclusive_group()
    how.add_argument("--exit-code", type=int, metavar="C", help="sys.exit(C) instead of raising")
    how.add_argument("--signal-self", metavar="SIG", help="kill itself with SIG instead of raising")
    g.add_argument("--crash-times", type=int, metavar="K", help="crash only the first K times (needs --state-file)")
    g.add_argument("--hang-at", type=int, metavar="STEP", help="print 'hanging' at this step and block")
    g.add_argument("--pool-hang-at", type=int, metavar="STEP",
                   help="at this step, hang in multiprocessing.Pool.map whose worker died (a real hang)")
    g.add_argument("--hang-times", type=int, metavar="K", help="hang only the first K times (needs --state-file)")
    g.add_argument("--state-file", metavar="PATH", help="JSON counters for --crash-times/--hang-times")
    g.add_argument("--error-file", action="store_true", help="write $VIGIL_ERROR_FILE before failing")

    g = p.add_argument_group("signals")
    term = g.add_mutually_exclusive_group()
    term.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM")
    term.add_argument("--on-term-exit", type=int, metavar="CODE", help="on SIGTERM print 'got SIGTERM', exit CODE")
    term.add_argument("--on-term-die", action="store_true",
                      help="on SIGTERM print 'got SIGTERM', then die of SIGTERM (default action)")
    g.add_argument("--checkpoint-on-term", action="store_true",
                   help="with --on-term-exit or --on-term-die: checkpoint first")
    g.add_argument("--signal-log", metavar="PATH", help="append the name of every signal handled to PATH")
    g.add_argument("--print-signals", action="store_true", help="print the inherited signal mask and ignores")

    g = p.add_argument_group("processes and output")
    g.add_argument("--workers", type=int, default=0, metavar="K", help="spawn K grandchildren that live on")
    g.add_argument("--workers-ignore-term", action="store_true", help="the workers ignore SIGTERM")
    g.add_argument("--background-grandchild", type=float, metavar="SECONDS",
                   help="spawn `sleep SECONDS` sharing stdout/stderr, never waited for")
    g.add_argument("--setsid-child", action="store_true",
                   help="spawn a child in its own session (escapes the process group), never waited for")
    g.add_argument("--daemon", action="store_true",
                   help="double-fork a daemon (setsid in between) that sleeps forever")
    g.add_argument("--escapee-file", metavar="PATH",
                   help="print 'escapees alive: N' for the pids listed there, then add this run's escapees")
    g.add_argument("--pid-file", metavar="PATH", help="own pid, then workers', then the grandchild's")
    g.add_argument("--flood", type=int, metavar="BYTES", help="write BYTES bytes of lines, then exit 0")
    g.add_argument("--flood-then-train", action="store_true", help="with --flood: then train as usual")
    g.add_argument("--final-text", metavar="TEXT", help="written without newline on every non-signal exit")
    g.add_argument("--binary-junk", action="store_true", help="print invalid UTF-8 and NUL bytes at start")
    g.add_argument("--print-env", action="store_true", help="print VIGIL_* variables and argv as JSON")

    args = p.parse_args(argv)
    if not hasattr(args, "resume"):
        args.resume = None
    if args.crash_at is None and (args.exit_code is not None or args.signal_self or args.chained
                                  or args.crash_times is not None):
        p.error("--exit-code, --signal-self, --chained and --crash-times need --crash-at")
    if (args.crash_times is not None or args.hang_times is not None) and not args.state_file:
        p.error("--crash-times and --hang-times need --state-file")
    if args.checkpoint_on_term and args.on_term_exit is None and not args.on_term_die:
        p.error("--checkpoint-on-term needs --on-term-exit or --on-term-die")
    if "{step}" not in args.checkpoint_pattern:
        p.error("--checkpoint-pattern must contain {step}")
    args.checkpoint_signum = signal_number(args.checkpoint_signal, p)
    if args.signal_self:
        args.signal_self = signal_number(args.signal_self, p)
    if args.message_env:
        args.message = os.environ.get(args.message_env, "")
    if args.crash_at is not None or args.fail_as:
        args.message = args.message or f"simulated failure at step {args.crash_at}"
        args.exception_class = resolve_exception(args.exception, args.message, p)
    return args


# ---------------------------------------------------------------- files

def write_slowly(f, text, seconds):
    """Write `text` to `f` in ten pieces spread over `seconds` (a large model's save), each flushed."""
    if seconds <= 0:
        f.write(text)
        return
    pieces = 10
    size = max(1, -(-len(text) // pieces))
    for i in range(pieces):
        f.write(text[i * size:(i + 1) * size] or " ")
        f.flush()
        time.sleep(seconds / pieces)


def write_atomic(path, text, seconds=0.0):
    """Write temp file in the same directory -> fsync -> rename -> fsync the directory.
    The temp name starts with '.' and ends in '.tmp', so it never matches a pattern.
    With `seconds`, the temp file is written slowly over that long (see write_slowly)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # mkstemp: a unique name, so a checkpoint written from a signal handler cannot
    # clobber one being written by the main loop at that moment.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        write_slowly(f, text, seconds)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def safetensors_bytes(step):
    """A small, valid safetensors file: 8-byte header length, JSON header, 16 bytes of F32 data."""
    header = json.dumps({"__metadata__": {"step": str(step)},
                         "w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    return len(header).to_bytes(8, "little") + header + bytes(16)


OPTIMIZER_MAGIC = b"OPTSTATE"


def save_directory(path, state, staged, tear=None):
    """A checkpoint directory as HF Trainer writes it. Staged: into tmp-NAME, fsynced, renamed to
    NAME. With `tear`: in place, that file cut short (a node killed mid-save)."""
    parent, name = os.path.split(path)
    target = os.path.join(parent, "tmp-" + name) if staged else path
    os.makedirs(target, exist_ok=True)
    files = {
        "model.safetensors": safetensors_bytes(state["step"]),
        "optimizer.bin": OPTIMIZER_MAGIC + json.dumps({"lr": state["lr"]}).encode().ljust(56),
        "trainer_state.json": (json.dumps({"global_step": state["step"], "log_history": [{"loss": state["loss"]}],
                                           "lr": state["lr"]}) + "\n").encode(),
    }
    for file, data in files.items():
        if file == tear:
            data = data[: len(data) // 2]
        with open(os.path.join(target, file), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    if staged:
        os.replace(target, path)
    dfd = os.open(parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class SafetensorError(Exception):
    """Named as safetensors' own (safetensors_rust.SafetensorError)."""


def load_directory(path):
    """Loads what save_directory wrote, failing as the real loaders do on a torn file."""
    with open(os.path.join(path, "model.safetensors"), "rb") as f:
        data = f.read()
    length = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    if len(data) < 8 + length:
        raise SafetensorError("Error while deserializing header: MetadataIncompleteBuffer")
    header = json.loads(data[8:8 + length])
    if len(data) - 8 - length < header["w"]["data_offsets"][1]:
        raise SafetensorError("Error while deserializing header: MetadataIncompleteBuffer")
    with open(os.path.join(path, "optimizer.bin"), "rb") as f:
        optimizer = f.read()
    if not optimizer.startswith(OPTIMIZER_MAGIC) or len(optimizer) < len(OPTIMIZER_MAGIC) + 56:
        raise RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory")
    with open(os.path.join(path, "trainer_state.json")) as f:
        trainer_state = json.load(f)
    optimizer_state = json.loads(optimizer[len(OPTIMIZER_MAGIC):])
    return {"step": trainer_state["global_step"], "lr": optimizer_state["lr"]}


def bump_counter(path, key):
    """Add one to counter `key` of the JSON state file; return its value before."""
    try:
        with open(path) as f:
            counters = json.load(f)
    except FileNotFoundError:
        counters = {}
    before = int(counters.get(key, 0))
    counters[key] = before + 1
    write_atomic(path, json.dumps(counters, sort_keys=True) + "\n")
    return before


def load_config(path):
    """The config flattened to dotted keys, for the formats Vigil edits (YAML: the block subset)."""
    ext = os.path.splitext(path)[1].lower()
    name = os.path.basename(path)
    flat = {}

    def flatten(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                flatten(f"{prefix}{k}.", v)
        else:
            flat[prefix[:-1]] = value

    if ext == ".json":
        with open(path) as f:
            flatten("", json.load(f))
    elif ext == ".toml":
        import tomllib
        with open(path, "rb") as f:
            flatten("", tomllib.load(f))
    elif ext in (".ini", ".cfg"):
        import configparser
        parser = configparser.ConfigParser()
        parser.read(path)
        for section in parser.sections():
            for k, v in parser.items(section, raw=True):
                flat[f"{section}.{k}"] = scalar(v)
    elif ext == ".env" or name == ".env":
        for line in open(path):
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.removeprefix("export ").split("=", 1)
                flat[k.strip()] = scalar(v.strip().strip("'\""))
    else:  # YAML block mappings of scalars
        stack = []
        for raw in open(path):
            line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
            if not line.strip() or line.strip() == "---" or line.strip().startswith("- "):
                continue
            indent = len(line) - len(line.lstrip())
            key, _, value = line.strip().partition(":")
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if value.strip() == "":
                stack.append((indent, key))
            else:
                flat[".".join([k for _, k in stack] + [key])] = scalar(value.strip().strip("'\""))
    return flat


def scalar(text):
    for kind in (int, float):
        try:
            return kind(text)
        except (TypeError, ValueError):
            pass
    return {"true": True, "false": False}.get(str(text).lower(), text)


def die_abruptly(_):
    os._exit(1)


class Trainer:
    def __init__(self, args):
        self.args = args
        self.progress = (0, None)  # (last completed step, its loss): one tuple, so a handler reads it atomically
        self.lr = args.lr
        self.in_handler = False
        parts = args.checkpoint_pattern.split("{step}")
        self.pattern = re.compile(r"(\d+)".join(re.escape(part) for part in parts))

    # ------------------------------------------------------------ checkpoints

    def loss_text(self, step):
        if not hasattr(self, "nan_enabled"):
            self.nan_enabled = self.args.nan_at is not None and self.once_more("nan", self.args.nan_times)
        nan = self.nan_enabled and step >= self.args.nan_at
        args = self.args
        if not nan and args.climb_at is not None and step >= args.climb_at and self.lr > args.stable_lr:
            # A divergence: the loss leaves its band and climbs until, past 1e4, it is nan.
            climbed = step - args.climb_at + 1
            base = loss_at(args.climb_at - 1)
            if base * args.climb_factor ** (climbed - 1) > 1e4:
                return "nan"
            return f"{base * args.climb_factor ** climbed:.4f}"
        return "nan" if nan else f"{loss_at(step):.4f}"

    def save_checkpoint(self, reason):
        """Save the last completed step; returns the path, or None without a checkpoint dir."""
        if not self.args.checkpoint_dir:
            return None
        step, loss = self.progress
        path = os.path.join(self.args.checkpoint_dir, self.args.checkpoint_pattern.replace("{step}", str(step)))
        state = {"step": step, "loss": loss, "reason": reason, "lr": self.lr}
        if self.args.layout == "directory":
            save_directory(path, state, staged=True)
            return path
        text = json.dumps(state) + "\n"
        text += " " * 64 if self.args.save_time > 0 else ""  # room for ten pieces
        if self.args.save_mode == "in-place":
            os.makedirs(self.args.checkpoint_dir, exist_ok=True)
            with open(path, "w") as f:
                write_slowly(f, text, self.args.save_time)
                f.flush()
                os.fsync(f.fileno())
        else:
            write_atomic(path, text, self.args.save_time)
        return path

    def periodic_left(self):
        """Whether --periodic-saves allows one more periodic checkpoint (counting it)."""
        if self.args.periodic_saves is None:
            return True
        self.periodic_done = getattr(self, "periodic_done", 0) + 1
        return self.periodic_done <= self.args.periodic_saves

    def checkpoint_path(self, step):
        return os.path.join(self.args.checkpoint_dir, self.args.checkpoint_pattern.replace("{step}", str(step)))

    def sidecar_path(self, step):
        return os.path.splitext(self.checkpoint_path(step))[0] + ".meta.json"

    def save_periodic(self, step):
        """The end-of-step checkpoint, with the failure modes the tests ask for."""
        args = self.args
        if not args.checkpoint_dir:
            return
        if step == args.tear_at and args.layout == "directory" and self.once_more("tear", args.tear_times):
            state = {"step": step, "loss": self.progress[1], "reason": "periodic", "lr": self.lr}
            save_directory(self.checkpoint_path(step), state, staged=False, tear=args.tear_file)
            out(f"dying while writing checkpoint {step}")
            os.kill(os.getpid(), signal.SIGKILL)
        if step == args.die_writing_at and self.once_more("die-writing", args.die_writing_times):
            text = json.dumps({"step": step, "loss": self.progress[1], "reason": "periodic"}) + "\n"
            with open(self.checkpoint_path(step), "w") as f:  # in place, not atomic: a real partial file
                f.write(text[: len(text) // 2])
                f.flush()
                os.fsync(f.fileno())
            out(f"dying while writing checkpoint {step}")
            os.kill(os.getpid(), signal.SIGKILL)
        self.save_checkpoint("periodic")
        if args.metadata:
            profit = round(100 * math.sin(step * 0.7) + step, 3)
            write_atomic(self.sidecar_path(step), json.dumps({"step": step, "total_profit": profit}) + "\n")
        if args.delete_previous and step - args.checkpoint_every >= 1:
            for path in (self.checkpoint_path(step - args.checkpoint_every), self.sidecar_path(step - args.checkpoint_every)):
                if os.path.exists(path):
                    os.unlink(path)
        if args.crash_after_checkpoint and step < args.steps:
            err(f"RuntimeError: crashing right after checkpoint {step}")
            sys.exit(1)

    def latest_checkpoint(self):
        directory = self.args.checkpoint_dir
        if not directory or not os.path.isdir(directory):
            return None
        steps = [(int(m.group(1)), name) for name in os.listdir(directory)
                 if (m := self.pattern.fullmatch(name))]
        return os.path.join(directory, max(steps)[1]) if steps else None

    def resume_step(self):
        """The step to start from (1 when fresh); exits 3 when a named checkpoint is missing."""
        path = self.args.resume
        if path is None and self.args.resume_from_env:
            path = os.environ.get("VIGIL_RESUME_FROM") or None
        if path is None:
            return 1
        if path == "auto":
            path = self.latest_checkpoint()
            if path is None:
                out("no checkpoint found, starting fresh")
                return 1
        elif not os.path.exists(path):
            err(f"error: checkpoint not found: {path}")
            sys.exit(3)
        if os.path.isdir(path):
            state = load_directory(path)
        else:
            with open(path) as f:  # a corrupt checkpoint fails here with a real traceback
                state = json.load(f)
        step = int(state["step"])
        if self.args.restore_optimizer and "lr" in state:
            self.lr = float(state["lr"])  # as an optimizer's state_dict brings back its param_groups' lr
        if self.args.apply_overrides:
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
            import vigil_trainer
            repaired = vigil_trainer.overrides().learning_rate
            if repaired is not None:
                self.lr = float(repaired)
        self.progress = (step, self.loss_value(step))
        out(f"resumed from step {step} ({path})")
        return step + 1

    def loss_value(self, step):
        """As printed; None for NaN (json.dumps would write NaN, which is not JSON)."""
        text = self.loss_text(step)
        return None if text == "nan" else float(text)

    # ------------------------------------------------------------ signals

    def install_signal_handlers(self):
        args = self.args
        if args.ignore_term:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            out("ignoring SIGTERM")
        elif args.on_term_exit is not None or args.on_term_die:
            signal.signal(signal.SIGTERM, self.on_term)
        if args.handler_delay <= 0:
            self.install_checkpoint_handler()

    def install_checkpoint_handler(self):
        args = self.args
        self.checkpoint_handler_installed = True
        name = signal.Signals(args.checkpoint_signum).name
        if args.usr1 == "checkpoint":
            # Saved right in the handler: it runs in the main thread between bytecodes, the
            # progress tuple is read atomically and write_atomic uses a unique temp file.
            def on_checkpoint_signal(signum, frame):
                log_signal(args.signal_log, name)
                if self.in_handler:
                    return  # Python handlers nest; coalesce a storm as the kernel would
                self.in_handler = True
                try:
                    raw_out(f"got {name}\n")
                    if args.checkpoint_delay > 0:
                        time.sleep(args.checkpoint_delay)
                    path = self.save_checkpoint("signal")
                    if path:
                        raw_out(f"saved checkpoint {path}\n")
                    if args.finish_on_checkpoint_signal:
                        self.finish_now = True
                finally:
                    self.in_handler = False
            signal.signal(args.checkpoint_signum, on_checkpoint_signal)
        elif args.usr1 == "ignore":
            signal.signal(args.checkpoint_signum, signal.SIG_IGN)
        else:
            signal.signal(args.checkpoint_signum, signal.SIG_DFL)

    def on_term(self, signum, frame):
        raw_out("got SIGTERM\n")
        log_signal(self.args.signal_log, "SIGTERM")
        if self.args.checkpoint_on_term:
            path = self.save_checkpoint("term")
            if path:
                raw_out(f"saved checkpoint {path}\n")
        if self.args.on_term_die:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        sys.exit(self.args.on_term_exit)

    # ------------------------------------------------------------ failures

    def once_more(self, key, times):
        """True if the event may happen again (unlimited without a --*-times count)."""
        return times is None or bump_counter(self.args.state_file, key) < times

    def raise_failure(self):
        args = self.args
        exc = args.exception_class(args.message)
        if args.chained:
            try:
                {"optimizer": None}["scheduler"]
            except KeyError as cause:
                raise exc from cause
        raise exc

    def crash(self):
        args = self.args
        try:
            self.raise_failure()
        except BaseException:
            # The traceback is real even for --exit-code/--signal-self, so the error
            # file can name the exception while the process dies some other way.
            error_file = os.environ.get("VIGIL_ERROR_FILE")
            if args.error_file and error_file:
                report = {"type": args.exception, "message": args.message, "traceback": traceback.format_exc()}
                write_atomic(error_file, json.dumps(report) + "\n")
            if args.exit_code is None and not args.signal_self:
                raise
        if args.exit_code is not None:
            err(f"fatal: exiting with {args.exit_code}")
            sys.exit(args.exit_code)
        sig = args.signal_self
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)  # no Python handler (SIGINT, --on-term-exit) in the way
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})  # a blocked SIGSEGV would pend forever
        os.kill(os.getpid(), sig)
        time.sleep(1)
        err(f"error: still alive after {sig.name}")
        sys.exit(4)

    def pool_hang(self):
        """The classic: a Pool worker dies abruptly and map() waits forever for its result."""
        import multiprocessing
        out("waiting for the pool")
        with multiprocessing.Pool(2) as pool:
            pool.map(die_abruptly, [1, 2])

    def hang(self):
        out("hanging")
        while True:  # signal handlers run during sleep; SIGTERM's may end the process
            time.sleep(60)

    # ------------------------------------------------------------ main loop

    def check_inputs(self):
        """--config/--fail-while, --batch-size/--fail-while-arg, --show-env."""
        args = self.args
        for name in args.show_env:
            out(f"env {name}={os.environ.get(name, '')}")
        for text in args.say:
            out(text)
        if args.say_file:
            with open(args.say_file) as f:
                for line in f.read().splitlines():
                    out(line)
                    err(line)
        if args.batch_size is not None:
            out(f"arg batch-size={args.batch_size}")
            if args.fail_while_arg is not None and args.batch_size > args.fail_while_arg:
                self.fail_for_memory(f"Unable to allocate a batch of {args.batch_size}")
        if args.config:
            config = load_config(args.config)
            out("config: " + json.dumps(config, sort_keys=True))
            if args.fail_while:
                key, op, limit = re.match(r"([\w.]+)\s*([<>])\s*([\d.]+)", args.fail_while).groups()
                value = config.get(key)
                if value is not None and (value > float(limit) if op == ">" else value < float(limit)):
                    self.fail_for_memory(f"Unable to allocate 2.00 GiB for a batch ({key}={value})")
            if args.lr_key in config:
                self.lr = float(config[args.lr_key])

    def fail_for_memory(self, message):
        if self.args.fail_as:
            raise self.args.exception_class(self.args.message)
        raise MemoryError(message)

    def train(self):
        args = self.args
        self.check_inputs()
        started = time.monotonic()
        for step in range(self.resume_step(), args.steps + 1):
            if args.handler_delay > 0 and not getattr(self, "checkpoint_handler_installed", False) \
                    and time.monotonic() - started >= args.handler_delay:
                self.install_checkpoint_handler()
                out("checkpoint handler installed")
            if args.step_time > 0:
                time.sleep(args.step_time)
            loss = self.loss_text(step)
            shows_lr = args.climb_at is not None or args.restore_optimizer
            out(f"step {step}/{args.steps} loss={loss}" + (f" lr={self.lr:g}" if shows_lr else ""))
            for j in range(1, args.stderr_lines + 1):
                err(f"warning: step {step} stderr line {j}/{args.stderr_lines}")
            self.progress = (step, self.loss_value(step))
            if step == args.crash_at and self.once_more("crash", args.crash_times):
                self.crash()
            if step == args.hang_at and self.once_more("hang", args.hang_times):
                self.hang()
            if step == args.pool_hang_at and self.once_more("hang", args.hang_times):
                self.pool_hang()
            if args.checkpoint_every > 0 and step % args.checkpoint_every == 0 and self.periodic_left():
                self.save_periodic(step)
            if getattr(self, "finish_now", False):
                out(f"finishing early after the checkpoint signal, at step {step}")
                break
        out("done")


# ---------------------------------------------------------------- start-up

def print_signals():
    """The signal mask and SIG_IGN dispositions this process inherited (see
    PROCESS-NOTES #2). PIPE and XFSZ are left out: Python itself ignores them."""
    blocked = sorted(s.name for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    ignored = sorted(s.name for s in signal.valid_signals()
                     if isinstance(s, signal.Signals) and s not in (signal.SIGPIPE, signal.SIGXFSZ)
                     and s not in (signal.SIGKILL, signal.SIGSTOP)
                     and signal.getsignal(s) == signal.SIG_IGN)
    out("signals: " + json.dumps({"blocked": blocked, "ignored": ignored}))


def spawn_children(args):
    """Workers and the background grandchild; returns their pids. Spawned before the
    signal dispositions are set, so that no SIG_IGN of ours is inherited by them."""
    code = WORKER_CODE_IGNORING_TERM if args.workers_ignore_term else WORKER_CODE
    pids = [subprocess.Popen([sys.executable, "-c", code]).pid for _ in range(args.workers)]
    if args.background_grandchild is not None:
        pids.append(subprocess.Popen(["sleep", str(args.background_grandchild)]).pid)
    escapees = []
    if args.setsid_child:
        # Its own session and process group: a kill of the trainer's group does not reach it.
        escapees.append(subprocess.Popen([sys.executable, "-c", WORKER_CODE], start_new_session=True,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL).pid)
    if args.daemon:
        escapees.append(double_fork_daemon())
    return pids + escapees, escapees


def double_fork_daemon():
    """The classic daemon: fork, setsid, fork again, the middle process exits. Returns the
    daemon's pid (sent back through a pipe); the daemon sleeps forever."""
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(read_end)
        os.setsid()
        daemon = os.fork()
        if daemon == 0:
            os.close(write_end)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            while True:
                time.sleep(60)
        os.write(write_end, f"{daemon}\n".encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        pid = int(f.readline())
    os.waitpid(middle, 0)
    return pid


def report_escapees(path, new):
    """Say how many escapees of earlier runs are still alive, then record this run's."""
    alive = []
    try:
        with open(path) as f:
            for line in f:
                pid = int(line)
                try:
                    with open(f"/proc/{pid}/stat") as stat:
                        state = stat.read().rsplit(")", 1)[1].split()[0]
                    if state not in ("Z", "X"):
                        alive.append(pid)
                except FileNotFoundError:
                    pass
    except FileNotFoundError:
        pass
    out(f"escapees alive: {len(alive)} {alive}")
    with open(path, "a") as f:
        for pid in new:
            f.write(f"{pid}\n")


def flood(total):
    """`total` bytes of 64-byte printable lines, in 64 KiB writes; the last byte is a newline."""
    line = (b"flood " + b"0123456789abcdefghijklmnopqrstuvwxyz" * 2)[:63] + b"\n"
    chunk = line * 1024
    sys.stdout.flush()
    left = total
    while left > 0:
        piece = chunk[:left]
        if len(piece) < len(chunk):
            piece = piece[:-1] + b"\n"
        sys.stdout.buffer.write(piece)
        left -= len(piece)
    sys.stdout.buffer.flush()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.final_text is not None:
        # atexit runs on every exit but death by signal or os._exit: normal end,
        # sys.exit (also from the SIGTERM handler), and after an uncaught traceback.
        atexit.register(lambda: (sys.stdout.write(args.final_text), sys.stdout.flush()))
    if args.print_signals:
        print_signals()
    if args.print_env:
        env = {k: v for k, v in os.environ.items() if k.startswith("VIGIL_")}
        out("env: " + json.dumps(env, sort_keys=True))
        out("argv: " + json.dumps(sys.argv[1:]))
    if args.binary_junk:
        sys.stdout.flush()
        sys.stdout.buffer.write(b"junk: \xff\xfe invalid \x00 nul \xc3\x28 bad pair \xe2\x82 cut\n")
        sys.stdout.buffer.flush()
    children, escapees = spawn_children(args)
    pids = [os.getpid()] + children
    if args.escapee_file:
        report_escapees(args.escapee_file, escapees)
    if args.pid_file:
        write_atomic(args.pid_file, "".join(f"{pid}\n" for pid in pids))
    trainer = Trainer(args)
    trainer.install_signal_handlers()
    if args.flood is not None:
        flood(args.flood)
        if not args.flood_then_train:
            return 0
    trainer.train()
    # Nothing is left to save; without this a late checkpoint signal would kill the
    # process during interpreter shutdown, which restores the default dispositions.
    if args.usr1 == "checkpoint":
        signal.signal(args.checkpoint_signum, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
