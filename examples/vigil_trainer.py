"""vigil_trainer: the trainer's side of Vigil's protocol, in one standard-library file.

Copy this file into your project (or put examples/ on sys.path) and import it. It needs
Python 3.8+ and nothing else; the framework integrations at the end are built only when
you use them, and only if their library imports.

    import vigil_trainer as vigil

    vigil.install()                        # checkpoint signal, SIGTERM, error file on a crash
    state = load(vigil.resume_from())      # VIGIL_RESUME_FROM, or None for a fresh start
    vigil.apply_to_optimizer(optimizer, scheduler)   # AFTER loading their state: Vigil's lr repair
    for step in range(start, total):
        loss = train_step()
        vigil.log_progress(step, total, loss=loss)   # "step 12/100 loss=0.42", and a heartbeat
        if vigil.checkpoint_requested() or vigil.stop_requested() or step % 100 == 0:
            vigil.clear_checkpoint_request()
            vigil.atomic_save(f"{vigil.checkpoint_dir()}/model_step{step}.pt",
                              lambda tmp: torch.save(state(), tmp))
        if vigil.stop_requested():
            vigil.exit_stopped()           # exit 143: stopped, not finished

What Vigil sets (README, "The trainer's side"), and what reads it here:

    VIGIL_RUN_ID, VIGIL_RUN_NAME, VIGIL_ATTEMPT, VIGIL_MAX_ATTEMPTS   run_id(), attempt() ...
    VIGIL_CHECKPOINT_DIR     checkpoint_dir()
    VIGIL_RESUME_FROM        resume_from(); latest_checkpoint() when it is empty
    VIGIL_CHECKPOINT_SIGNAL  install(): "save now and go on" -> checkpoint_requested()
    SIGTERM                  install(): "save if you can and exit" -> stop_requested()
    VIGIL_DEADLINE           deadline(), seconds_left()
    VIGIL_ERROR_FILE         write_error(), install_excepthook()
    VIGIL_HEARTBEAT_FILE     heartbeat(): a sign of life for limits.stall
    VIGIL_OVERRIDES          overrides(), apply_to_optimizer(): the repairs of earlier failures

Signal handlers only set flags: the training loop looks at them at a safe point (between
steps) and saves there, never inside the handler. A second SIGTERM kills the process at once.

Integrations (attributes built on first use; ImportError if the library is missing):

    LightningCallback        lightning.pytorch (else pytorch_lightning) Callback
    PyTorchLightningCallback the same for the pytorch_lightning package
    HFCallback               transformers TrainerCallback
    SB3Callback              stable_baselines3 BaseCallback

Each saves on the checkpoint signal (and on SIGTERM) through its framework's own checkpoint
API, touches the heartbeat file, prints plain "step N/T loss=..." lines that a supervisor
reading a pipe can parse even when a progress bar redraws in place, and applies the
learning-rate override once the framework has restored its optimizer and scheduler.
"""

import json
import os
import signal
import sys
import threading
import time
import traceback

__all__ = [
    "STOPPED_EXIT_CODE",
    "Overrides",
    "apply_to_optimizer",
    "atomic_save",
    "attempt",
    "checkpoint_dir",
    "checkpoint_requested",
    "checkpoint_signal",
    "clear_checkpoint_request",
    "deadline",
    "exception_type_name",
    "exit_if_stopped",
    "exit_stopped",
    "heartbeat",
    "latest_checkpoint",
    "install",
    "install_excepthook",
    "log_progress",
    "max_attempts",
    "overrides",
    "progress_line",
    "request_checkpoint",
    "resume_from",
    "run_id",
    "run_name",
    "seconds_left",
    "stop_requested",
    "under_vigil",
    "uninstall",
    "write_error",
]

#: Exit code for "stopped before the end" (128 + SIGTERM): Vigil treats exit 0 as success.
STOPPED_EXIT_CODE = 128 + 15

# Plain values only: a signal handler may interrupt the main thread anywhere, so it must not
# take a lock that the interrupted code could hold (threading.Event.set would).
_flags = {"checkpoint": False, "stop": False}
_previous_handlers = {}  # signum -> handler that was there before install()
_heartbeat_state = {"last": None, "path": None}


def _note(message):
    """A line for people, on stderr, prefixed so it is not mistaken for Vigil's own."""
    try:
        sys.stderr.write("vigil_trainer: %s\n" % message)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


# --- The run ---------------------------------------------------------------------------------


def under_vigil():
    """True when this process was started by Vigil (VIGIL_RUN_ID is set)."""
    return bool(os.environ.get("VIGIL_RUN_ID"))


def run_id():
    """VIGIL_RUN_ID, or None."""
    return os.environ.get("VIGIL_RUN_ID") or None


def run_name():
    """VIGIL_RUN_NAME, or None."""
    return os.environ.get("VIGIL_RUN_NAME") or None


def _int_env(name):
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return None


