#!/usr/bin/env python3
"""A deterministic toy trainer for `vigil drill`'s tests (standard library only).

It trains four weights towards a target with SGD and momentum (the "optimizer state") on noisy
gradients drawn from a seeded RNG (the "data order"), prints `step N/T loss=…` for every step,
checkpoints every K steps to CHECKPOINT_DIR/model_step{N}.json (weights, momentum and the RNG's
state; written to a temporary file and renamed into place), and writes the final weights to --out.
Run uninterrupted or resumed correctly, it writes the same bytes every time.

Signals: USR1 saves a checkpoint at the end of the current step and goes on; TERM saves one and
exits 143. Each flag below plants one resume bug.
"""

import argparse
import json
import os
import random
import re
import signal
import sys
import time

TARGET = [1.0, -2.0, 0.5, 3.0]
LEARNING_RATE = 0.05
MOMENTUM = 0.9


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=40, help="total steps (default 40)")
    p.add_argument("--step-time", type=float, default=0.02, metavar="SECONDS", help="sleep per step")
    p.add_argument("--checkpoint-every", type=int, default=5, metavar="K", help="checkpoint every K steps")
    p.add_argument(
        "--checkpoint-dir", default=os.environ.get("VIGIL_CHECKPOINT_DIR") or "checkpoints",
        help="default: $VIGIL_CHECKPOINT_DIR, else ./checkpoints")
    p.add_argument(
        "--save-time", type=float, default=0.05, metavar="SECONDS",
        help="a save takes this long (the file is written in four pieces)")
    p.add_argument("--out", default="model.json", help="the final model (default model.json)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--resume", nargs="?", const="auto", metavar="PATH",
                   help="resume from PATH, or from the newest checkpoint when PATH is absent or 'auto'")
    bugs = p.add_argument_group("planted bugs")
    bugs.add_argument("--ignore-resume", action="store_true", help="accept --resume and start from step 0")
    bugs.add_argument("--no-optimizer-state", action="store_true",
                      help="restore the weights but not the momentum")
    bugs.add_argument("--no-rng-state", action="store_true",
                      help="restore the weights but reseed the RNG (the data order starts over)")
    bugs.add_argument("--non-atomic-save", action="store_true",
                      help="write checkpoints in place under their final name (a kill leaves a torn file)")
    return p.parse_args()


class Flags:
    save = False
    stop = False


def on_signal(number, _frame):
    if number == signal.SIGTERM:
        Flags.stop = True
    Flags.save = True


def write_slowly(handle, text, seconds):
    pieces = 4
    size = (len(text) + pieces - 1) // pieces
    for index in range(pieces):
        handle.write(text[index * size:(index + 1) * size])
        handle.flush()
        if index < pieces - 1 and seconds > 0:
            time.sleep(seconds / (pieces - 1))


def save(args, step, weights, momentum, rng):
    os.makedirs(args.checkpoint_dir, exist_ok=True)
    version, internal, gauss_next = rng.getstate()
    state = {"step": step, "weights": weights, "momentum": momentum, "rng": [version, list(internal), gauss_next]}
    text = json.dumps(state)
    path = os.path.join(args.checkpoint_dir, "model_step%d.json" % step)
    if args.non_atomic_save:
        with open(path, "w") as handle:
            write_slowly(handle, text, args.save_time)
    else:
        temporary = path + ".tmp"
        with open(temporary, "w") as handle:
            write_slowly(handle, text, args.save_time)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    print("saved %s" % os.path.basename(path), flush=True)


def newest_checkpoint(directory):
    best = None
    for name in os.listdir(directory) if os.path.isdir(directory) else []:
        match = re.fullmatch(r"model_step(\d+)\.json", name)
        if match and (best is None or int(match.group(1)) > best[0]):
            best = (int(match.group(1)), os.path.join(directory, name))
    return best[1] if best else None


def main():
    args = parse()
    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    rng = random.Random(args.seed)
    weights = [0.0] * len(TARGET)
    momentum = [0.0] * len(TARGET)
    start = 0
    if args.resume and not args.ignore_resume:
        path = newest_checkpoint(args.checkpoint_dir) if args.resume == "auto" else args.resume
        if path:
            with open(path) as handle:
                state = json.load(handle)
            start = state["step"]
            weights = state["weights"]
            if not args.no_optimizer_state:
                momentum = state["momentum"]
            if not args.no_rng_state:
                version, internal, gauss_next = state["rng"]
                rng.setstate((version, tuple(internal), gauss_next))
            print("resumed from step %d" % start, flush=True)
    for step in range(start + 1, args.steps + 1):
        noise = [rng.gauss(0.0, 0.1) for _ in TARGET]
        for i, target in enumerate(TARGET):
            gradient = 2.0 * (weights[i] - target) + noise[i]
            momentum[i] = MOMENTUM * momentum[i] + gradient
            weights[i] -= LEARNING_RATE * momentum[i]
        loss = sum((w - t) ** 2 for w, t in zip(weights, TARGET)) / len(TARGET)
        print("step %d/%d loss=%.12f" % (step, args.steps, loss), flush=True)
        time.sleep(args.step_time)
        if Flags.save or (args.checkpoint_every > 0 and step % args.checkpoint_every == 0):
            Flags.save = False
            save(args, step, weights, momentum, rng)
        if Flags.stop:
            print("got SIGTERM, stopping at step %d" % step, flush=True)
            sys.exit(143)
    temporary = args.out + ".tmp"
    with open(temporary, "w") as handle:
        json.dump({"steps": args.steps, "weights": weights}, handle)
    os.replace(temporary, args.out)
    print("done: wrote %s" % args.out, flush=True)


if __name__ == "__main__":
    main()
