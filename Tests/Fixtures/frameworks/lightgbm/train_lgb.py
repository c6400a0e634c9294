"""LightGBM 4 regression on random data, CPU.

    python train_lgb.py CASE

CASE:
  normal         lgb.train, 30 rounds, valid_sets=[train, valid] with default names
                 (`[i]\ttraining's l2: …\tvalid_1's l2: …`), log_evaluation(1); LightGBM has no
                 checkpoint callback: a callback calls save_model("ckpts/model_<i>.txt") every 10
                 rounds; lists the files written
  normal-sklearn LGBMRegressor.fit(eval_set=…) with log_evaluation(10) and early_stopping(5)
                 (`valid_0's l2`)
  climb          learning_rate=2.5: every round overshoots, the l2 grows geometrically
  nan            learning_rate=1e30: the l2 jumps to 1e61, 1e121 … then LightGBM finds no split
                 with positive gain ("best gain: -inf") and stops adding trees; exit 0
  inf-label      a label that is inf
  oom            multiclass with num_class=10**8: the score buffers cannot be allocated
                 (LightGBMError: std::bad_alloc); run under `prlimit --as=3000000000`
  oom-segv       num_leaves=131072 with 10000 bins: the histogram pool's malloc fails inside an
                 OpenMP worker and LightGBM writes through the NULL pointer: SIGSEGV, no
                 traceback; run under `prlimit --as=3000000000`
  bad-ckpt       saves model.txt, cuts it in half and continues training with init_model=
  bad-ckpt-head  same, cut to the first 200 bytes
  empty-ckpt     same, a 0-byte model.txt
"""
import os
import sys

import lightgbm as lgb
import numpy as np

case = sys.argv[1] if len(sys.argv) > 1 else "normal"
rng = np.random.default_rng(0)
X = rng.normal(size=(20000, 10))
y = X @ rng.normal(size=10) + 0.1 * rng.normal(size=20000)
if case == "inf-label":
    y[17] = np.inf
params = {"objective": "regression", "num_leaves": 15,
          "learning_rate": {"climb": 2.5, "nan": 1e30}.get(case, 0.1)}
if case == "oom":
    y = rng.integers(0, 3, 20000)
    params.update(objective="multiclass", num_class=10**8)
if case == "oom-segv":
    params.update(num_leaves=131072)
dtrain = lgb.Dataset(X[:15000], label=y[:15000], params={"max_bin": 1000 if case == "oom-segv" else 255})
dvalid = lgb.Dataset(X[15000:], label=y[15000:], reference=dtrain)


def listing():
    print("files written:")
    for root, dirs, files in sorted(os.walk(".")):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(f"  {p} ({os.path.getsize(p)} bytes)")


if case == "normal-sklearn":
    m = lgb.LGBMRegressor(n_estimators=200, num_leaves=15, learning_rate=0.3)
    m.fit(X[:15000], y[:15000], eval_set=[(X[15000:], y[15000:])],
          callbacks=[lgb.log_evaluation(10), lgb.early_stopping(5)])
    sys.exit(0)

if case in ("bad-ckpt", "bad-ckpt-head", "empty-ckpt"):
    bst = lgb.train(params, dtrain, num_boost_round=10)
    bst.save_model("model.txt")
    size = os.path.getsize("model.txt")
    keep = {"bad-ckpt": size // 2, "bad-ckpt-head": 200, "empty-ckpt": 0}[case]
    with open("model.txt", "r+b") as f:
        f.truncate(keep)
    print(f"resuming from model.txt ({keep} of {size} bytes)")
    bst = lgb.train(params, dtrain, num_boost_round=10, valid_sets=[dvalid], init_model="model.txt",
                    callbacks=[lgb.log_evaluation(1)])
    sys.exit(0)


def checkpoint(env):
    if (env.iteration + 1) % 10 == 0:
        os.makedirs("ckpts", exist_ok=True)
        env.model.save_model(f"ckpts/model_{env.iteration + 1}.txt")


bst = lgb.train(params, dtrain, num_boost_round=30, valid_sets=[dtrain, dvalid],
                callbacks=[lgb.log_evaluation(1), checkpoint])
bst.save_model("final.txt")
listing()