def attempt():
    """This attempt's number (1-based, VIGIL_ATTEMPT), or None outside Vigil."""
    return _int_env("VIGIL_ATTEMPT")


def max_attempts():
    """The most attempts the run can reach with the budget left (VIGIL_MAX_ATTEMPTS), or None."""
    return _int_env("VIGIL_MAX_ATTEMPTS")


def checkpoint_dir(default="checkpoints"):
    """VIGIL_CHECKPOINT_DIR, else `default`."""
    return os.environ.get("VIGIL_CHECKPOINT_DIR") or default


def resume_from():
    """The checkpoint to resume from (VIGIL_RESUME_FROM), or None for a fresh start."""
    return os.environ.get("VIGIL_RESUME_FROM") or None


_TEMP_SUFFIXES = (".tmp", ".temp", ".partial", ".part", ".incomplete", ".inprogress", ".lock", "~")


def latest_checkpoint(directory=None, pattern="*{step}*"):
    """The checkpoint in `directory` with the highest step, or None.

    `pattern` is written as Vigil's checkpoints.pattern: "{step}" stands for the step's
    digits, "*" for anything ("model_step{step}.pt", "checkpoint-{step}", "epoch=*-step={step}.ckpt").
    Temporary names (a leading ".", ".tmp", ...) never count. directory defaults to
    checkpoint_dir(). For a trainer run without a checkpoints.pattern in its policy, where
    Vigil passes --resume but no VIGIL_RESUME_FROM.
    """
    import re

    directory = directory or checkpoint_dir()
    regex = re.escape(pattern).replace(re.escape("{step}"), r"(?P<step>\d+)").replace(re.escape("*"), ".*")
    best = None
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    for name in names:
        if name.startswith(".") or name.endswith(_TEMP_SUFFIXES):
            continue
        match = re.fullmatch(regex, name)
        if not match:
            continue
        step = int(match.group("step")) if "step" in match.groupdict() else 0
        full = os.path.join(directory, name)
        key = (step, os.path.getmtime(full))
        if best is None or key > best[0]:
            best = (key, full)
    return best[1] if best else None


def deadline():
    """Unix time at which this attempt will be stopped (VIGIL_DEADLINE), or None."""
    try:
        return float(os.environ.get("VIGIL_DEADLINE", ""))
    except ValueError:
        return None


def seconds_left():
    """Seconds until VIGIL_DEADLINE (may be negative), or None without a deadline."""
    end = deadline()
    return None if end is None else end - time.time()


# --- Signals ---------------------------------------------------------------------------------


def checkpoint_signal():
    """The checkpoint signal's number from VIGIL_CHECKPOINT_SIGNAL, or None.

    Unset (not under Vigil) means SIGUSR1, Vigil's default; empty means none. Accepts
    "USR1", "SIGUSR1" and numbers.
    """
    name = os.environ.get("VIGIL_CHECKPOINT_SIGNAL")
    if name is None:
        name = "USR1"
    name = name.strip()
    if not name:
        return None
    if name.isdigit():
        return int(name)
    upper = name.upper()
    if not upper.startswith("SIG"):
        upper = "SIG" + upper
    number = getattr(signal, upper, None)
    if not isinstance(number, int):
        _note("unknown VIGIL_CHECKPOINT_SIGNAL %r: not handling it" % name)
        return None
    return int(number)


def _chain(signum, frame):
    previous = _previous_handlers.get(signum)
    if callable(previous):
        previous(signum, frame)


def _on_checkpoint_signal(signum, frame):
    _flags["checkpoint"] = True
    _chain(signum, frame)


def _on_term(signum, frame):
    if _flags["stop"]:
        # Second SIGTERM: the default action, now.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _flags["stop"] = True
    _chain(signum, frame)


def install(checkpoint=True, term=True, excepthook=True):
    """Install the handlers; idempotent. Call it from the main thread, early.

    checkpoint: handle VIGIL_CHECKPOINT_SIGNAL (sets checkpoint_requested()).
    term: handle SIGTERM (sets stop_requested(); a second SIGTERM kills at once).
    excepthook: write VIGIL_ERROR_FILE on an uncaught exception (install_excepthook()).
    A Python handler that was already installed for a signal is still called after ours.
    Returns the checkpoint signal's number, or None.
    """
    if excepthook:
        install_excepthook()
    signum = checkpoint_signal() if checkpoint else None
    if threading.current_thread() is not threading.main_thread():
        _note("install() outside the main thread: signal handlers not installed")
        return None
    if term:
        _install_handler(signal.SIGTERM, _on_term)
    if signum is not None:
        if signum in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL, signal.SIGSTOP):
            _note("checkpoint signal %d not handled: it has another meaning" % signum)
            return None
        _install_handler(signum, _on_checkpoint_signal)
    return signum


def _install_handler(signum, handler):
    current = signal.getsignal(signum)
    if current is handler:
        return
    _previous_handlers[signum] = current
    signal.signal(signum, handler)


