"""XGBoost 3 regression on random data, CPU (tree_method="hist").

    python train_xgb.py CASE

CASE:
  normal         xgb.train, 20 rounds, evals=[train, valid] (`[i]\ttrain-rmse:…\tvalid-rmse:…`),
                 TrainingCheckPoint(directory="ckpts", interval=5); lists the files written
  ckpt-dir-missing  the same without creating ckpts/ first: TrainingCheckPoint does not create
                 it, XGBoostError "LocalFileSystem::Open …: No such file or directory" at round 5
  normal-sklearn XGBRegressor.fit(eval_set=[…], verbose=True) with early_stopping_rounds=3
  climb          eta=2.5: every round overshoots, the rmse grows geometrically to inf and nan
  nan            eta=1e30: rmse inf after the first round, then nan; training goes on (exit 0)
  eta-range      eta=1e300: XGBoost refuses the parameter (XGBoostError, exit 1)
  inf-label      a label that is inf: XGBoostError "Label contains NaN, infinity …"
  oom            a sparse DMatrix declaring 10**9 columns: std::bad_alloc when the histogram
                 cuts are built (run under `prlimit --as=2000000000`; without a cap the
                 allocation is lazily granted and the process just grows)
  too-many-cols  10**11 columns: XGBoost's own check, with its native stack trace
  bad-ckpt       saves model.ubj, cuts it in half and continues training with xgb_model=; the
                 error varies from run to run (std::bad_alloc, basic_string::_M_replace_aux,
                 Check failed: beg <= size_)
  bad-json       same with model.json
  empty-ckpt     same with a 0-byte model.ubj
  bad-ckpt-segv  an 11-round model.ubj cut to 1364 bytes: loading it usually crashes the process
                 with SIGSEGV (exit 139 from a shell, -11 as a signal), no Python traceback; some
                 runs raise XGBoostError instead (the reader runs past the buffer)
  bad-ckpt-alloc the same model cut to 8866 bytes: the UBJ reader believes a huge array length and
                 allocates; uncapped it grew to 23.7 GB RSS and was killed by the kernel's OOM
                 killer (SIGKILL); run it only under `prlimit --as=2000000000` (std::bad_alloc)
"""
import os
import sys

import numpy as np
import xgboost as xgb

case = sys.argv[1] if len(sys.argv) > 1 else "normal"
rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 10))
y = X @ rng.normal(size=10) + 0.1 * rng.normal(size=2000)
if case == "inf-label":
    y[17] = np.inf
dtrain = xgb.DMatrix(X[:1500], label=y[:1500])
dvalid = xgb.DMatrix(X[1500:], label=y[1500:])
params = {"objective": "reg:squarederror", "tree_method": "hist", "max_depth": 3,
          "eta": {"climb": 2.5, "nan": 1e30, "eta-range": 1e300}.get(case, 0.3)}


def listing():
    print("files written:")
    for root, dirs, files in sorted(os.walk(".")):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(f"  {p} ({os.path.getsize(p)} bytes)")


if case == "normal-sklearn":
    m = xgb.XGBRegressor(n_estimators=50, max_depth=3, learning_rate=0.3, early_stopping_rounds=3)
    m.fit(X[:1500], y[:1500], eval_set=[(X[:1500], y[:1500]), (X[1500:], y[1500:])], verbose=True)
    print("best_iteration", m.best_iteration)
    sys.exit(0)

if case in ("oom", "too-many-cols"):
    import scipy.sparse as sp
    n = 10**9 if case == "oom" else 10**11
    cols = rng.integers(0, n, 1000)
    m = sp.csr_matrix((rng.normal(size=1000), (np.arange(1000), cols)), shape=(1000, n))
    dtrain = xgb.DMatrix(m, label=rng.normal(size=1000))
    print(f"DMatrix with {dtrain.num_col()} columns")
    xgb.train(params, dtrain, num_boost_round=5, evals=[(dtrain, "train")])
    sys.exit(0)

if case in ("bad-ckpt", "bad-json", "empty-ckpt", "bad-ckpt-segv", "bad-ckpt-alloc"):
    bst = xgb.train(params, dtrain, num_boost_round=11 if case.startswith("bad-ckpt-") else 10)
    path = "model.json" if case == "bad-json" else "model.ubj"
    bst.save_model(path)
    size = os.path.getsize(path)
    keep = {"empty-ckpt": 0, "bad-ckpt-segv": 1364, "bad-ckpt-alloc": 8866}.get(case, size // 2)
    with open(path, "r+b") as f:
        f.truncate(keep)
    print(f"resuming from {path} ({keep} of {size} bytes)")
    bst = xgb.train(params, dtrain, num_boost_round=10, evals=[(dtrain, "train"), (dvalid, "valid")],
                    xgb_model=path)
    sys.exit(0)

if case == "normal":
    os.makedirs("ckpts", exist_ok=True)
callbacks = [xgb.callback.TrainingCheckPoint(directory="ckpts", interval=5)] if case in ("normal", "ckpt-dir-missing") else []
bst = xgb.train(params, dtrain, num_boost_round=20, evals=[(dtrain, "train"), (dvalid, "valid")],
                verbose_eval=True, callbacks=callbacks)
bst.save_model("final.ubj")
listing()
