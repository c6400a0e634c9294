"""Linear regression by gradient descent in plain numpy.

    python train_numpy.py CASE

CASE:
  normal        30 steps; prints `step S loss=… grad_norm=…`; saves weights.npz each 10 steps
  nan           learning rate 1e8: numpy warns `RuntimeWarning: overflow encountered in …` and
                `invalid value encountered in …` as the loss climbs to inf and nan; exits 0
  oom           np.empty of 10**13 float64 (80 TB): numpy's _ArrayMemoryError
  oom-zeros     np.zeros((10**7, 10**6)) (80 TB, the calloc path): the same error
  oom-cap       a 4 GB array, meant to run under `prlimit --as=2000000000`
  memoryerror   bytearray(10**13): a plain MemoryError (no message) from Python itself
  list-oom      [0.0] * 10**13: plain MemoryError from the list allocation
  bad-ckpt      saves weights.npz, cuts it in half and resumes with np.load
  bad-npy       saves weights.npy (np.save), cuts it in half and resumes with np.load
"""
import sys
import time

import numpy as np

case = sys.argv[1] if len(sys.argv) > 1 else "normal"
rng = np.random.default_rng(0)
X = rng.normal(size=(512, 16))
y = X @ rng.normal(size=16) + 0.1 * rng.normal(size=512)
w = np.zeros(16)
lr = 1e8 if case == "nan" else 0.05

if case == "oom":
    a = np.empty(10**13)
if case == "oom-zeros":
    a = np.zeros((10**7, 10**6))
if case == "oom-cap":
    a = np.ones(5 * 10**8)  # 4 GB
if case == "memoryerror":
    a = bytearray(10**13)
if case == "list-oom":
    a = [0.0] * 10**13
if case == "bad-ckpt":
    np.savez("weights.npz", w=rng.normal(size=(64, 64)), step=np.array(10))
    with open("weights.npz", "r+b") as f:
        f.truncate(f.seek(0, 2) // 2)
    print("resuming from weights.npz")
    state = np.load("weights.npz")
    w = state["w"]
if case == "bad-npy":
    np.save("weights.npy", rng.normal(size=(64, 64)))
    with open("weights.npy", "r+b") as f:
        f.truncate(f.seek(0, 2) // 2)
    print("resuming from weights.npy")
    w = np.load("weights.npy")

for step in range(1, 41 if case == "nan" else 31):
    err = X @ w - y
    loss = float(np.mean(err ** 2))
    grad = 2 * X.T @ err / len(y)
    w = w - lr * grad
    print(f"step {step} loss={loss:.6g} grad_norm={np.linalg.norm(grad):.6g}")
    if step % 10 == 0:
        np.savez("weights.npz", w=w, step=np.array(step))
    time.sleep(0.01)
print("done")