def uninstall(checkpoint=True, term=True, excepthook=True):
    """Put back what install() replaced (for tests, and for code that hands a signal on)."""
    for signum, previous in list(_previous_handlers.items()):
        is_term = signum == signal.SIGTERM
        if (is_term and not term) or (not is_term and not checkpoint):
            continue
        if signal.getsignal(signum) in (_on_term, _on_checkpoint_signal):
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        del _previous_handlers[signum]
    if excepthook and getattr(sys.excepthook, "_vigil_previous", None) is not None:
        sys.excepthook = sys.excepthook._vigil_previous


def checkpoint_requested():
    """True once the checkpoint signal arrived, until clear_checkpoint_request()."""
    return _flags["checkpoint"]


def clear_checkpoint_request():
    """Forget the checkpoint request (call it when you start saving)."""
    _flags["checkpoint"] = False


def request_checkpoint():
    """Set the checkpoint flag yourself, as the signal would."""
    _flags["checkpoint"] = True


def stop_requested():
    """True once SIGTERM arrived: save if you can, then exit non-zero (exit_stopped())."""
    return _flags["stop"]


def exit_stopped(message=None):
    """Exit with STOPPED_EXIT_CODE (143): Vigil counts exit 0 as success, even after SIGTERM."""
    _note(message or "stopped by SIGTERM")
    sys.exit(STOPPED_EXIT_CODE)


def exit_if_stopped(message=None):
    """exit_stopped() if SIGTERM arrived; otherwise return."""
    if stop_requested():
        exit_stopped(message)


# --- Atomic saves ----------------------------------------------------------------------------


def _temp_name(parent, name, kind="tmp"):
    # Starts with "." and ends with ".tmp": never a checkpoint name to Vigil or to a glob.
    return os.path.join(parent, ".%s.%d-%s.%s" % (name, os.getpid(), os.urandom(4).hex(), kind))


