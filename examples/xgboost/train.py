#!/usr/bin/env python3
"""A minimal XGBoost trainer that speaks Vigil's protocol through vigil_trainer.

Gradient-boosted trees on a synthetic regression, 200 rounds on CPU in seconds. It shows:

- XGBoost's own model format: model_<rounds>.ubj (UBJSON, what Booster.save_model writes for
  .ubj, and the names of xgboost.callback.TrainingCheckPoint), written atomically by a
  TrainingCallback every --save-every rounds, on the checkpoint signal (USR1) and on SIGTERM
  (then training stops and the script exits 143);
- resuming with xgb.train(xgb_model=...) from VIGIL_RESUME_FROM, or with --resume [PATH] from
  PATH or the latest checkpoint, for the rounds left;
- the parameters given to xgb.train win over the ones saved in the model, so a learning
  rate Vigil repaired (in --lr, or a config) applies on resume as it is; the learningRate
  override is used the same way;
- "step N/T rmse=..." lines every --log-every rounds, and the heartbeat.

    python3 examples/xgboost/train.py
    vigil run --policy xgboost -- python3 examples/xgboost/train.py --crash-at 120
"""

import argparse
import os
import sys
import time

# examples/ holds vigil_trainer.py, and also directories named like the libraries (xgboost/,
# lightgbm/, lightning/): on sys.path they would pass for them, so it is there only for this import.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import vigil_trainer as vigil  # noqa: E402

del sys.path[0]

try:
    import numpy as np
    import xgboost as xgb
except ImportError:
    print("skipped: xgboost is not installed")
    sys.exit(0)

PATTERN = "model_{step}.ubj"


class VigilCheckpoints(xgb.callback.TrainingCallback):
    """Atomic .ubj checkpoints, periodic and on Vigil's signals; progress lines; heartbeat."""

    def __init__(self, directory, total, save_every, log_every, crash_at=None, round_time=0.0):
        super().__init__()
        self.directory, self.total = directory, total
        self.save_every, self.log_every = save_every, log_every
        self.crash_at, self.round_time = crash_at, round_time

    def save(self, model, rounds, reason):
        path = os.path.join(self.directory, PATTERN.format(step=rounds))
        raw = model.save_raw(raw_format="ubj")

        def write(tmp):
            with open(tmp, "wb") as f:
                f.write(raw)

        vigil.atomic_save(path, write)
        print("saved %s (%s)" % (path, reason), flush=True)

    def after_iteration(self, model, epoch, evals_log):
        rounds = model.num_boosted_rounds()
        if self.round_time:
            time.sleep(self.round_time)
        vigil.heartbeat()
        if rounds % self.log_every == 0:
            metrics = {name: values[-1] for data in evals_log.values() for name, values in data.items()}
            vigil.log_progress(rounds, self.total, **metrics)
        if self.crash_at and rounds == self.crash_at:
            raise RuntimeError("simulated fault at round %d" % rounds)
        if vigil.checkpoint_requested():
            vigil.clear_checkpoint_request()
            self.save(model, rounds, "checkpoint signal")
        elif vigil.stop_requested():
            self.save(model, rounds, "SIGTERM")
        elif rounds % self.save_every == 0 or rounds == self.total:
            self.save(model, rounds, "every %d rounds" % self.save_every)
        return vigil.stop_requested()  # True ends training


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--round-time", type=float, default=0.01)
    p.add_argument("--checkpoint-dir", default=vigil.checkpoint_dir())
    p.add_argument("--resume", nargs="?", const="latest", metavar="PATH")
    p.add_argument("--crash-at", type=int, help="raise after this round (fresh runs only)")
    args = p.parse_args()

    vigil.install()
    path = vigil.resume_from()
    if path is None and args.resume is not None:
        path = vigil.latest_checkpoint(args.checkpoint_dir, PATTERN) if args.resume == "latest" else args.resume
        if path is None:
            print("no checkpoint in %s, starting fresh" % args.checkpoint_dir)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8))
    y = x[:, 0] * 2 - x[:, 1] ** 2 + np.sin(3 * x[:, 2]) + 0.1 * rng.normal(size=2000)
    dtrain = xgb.DMatrix(x[:1600], label=y[:1600])
    dvalid = xgb.DMatrix(x[1600:], label=y[1600:])
    lr = vigil.overrides().learning_rate or args.lr
    params = {"objective": "reg:squarederror", "eta": lr, "max_depth": 4, "nthread": 1, "seed": 0}

    done = 0
    if path:
        done = xgb.Booster(model_file=path).num_boosted_rounds()
        print("resumed from %s after %d rounds, eta=%g" % (path, done, lr))
    callback = VigilCheckpoints(args.checkpoint_dir, args.rounds, args.save_every, args.log_every,
                                crash_at=None if path else args.crash_at, round_time=args.round_time)
    booster = xgb.train(params, dtrain, num_boost_round=max(0, args.rounds - done), evals=[(dvalid, "valid")],
                        xgb_model=path, callbacks=[callback], verbose_eval=False)
    vigil.exit_if_stopped("stopped by SIGTERM after round %d, checkpoint saved" % booster.num_boosted_rounds())
    print("training complete: %d rounds" % booster.num_boosted_rounds())


if __name__ == "__main__":
    main()
