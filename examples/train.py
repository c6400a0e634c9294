#!/usr/bin/env python3
"""A toy trainer for trying Vigil: crash, resume, finish.

It fits a line (y = 3x - 2 plus noise) by stochastic gradient descent, in plain Python
with a fixed seed, and behaves like a real training script in the ways that matter:

- one line of progress per epoch: "epoch 3/8 loss=0.1234";
- a checkpoint after every epoch, checkpoints/model_ep{epoch}.json, written atomically
  (temporary file, fsync, rename), so a kill never leaves half a checkpoint;
- --resume continues from the latest checkpoint (or --resume PATH from that one);
- Vigil's checkpoint signal ($VIGIL_CHECKPOINT_SIGNAL, default USR1) means "save now
  and go on"; since every epoch is saved, it just acknowledges at the next save;
- a fresh run (no --resume) dies in epoch 4 with a simulated hardware fault, the way
  a long job dies at 2 a.m.

    python3 examples/train.py              # crashes in epoch 4
    python3 examples/train.py --resume     # continues after epoch 3 and finishes
    vigil run -- python3 examples/train.py # Vigil sees the crash and resumes it for you

The checkpoint directory is --checkpoint-dir, else $VIGIL_CHECKPOINT_DIR (set by Vigil),
else ./checkpoints.
"""

import argparse
import json
import os
import random
import re
import signal
import sys
import time

BATCH = 16


def make_data(n=256, seed=0):
    rng = random.Random(seed)
    xs = [rng.uniform(-1, 1) for _ in range(n)]
    return [(x, 3 * x - 2 + rng.gauss(0, 0.1)) for x in xs]


def mse(data, w, b):
    return sum((w * x + b - y) ** 2 for x, y in data) / len(data)


def check_device(epoch, batch):
    # Stands in for the CUDA call that fails on real hardware.
    raise RuntimeError(f"simulated hardware fault: device 0 stopped responding in epoch {epoch}, batch {batch}")


def train_epoch(data, w, b, epoch, lr, fail):
    order = list(range(len(data)))
    random.Random(epoch).shuffle(order)  # seeded per epoch: a resumed run sees the same batches
    for batch, start in enumerate(range(0, len(order), BATCH), 1):
        if fail and batch == 8:
            check_device(epoch, batch)
        samples = [data[i] for i in order[start:start + BATCH]]
        grad_w = sum(2 * (w * x + b - y) * x for x, y in samples) / len(samples)
        grad_b = sum(2 * (w * x + b - y) for x, y in samples) / len(samples)
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b


def save_checkpoint(directory, state):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"model_ep{state['epoch']}.json")
    tmp = os.path.join(directory, f".model_ep{state['epoch']}.json.tmp")
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
    return path


def latest_checkpoint(directory):
    if not os.path.isdir(directory):
        return None
    epochs = [int(m.group(1)) for name in os.listdir(directory) if (m := re.fullmatch(r"model_ep(\d+)\.json", name))]
    return os.path.join(directory, f"model_ep{max(epochs)}.json") if epochs else None


def main():
    parser = argparse.ArgumentParser(description="Toy linear-regression trainer for the Vigil demo.")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--checkpoint-dir", default=os.environ.get("VIGIL_CHECKPOINT_DIR") or "checkpoints")
    parser.add_argument("--resume", nargs="?", const="auto", metavar="PATH",
                        help="resume from PATH, or from the latest checkpoint if no PATH is given")
    args = parser.parse_args()

    # Without a handler the checkpoint signal would kill the script; a flag is all a
    # handler should touch (printing from it can collide with the main thread's print).
    requested = []
    signame = "SIG" + (os.environ.get("VIGIL_CHECKPOINT_SIGNAL") or "USR1").upper().removeprefix("SIG")
    signal.signal(getattr(signal, signame), lambda signum, frame: requested.append(signum))

    data = make_data()
    w, b, first = 0.0, 0.0, 1
    if args.resume is not None:
        path = latest_checkpoint(args.checkpoint_dir) if args.resume == "auto" else args.resume
        if path is None:
            print(f"no checkpoint in {args.checkpoint_dir}/, starting from scratch", flush=True)
        elif not os.path.exists(path):
            sys.exit(f"error: no such checkpoint: {path}")
        else:
            with open(path) as f:
                state = json.load(f)
            w, b, first = state["w"], state["b"], state["epoch"] + 1
            print(f"resumed from {path} (epoch {state['epoch']}, loss={state['loss']:.4f})", flush=True)

    for epoch in range(first, args.epochs + 1):
        # Only a fresh run fails, so that the resumed run can show the way out.
        w, b = train_epoch(data, w, b, epoch, args.lr, fail=args.resume is None and epoch == 4)
        loss = mse(data, w, b)
        time.sleep(0.3)  # make it look like work
        print(f"epoch {epoch}/{args.epochs} loss={loss:.4f}", flush=True)
        path = save_checkpoint(args.checkpoint_dir, {"epoch": epoch, "loss": loss, "w": w, "b": b})
        if requested:
            requested.clear()
            print(f"checkpoint requested by {signame}: saved {path}", flush=True)

    sign = "-" if b < 0 else "+"
    print(f"training complete: y = {w:.3f}x {sign} {abs(b):.3f} (target 3x - 2), loss={mse(data, w, b):.4f}",
          flush=True)


if __name__ == "__main__":
    main()