def _fsync_path(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # a directory cannot be fsynced everywhere
    finally:
        os.close(fd)


def _fsync_tree(path):
    if os.path.isdir(path) and not os.path.islink(path):
        for root, dirs, files in os.walk(path, topdown=False):
            for name in files:
                full = os.path.join(root, name)
                if not os.path.islink(full):
                    _fsync_path(full)
            _fsync_path(root)
    else:
        _fsync_path(path)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def _written(tmp):
    """What the writer produced: tmp itself, or tmp plus an extension it appended (numpy.save)."""
    if os.path.lexists(tmp):
        return tmp
    parent, base = os.path.split(tmp)
    found = [n for n in os.listdir(parent) if n.startswith(base + ".")]
    return os.path.join(parent, found[0]) if len(found) == 1 else None


def atomic_save(path, write, directory=False):
    """Save to `path` so that it shows up whole or not at all; returns `path`.

    write(tmp_path) writes the checkpoint to a temporary name in the same directory
    (".NAME.<pid>-<random>.tmp"): a file, or a directory (directory=True creates it empty
    first; a writer may also create it itself). Then everything written is fsynced, the
    temporary is renamed to `path` (os.replace; a directory that exists under `path` is moved
    aside, replaced, then removed) and the directory is fsynced. If write raises, the
    temporary is removed and the exception propagates; an existing `path` is untouched.
    If write wrote nothing (a non-zero rank of a distributed job), returns None.
    """
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = _temp_name(parent, name)
    if directory:
        os.mkdir(tmp)
    produced = None
    try:
        write(tmp)
        produced = _written(tmp)
        if produced is None or (os.path.isdir(produced) and not os.listdir(produced)):
            if produced is not None:
                _remove(produced)
            return None
        _fsync_tree(produced)
        _replace(produced, path)
        _fsync_path(parent)
    except BaseException:
        for leftover in (tmp, produced):
            if leftover and os.path.lexists(leftover):
                _remove(leftover)
        raise
    return path


def _replace(src, dst):
    src_dir = os.path.isdir(src) and not os.path.islink(src)
    dst_dir = os.path.isdir(dst) and not os.path.islink(dst)
    if not (src_dir or dst_dir) or not os.path.lexists(dst):
        os.replace(src, dst)
        return
    # rename(2) cannot replace a non-empty directory: move the old one aside first. In
    # between, `dst` is briefly absent, never half-written.
    parent, name = os.path.split(dst)
    old = _temp_name(parent, name, "old.tmp")
    os.rename(dst, old)
    try:
        os.rename(src, dst)
    except BaseException:
        os.rename(old, dst)
        raise
    _remove(old)


# --- The error file --------------------------------------------------------------------------


def exception_type_name(exc_type):
    """The type as a traceback prints it: "module.QualName", bare for builtins and __main__."""
    module = getattr(exc_type, "__module__", None)
    qualname = getattr(exc_type, "__qualname__", None) or getattr(exc_type, "__name__", "Exception")
    if module in (None, "builtins", "__main__"):
        return qualname
    return "%s.%s" % (module, qualname)


def write_error(exc=None, path=None):
    """Write {"type", "message", "traceback"} for `exc` to VIGIL_ERROR_FILE, atomically.

    exc defaults to the exception being handled. Returns the path written, or None (no
    VIGIL_ERROR_FILE, or no exception).
    """
    path = path or os.environ.get("VIGIL_ERROR_FILE")
    if exc is None:
        exc = sys.exc_info()[1]
    if not path or exc is None:
        return None
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not hide the error
        message = "<unprintable %s>" % type(exc).__name__
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        text = ""
    record = {"type": exception_type_name(type(exc)), "message": message, "traceback": text}
    data = json.dumps(record, indent=1).encode("utf-8")

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    return atomic_save(path, write)


def install_excepthook():
    """On an uncaught exception, write the error file, then run the previous sys.excepthook."""
    if getattr(sys.excepthook, "_vigil_previous", None) is not None:
        return
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        try:
            if exc is not None and exc.__traceback__ is None:
                exc = exc.with_traceback(tb)
            write_error(exc)
        except Exception as problem:  # never let the hook hide the original error
            _note("could not write the error file: %s" % problem)
        previous(exc_type, exc, tb)

    hook._vigil_previous = previous
    sys.excepthook = hook


# --- Heartbeat and progress ------------------------------------------------------------------


def heartbeat(force=False):
    """Touch VIGIL_HEARTBEAT_FILE: a sign of life for Vigil's hang detection.

    Cheap to call every step: it touches the file at most once a second (force=True: now).
    Returns True when it touched the file.
    """
    path = os.environ.get("VIGIL_HEARTBEAT_FILE")
    if not path:
        return False
    now = time.monotonic()
    last = _heartbeat_state["last"]
    if not force and last is not None and _heartbeat_state["path"] == path and now - last < 1.0:
        return False
    _heartbeat_state["last"], _heartbeat_state["path"] = now, path
    try:
        os.utime(path, None)
    except FileNotFoundError:
        try:
            with open(path, "ab"):
                pass
        except OSError:
            return False
    except OSError:
        return False
    return True


def _format_value(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    try:
        return "%.6g" % float(value)  # also a 0-d tensor or a numpy scalar; nan and inf as such
    except (TypeError, ValueError):
        return str(value)


def progress_line(step, total=None, **metrics):
    """"step 12/100 loss=0.42 lr=0.001": the line log_progress() prints."""
    head = "step %d/%d" % (step, total) if total else "step %d" % step
    parts = [head] + ["%s=%s" % (k, _format_value(v)) for k, v in metrics.items() if v is not None]
    return " ".join(parts)


def log_progress(step, total=None, **metrics):
    """Print progress_line(...) on stdout (flushed) and beat the heart."""
    line = progress_line(step, total, **metrics)
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    heartbeat()
    return line


# --- Overrides (Vigil's repairs) -------------------------------------------------------------


class Overrides(object):
    """The repairs Vigil made after earlier failures (VIGIL_OVERRIDES).

    config: the config file Vigil edited, or None.
    set: every key Vigil changed and its value now ("training.lr", "env:FOO", "arg:--bs").
    roles: the same values by role ("learningRate", "batchSize", "gradientAccumulation",
    "workers"). Environment and argument repairs are already in os.environ and sys.argv,
    and config repairs in the file: what needs this is state restored from a checkpoint,
    which would otherwise bring the old values back.
    """

    def __init__(self, data=None):
        data = data if isinstance(data, dict) else {}
        config = data.get("config")
        self.config = config if isinstance(config, str) and config else None
        values = data.get("set")
        self.set = dict(values) if isinstance(values, dict) else {}
        roles = data.get("roles")
        self.roles = dict(roles) if isinstance(roles, dict) else {}

    def role(self, name, default=None):
        """The value for a role ("learningRate"), as Vigil wrote it, or default."""
        value = self.roles.get(name)
        return default if value is None else value

    def get(self, key, default=None):
        """The value Vigil set for a key ("training.lr", "env:FOO", "arg:--lr"), or default."""
        value = self.set.get(key)
        return default if value is None else value

    def number(self, name, default=None):
        """A role's value as a number: an int when it is a whole number, else a float.

        Values of env: and arg: keys arrive as strings ("0.005"); a value that is no number
        gives default.
        """
        value = self.roles.get(name)
        if isinstance(value, bool) or value is None:
            return default
        if isinstance(value, (int, float)):
            return value
        try:
            text = str(value).strip()
            return int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            return default

    @property
    def learning_rate(self):
        """The learningRate role as a float, or None."""
        value = self.number("learningRate")
        return None if value is None else float(value)

    @property
    def batch_size(self):
        """The batchSize role as an int, or None."""
        value = self.number("batchSize")
        return None if value is None else int(value)

    @property
    def gradient_accumulation(self):
        """The gradientAccumulation role as an int, or None."""
        value = self.number("gradientAccumulation")
        return None if value is None else int(value)

    @property
    def workers(self):
        """The workers role as an int, or None."""
        value = self.number("workers")
        return None if value is None else int(value)

    def __bool__(self):
        return bool(self.set or self.roles)

    __nonzero__ = __bool__

    def __repr__(self):
        return "Overrides(config=%r, set=%r, roles=%r)" % (self.config, self.set, self.roles)


def overrides():
    """Parse VIGIL_OVERRIDES; an empty Overrides when it is absent, "{}" or malformed."""
    text = os.environ.get("VIGIL_OVERRIDES", "").strip()
    if not text:
        return Overrides()
    try:
        data = json.loads(text)
    except ValueError as problem:
        _note("ignoring VIGIL_OVERRIDES, not JSON: %s" % problem)
        return Overrides()
    if not isinstance(data, dict):
        _note("ignoring VIGIL_OVERRIDES: not a JSON object")
        return Overrides()
    return Overrides(data)


def _set_lr(group, key, value):
    current = group.get(key)
    if hasattr(current, "fill_"):  # a tensor learning rate (torch's capturable optimizers)
        current.fill_(value)
    else:
        group[key] = value


def apply_to_optimizer(optimizer, scheduler=None, lr=None):
    """Apply the learningRate override to a restored optimizer (and its scheduler).

    Call it after loading the optimizer's and the scheduler's state: loading them brings
    back the learning rate of the run that failed. `lr` defaults to
    overrides().role("learningRate"); without one, nothing changes and None is returned.

    The override is the new base learning rate. The first param group's base (its
    "initial_lr" when a scheduler set one, else its "lr") becomes `lr`, and every group's
    "lr" and "initial_lr", and the scheduler's "base_lrs", are scaled by the same factor:
    a single group without a scheduler gets lr exactly, groups keep their ratios, and a
    schedule goes on from where it was, at the new scale. Duck-typed: anything with
    `param_groups` (a list of dicts) works; `scheduler` may also be a list.
    Returns the learning rate applied (a float).
    """
    if lr is None:
        lr = overrides().learning_rate
    if lr is None:
        return None
    lr = float(lr)
    groups = list(getattr(optimizer, "param_groups", None) or [])
    if not groups:
        raise TypeError("apply_to_optimizer: %r has no param_groups" % (optimizer,))
    first = groups[0]
    reference = first.get("initial_lr", first.get("lr"))
    try:
        reference = float(reference)
    except (TypeError, ValueError):
        reference = 0.0
    ratio = lr / reference if reference > 0 else None
    for group in groups:
        for key in ("lr", "initial_lr"):
            if key in group:
                value = lr if ratio is None else float(group[key]) * ratio
                _set_lr(group, key, value)
    if ratio is None:
        ratio_of = lambda value: lr  # noqa: E731
    else:
        ratio_of = lambda value: float(value) * ratio  # noqa: E731
    schedulers = scheduler if isinstance(scheduler, (list, tuple)) else [scheduler]
    for sched in schedulers:
        if sched is None:
            continue
        base = getattr(sched, "base_lrs", None)
        if base is not None:
            sched.base_lrs = [ratio_of(b) for b in base]
        if getattr(sched, "_last_lr", None) is not None:
            sched._last_lr = [float(g["lr"]) for g in groups]
    return lr


# --- Framework integrations (built on first use) ---------------------------------------------


def _to_float(value):
    try:
        if hasattr(value, "detach"):
            value = value.detach()
            if getattr(value, "numel", lambda: 1)() != 1:
                return None
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _is_finite(value):
    return value is not None and value == value and abs(value) != float("inf")


def _make_lightning_callback(package):
    """A Lightning Callback class for `package` ("lightning.pytorch" or "pytorch_lightning")."""
    import importlib

    pl = importlib.import_module(package)
    Callback = pl.Callback

    class VigilLightningCallback(Callback):
        """Vigil's protocol for a Lightning Trainer: Trainer(callbacks=[LightningCallback()]).

        - checkpoint signal: trainer.save_checkpoint at the end of the current batch, written
          atomically, named as the ModelCheckpoint callback names its files
          ("epoch=0-step=120.ckpt" in its dirpath; without one, in VIGIL_CHECKPOINT_DIR);
        - SIGTERM: the same save (save_on_stop), then Lightning's own SIGTERM exit, with exit
          code 143 instead of Lightning's 0 (Vigil counts 0 as success);
        - heartbeat each training and validation batch; "step N/T loss=..." on stdout every
          `every_n_steps` optimizer steps;
        - the learning-rate override applied in on_train_start, the first hook after
          Lightning restored the optimizers and schedulers (on_load_checkpoint and
          on_fit_start run before that);
        - atomic_checkpoints: every checkpoint the trainer writes to a local path (also
          ModelCheckpoint's) goes through atomic_save.
        Under SLURM with Lightning's auto-requeue on the same signal and not under Vigil,
        the signal is left to Lightning.
        """

        def __init__(self, every_n_steps=50, save_on_stop=True, dirpath=None, filename=None,
                     atomic_checkpoints=True):
            self.every_n_steps = every_n_steps
            self.save_on_stop = save_on_stop
            self.dirpath = dirpath
            self.filename = filename
            self.atomic_checkpoints = atomic_checkpoints
            self._own_signal = True
            self._saved_step = None
            self._printed_step = None
            self._atomic_io = False

        # setup runs before Lightning registers its own handlers (which then chain ours).
        def setup(self, trainer, pl_module, stage):
            if stage != "fit":
                return
            signum = checkpoint_signal()
            env = getattr(getattr(trainer, "_accelerator_connector", None), "cluster_environment", None)
            slurm = getattr(env, "auto_requeue", False) and type(env).__name__ == "SLURMEnvironment"
            if slurm and signum is not None and getattr(env, "requeue_signal", None) == signum:
                if under_vigil():
                    _note("Lightning's SLURM auto-requeue on signal %d is off under Vigil, which "
                          "restarts the run: the signal means 'save now'" % signum)
                else:
                    self._own_signal = False
                    uninstall(checkpoint=True, term=False, excepthook=False)
            install(checkpoint=self._own_signal)
            if self.atomic_checkpoints:
                self._make_io_atomic(trainer)

        def _make_io_atomic(self, trainer):
            io = trainer.strategy.checkpoint_io
            if getattr(io, "_vigil_atomic", False):
                self._atomic_io = True
                return
            if type(io).__name__ != "TorchCheckpointIO":
                return  # async or remote IO: its own business
            original = io.save_checkpoint

            def save_checkpoint(checkpoint, path, storage_options=None):
                if "://" in str(path):
                    return original(checkpoint, path, storage_options)
                atomic_save(path, lambda tmp: original(checkpoint, tmp, storage_options))

            io.save_checkpoint = save_checkpoint
            io._vigil_atomic = True
            self._atomic_io = True

        def on_train_start(self, trainer, pl_module):
            heartbeat(force=True)
            lr = overrides().learning_rate
            if lr is None:
                return
            configs = getattr(trainer, "lr_scheduler_configs", None) or []
            for optimizer in trainer.optimizers:
                schedulers = [c.scheduler for c in configs if getattr(c.scheduler, "optimizer", None) is optimizer]
                apply_to_optimizer(optimizer, schedulers, lr)
            _note("learning rate override %g applied after restoring the optimizer" % lr)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            heartbeat()
            step = trainer.global_step
            if self.every_n_steps and step % self.every_n_steps == 0 and step != self._printed_step:
                self._printed_step = step
                loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
                loss = _to_float(loss)
                total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
                if total is None:
                    estimate = getattr(trainer, "estimated_stepping_batches", None)
                    total = int(estimate) if _is_finite(_to_float(estimate)) else None
                lr = None
                if trainer.optimizers and trainer.optimizers[0].param_groups:
                    lr = _to_float(trainer.optimizers[0].param_groups[0].get("lr"))
                log_progress(step, total, epoch=trainer.current_epoch, loss=loss, lr=lr)
            requested = checkpoint_requested() if self._own_signal else False
            stop = stop_requested() or getattr(trainer, "received_sigterm", False)
            if trainer.world_size > 1:  # every rank must save at the same batch
                requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
                stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
            if requested:
                clear_checkpoint_request()
                self.save(trainer, "checkpoint signal")
            if stop:
                if self.save_on_stop:
                    self.save(trainer, "SIGTERM")
                trainer.should_stop = True

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            heartbeat()  # a long validation is progress too

        def on_exception(self, trainer, pl_module, exception):
            if not isinstance(exception, SystemExit):
                return
            if stop_requested() or getattr(trainer, "received_sigterm", False):
                if self.save_on_stop and getattr(trainer, "training", False):
                    try:
                        self.save(trainer, "SIGTERM")
                    except Exception as problem:
                        _note("could not save on SIGTERM: %s" % problem)
                if exception.code in (None, 0):
                    exception.code = STOPPED_EXIT_CODE  # Lightning's SIGTERMException exits 0

        def checkpoint_path(self, trainer):
            """Where save() writes: ModelCheckpoint's dirpath and naming, else our own."""
            ckpt = getattr(trainer, "checkpoint_callback", None)
            dirpath = (self.dirpath or getattr(ckpt, "dirpath", None)
                       or os.environ.get("VIGIL_CHECKPOINT_DIR")
                       or os.path.join(trainer.default_root_dir, "checkpoints"))
            if self.filename:
                name = self.filename.format(epoch=trainer.current_epoch, step=trainer.global_step)
            elif ckpt is not None and hasattr(ckpt, "format_checkpoint_name"):
                metrics = dict(trainer.callback_metrics)
                metrics.update(epoch=trainer.current_epoch, step=trainer.global_step)
                name = os.path.basename(ckpt.format_checkpoint_name(metrics))
            else:
                name = "epoch=%d-step=%d.ckpt" % (trainer.current_epoch, trainer.global_step)
            return os.path.join(str(dirpath), name)

        def save(self, trainer, reason="request"):
            """Save a checkpoint now (once per step), atomically; returns its path."""
            if self._saved_step == trainer.global_step:
                return None
            path = self.checkpoint_path(trainer)
            if self._atomic_io:
                trainer.save_checkpoint(path, weights_only=False)
            else:
                atomic_save(path, lambda tmp: trainer.save_checkpoint(tmp, weights_only=False))
            self._saved_step = trainer.global_step
            if trainer.is_global_zero:
                _note("saved %s (%s)" % (path, reason))
            heartbeat(force=True)
            return path

    VigilLightningCallback.__name__ = VigilLightningCallback.__qualname__ = "LightningCallback"
    return VigilLightningCallback


def _make_hf_callback():
    from transformers import TrainerCallback

    class VigilHFCallback(TrainerCallback):
        """Vigil's protocol for a transformers Trainer: Trainer(callbacks=[HFCallback()]).

        - checkpoint signal: control.should_save at the end of the current step (the Trainer
          then writes checkpoint-N in output_dir, trainer_state.json last);
        - SIGTERM: the same save (save_on_stop) and control.should_training_stop; train()
          returns, and the script should exit_if_stopped();
        - heartbeat each step, micro-batch and evaluation batch;
        - at each logging step, "step N/T loss=..." with the raw mean training loss since the
          last log, seen through a forward hook on the model, so that a NaN shows even when
          logging_nan_inf_filter (on by default) keeps it out of the Trainer's logs;
        - the learning-rate override applied in on_train_begin, which the Trainer calls after
          it restored the optimizer and the LambdaLR scheduler from the checkpoint.
        """

        def __init__(self, save_on_stop=True, print_loss=True):
            self.save_on_stop = save_on_stop
            self.print_loss = print_loss
            self._hook = None
            self._loss_sum = None
            self._loss_count = 0
            self._last_loss = None
            install()

        def _forward_hook(self, module, inputs, output):
            if not module.training:
                return
            loss = getattr(output, "loss", None)
            if loss is None and isinstance(output, dict):
                loss = output.get("loss")
            if loss is None or not hasattr(loss, "detach"):
                return
            loss = loss.detach()
            if getattr(loss, "numel", lambda: 1)() != 1:
                loss = loss.float().mean()
            # On the device, no sync per step: NaN and inf survive the sum.
            self._loss_sum = loss.float() if self._loss_sum is None else self._loss_sum + loss.float()
            self._loss_count += 1
            self._last_loss = loss

        def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
            install()
            heartbeat(force=True)
            lr = overrides().learning_rate
            if lr is not None and optimizer is not None:
                apply_to_optimizer(optimizer, lr_scheduler, lr)
                _note("learning rate override %g applied after restoring the optimizer" % lr)
            if self.print_loss and model is not None and hasattr(model, "register_forward_hook"):
                self._hook = model.register_forward_hook(self._forward_hook)

        def on_step_end(self, args, state, control, **kwargs):
            heartbeat()
            requested = self._any_rank(checkpoint_requested(), args)
            stop = self._any_rank(stop_requested(), args)
            if requested:
                clear_checkpoint_request()
                control.should_save = True
                if state.is_world_process_zero:
                    _note("checkpoint requested: saving checkpoint-%d" % state.global_step)
            if stop:
                control.should_save = control.should_save or self.save_on_stop
                control.should_training_stop = True
            return control

        @staticmethod
        def _any_rank(flag, args):
            if getattr(args, "world_size", 1) <= 1:
                return flag
            import torch
            import torch.distributed as dist

            if not (dist.is_available() and dist.is_initialized()):
                return flag
            value = torch.tensor([1 if flag else 0], device=args.device)
            dist.all_reduce(value, op=dist.ReduceOp.MAX)
            return bool(value.item())

        def on_substep_end(self, args, state, control, **kwargs):
            heartbeat()  # micro-batches of gradient accumulation

        def on_prediction_step(self, args, state, control, **kwargs):
            heartbeat()  # evaluation batches

        def on_save(self, args, state, control, **kwargs):
            heartbeat(force=True)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if not self.print_loss or "loss" not in logs or not state.is_world_process_zero:
                return
            raw = None
            if self._loss_count:
                raw = _to_float(self._loss_sum) / self._loss_count
            self._loss_sum, self._loss_count = None, 0
            logged = _to_float(logs.get("loss"))
            loss = raw if raw is not None else logged
            total = state.max_steps if state.max_steps and state.max_steps > 0 else None
            log_progress(state.global_step, total, loss=loss, lr=logs.get("learning_rate"))
            if raw is not None and not _is_finite(raw) and _is_finite(logged):
                _note("the training loss is %s at step %d (logging_nan_inf_filter shows %g instead)"
                      % (_format_value(raw), state.global_step, logged))

        def on_train_end(self, args, state, control, **kwargs):
            if self._hook is not None:
                self._hook.remove()
                self._hook = None

    VigilHFCallback.__name__ = VigilHFCallback.__qualname__ = "HFCallback"
    return VigilHFCallback


def _make_sb3_callback():
    from stable_baselines3.common.callbacks import BaseCallback

    class VigilSB3Callback(BaseCallback):
        """Vigil's protocol for stable-baselines3: model.learn(..., callback=SB3Callback()).

        - checkpoint signal: model.save(save_dir/NAME_PREFIX_<timesteps>_steps.zip) after the
          current environment step, atomically (also the replay buffer and the VecNormalize
          statistics when asked), named as SB3's CheckpointCallback names them; also every
          `save_freq` calls (environment steps of the VecEnv) when it is set;
        - SIGTERM: the same save (save_on_stop), then learn() stops (the callback returns
          False); the script should exit_if_stopped();
        - heartbeat each step; "step N/T reward=..." at the end of each rollout;
        - the learning-rate override applied in _on_training_start: SB3 recomputes the lr
          from model.learning_rate at every update, and load() brings back the saved one, so
          the callback replaces model.learning_rate (a constant then) and its schedule.
        """

        def __init__(self, save_dir=None, name_prefix="rl_model", save_freq=0, save_replay_buffer=False,
                     save_vecnormalize=False, save_on_stop=True, print_progress=True, verbose=0):
            super().__init__(verbose)
            self.save_dir = save_dir
            self.save_freq = save_freq
            self.name_prefix = name_prefix
            self.save_replay_buffer = save_replay_buffer
            self.save_vecnormalize = save_vecnormalize
            self.save_on_stop = save_on_stop
            self.print_progress = print_progress
            self._saved_at = None

        def _init_callback(self):
            install()

        def _on_training_start(self):
            heartbeat(force=True)
            lr = overrides().learning_rate
            if lr is None:
                return
            self.model.learning_rate = float(lr)
            if hasattr(self.model, "_setup_lr_schedule"):
                self.model._setup_lr_schedule()
            policy = getattr(self.model, "policy", None)
            optimizer = getattr(policy, "optimizer", None)
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = float(lr)
            _note("learning rate override %g applied" % lr)

        def _on_step(self):
            heartbeat()
            if checkpoint_requested():
                clear_checkpoint_request()
                self.save("checkpoint signal")
            elif self.save_freq and self.n_calls % self.save_freq == 0:
                self.save("every %d calls" % self.save_freq)
            if stop_requested():
                if self.save_on_stop:
                    self.save("SIGTERM")
                return False
            return True

        def _on_rollout_end(self):
            if not self.print_progress:
                return
            episodes = getattr(self.model, "ep_info_buffer", None) or []
            rewards = [e["r"] for e in episodes if "r" in e]
            reward = sum(rewards) / len(rewards) if rewards else None
            total = getattr(self.model, "_total_timesteps", None)
            optimizer = getattr(getattr(self.model, "policy", None), "optimizer", None)
            lr = optimizer.param_groups[0]["lr"] if optimizer is not None and optimizer.param_groups else None
            log_progress(self.num_timesteps, total, reward=reward, lr=lr)

        def save(self, reason="request"):
            """Save the model now (once per timestep count), atomically; returns its path."""
            if self._saved_at == self.num_timesteps:
                return None
            directory = self.save_dir or checkpoint_dir()
            stem = os.path.join(directory, "%s_%d_steps" % (self.name_prefix, self.num_timesteps))
            path = atomic_save(stem + ".zip", self.model.save)
            if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
                atomic_save(os.path.join(directory, "%s_replay_buffer_%d_steps.pkl"
                                         % (self.name_prefix, self.num_timesteps)),
                            self.model.save_replay_buffer)
            if self.save_vecnormalize and self.model.get_vec_normalize_env() is not None:
                atomic_save(os.path.join(directory, "%s_vecnormalize_%d_steps.pkl"
                                         % (self.name_prefix, self.num_timesteps)),
                            self.model.get_vec_normalize_env().save)
            self._saved_at = self.num_timesteps
            _note("saved %s (%s)" % (path, reason))
            heartbeat(force=True)
            return path

    VigilSB3Callback.__name__ = VigilSB3Callback.__qualname__ = "SB3Callback"
    return VigilSB3Callback


def _make_lightning_default():
    try:
        return _make_lightning_callback("lightning.pytorch")
    except ImportError:
        return _make_lightning_callback("pytorch_lightning")


_FACTORIES = {
    "LightningCallback": _make_lightning_default,
    "PyTorchLightningCallback": lambda: _make_lightning_callback("pytorch_lightning"),
    "HFCallback": _make_hf_callback,
    "SB3Callback": _make_sb3_callback,
}
_built = {}


def __getattr__(name):  # PEP 562: the integrations are built when first asked for
    factory = _FACTORIES.get(name)
    if factory is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    if name not in _built:
        _built[name] = factory()
    return _built[name]
