#!/usr/bin/env python3
"""A minimal LightGBM trainer that speaks Vigil's protocol through vigil_trainer.

Gradient-boosted trees on a synthetic regression, 200 rounds on CPU in seconds. It shows:

- LightGBM's own model format: model_<rounds>.txt (Booster.save_model, text ending in
  "end of trees", which Vigil checks), written atomically by a callback every --save-every
  rounds, on the checkpoint signal (USR1) and on SIGTERM (then the callback ends training
  with EarlyStopException and the script exits 143);
- resuming with lgb.train(init_model=...) from VIGIL_RESUME_FROM, or with --resume [PATH]
  from PATH or the latest checkpoint, for the rounds left (the new booster holds the old
  trees and adds to them);
- the parameters given to lgb.train are the ones the new trees use, so a learning rate
  Vigil repaired (in --lr, or a config) applies on resume as it is; the learningRate
  override is used the same way;
- "step N/T l2=..." lines every --log-every rounds, and the heartbeat.

    python3 examples/lightgbm/train.py
    vigil run --policy lightgbm -- python3 examples/lightgbm/train.py --crash-at 120
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
    import lightgbm as lgb
    import numpy as np
except ImportError:
    print("skipped: lightgbm is not installed")
    sys.exit(0)

PATTERN = "model_{step}.txt"


def vigil_callback(directory, total, save_every, log_every, crash_at=None, round_time=0.0):
    """A LightGBM callback: atomic checkpoints, periodic and on Vigil's signals; progress; heartbeat."""

    def save(model, rounds, reason):
        path = os.path.join(directory, PATTERN.format(step=rounds))
        vigil.atomic_save(path, lambda tmp: model.save_model(tmp, num_iteration=-1))
        print("saved %s (%s)" % (path, reason), flush=True)

    def callback(env):
        rounds = env.iteration + 1  # env.iteration counts from 0 and includes init_model's rounds
        if round_time:
            time.sleep(round_time)
        vigil.heartbeat()
        if rounds % log_every == 0:
            metrics = {r[1]: r[2] for r in env.evaluation_result_list or []}
            vigil.log_progress(rounds, total, **metrics)
        if crash_at and rounds == crash_at:
            raise RuntimeError("simulated fault at round %d" % rounds)
        if vigil.checkpoint_requested():
            vigil.clear_checkpoint_request()
            save(env.model, rounds, "checkpoint signal")
        elif vigil.stop_requested():
            save(env.model, rounds, "SIGTERM")
        elif rounds % save_every == 0 or rounds == total:
            save(env.model, rounds, "every %d rounds" % save_every)
        if vigil.stop_requested():
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

    callback.order = 100
    return callback


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
    train = lgb.Dataset(x[:1600], label=y[:1600], free_raw_data=False)
    valid = lgb.Dataset(x[1600:], label=y[1600:], reference=train)
    lr = vigil.overrides().learning_rate or args.lr
    params = {"objective": "regression", "learning_rate": lr, "num_leaves": 15, "num_threads": 1,
              "seed": 0, "verbose": -1}

    done = 0
    if path:
        done = lgb.Booster(model_file=path).current_iteration()
        print("resumed from %s after %d rounds, learning_rate=%g" % (path, done, lr))
    callback = vigil_callback(args.checkpoint_dir, args.rounds, args.save_every, args.log_every,
                              crash_at=None if path else args.crash_at, round_time=args.round_time)
    booster = lgb.train(params, train, num_boost_round=max(0, args.rounds - done), valid_sets=[valid],
                        valid_names=["valid"], init_model=path, callbacks=[callback])
    vigil.exit_if_stopped("stopped by SIGTERM after round %d, checkpoint saved" % booster.current_iteration())
    print("training complete: %d rounds" % booster.current_iteration())


if __name__ == "__main__":
    main()
