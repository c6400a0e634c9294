#!/usr/bin/env python3
"""Trainers on real libraries (numpy, LightGBM) for Vigil's end-to-end tests: the errors and
metrics they print are the libraries' own, not imitations.

  numpy-memory --config C.json     allocates a batch of config["batch_size"] * 10**13 float64s:
                                   numpy raises its real _ArrayMemoryError (the address space
                                   cannot hold it, whatever the overcommit setting) while the
                                   batch is above 16; then trains 3 steps and exits 0.
  lightgbm --config C.json --checkpoint-dir D [--resume PATH] [--corrupt-once STATE]
                                   trains 20 rounds of LightGBM regression (learning rate
                                   config["learning_rate"]), printing LightGBM's own evaluation
                                   lines and saving D/model_<round>.txt every 4 rounds; resumes
                                   with init_model=PATH. With --corrupt-once, the first run
                                   damages the header of its newest checkpoint (the trees and
                                   `end of trees` stay) and exits 1: loading it raises LightGBM's
                                   real LightGBMError.
"""

import argparse
import json
import os
import sys


def numpy_memory(config):
    import numpy as np

    batch = int(config["batch_size"])
    print(f"batch_size={batch}", flush=True)
    if batch > 16:
        np.empty(batch * 10**13, dtype=np.float64)  # _ArrayMemoryError: Unable to allocate …
    for step in range(1, 4):
        print(f"step {step}/3 loss={1.0 / step:.4f}", flush=True)
    return 0


def lightgbm_train(args, config):
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.random((4000, 8))
    y = X @ rng.random(8) + 0.1 * rng.standard_normal(4000)
    train = lgb.Dataset(X[:3000], label=y[:3000], params={"verbose": -1})
    valid = lgb.Dataset(X[3000:], label=y[3000:], reference=train)
    params = {"objective": "regression", "learning_rate": float(config["learning_rate"]), "num_leaves": 15,
              "verbose": -1, "num_threads": 1}
    done = 0
    init_model = None
    if args.resume:
        init_model = lgb.Booster(model_file=args.resume)  # a damaged file raises LightGBMError here
        done = init_model.current_iteration()
        print(f"resumed from round {done} ({args.resume})", flush=True)
    os.makedirs(args.checkpoint_dir, exist_ok=True)

    def save(env):
        round_ = env.iteration + 1
        if round_ % 4 == 0:
            path = os.path.join(args.checkpoint_dir, f"model_{round_}.txt")
            tmp = path + ".tmp"
            env.model.save_model(tmp)
            os.replace(tmp, path)

    lgb.train(params, train, num_boost_round=20 - done, valid_sets=[train, valid], init_model=init_model,
              callbacks=[lgb.log_evaluation(1), save], keep_training_booster=True)
    if args.corrupt_once and not os.path.exists(args.corrupt_once):
        open(args.corrupt_once, "w").close()
        newest = max((f for f in os.listdir(args.checkpoint_dir) if f.endswith(".txt")),
                     key=lambda f: int(f[len("model_"):-len(".txt")]))
        path = os.path.join(args.checkpoint_dir, newest)
        with open(path) as f:
            text = f.read()
        damaged = "\n".join("feature_names=x" if line.startswith("feature_names=") else line
                            for line in text.split("\n"))
        with open(path, "w") as f:
            f.write(damaged)
        print(f"damaged {newest}; failing", flush=True)
        return 1
    print("done", flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["numpy-memory", "lightgbm"])
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint-dir", default=os.environ.get("VIGIL_CHECKPOINT_DIR", "checkpoints"))
    p.add_argument("--resume")
    p.add_argument("--corrupt-once", metavar="STATE")
    args = p.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    if args.mode == "numpy-memory":
        return numpy_memory(config)
    return lightgbm_train(args, config)


if __name__ == "__main__":
    sys.exit(main())
