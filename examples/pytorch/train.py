#!/usr/bin/env python3
"""A minimal PyTorch trainer that speaks Vigil's protocol through vigil_trainer.

A small MLP fits y = sin(3x) on CPU, 200 steps in a few seconds, with Adam and a cosine
schedule. It shows:

- checkpoints with torch.save of model, optimizer, scheduler and step, written atomically
  (vigil.atomic_save) as model_step{step}.pt every --save-every steps, on the checkpoint
  signal (USR1) and on SIGTERM (then it exits 143);
- resuming from VIGIL_RESUME_FROM, or with --resume [PATH] from PATH or the latest
  checkpoint in the checkpoint directory (the shipped pytorch policy has no
  checkpoints.pattern, so Vigil passes --resume and the trainer looks itself);
- the learning-rate repair applied after the optimizer's and scheduler's state were loaded
  (vigil.apply_to_optimizer), since loading them brings back the failed run's rate;
- "step N/T loss=..." lines and the heartbeat (vigil.log_progress);
- --crash-at STEP and --nan-at STEP to see Vigil restart it (both only on a fresh start).

    python3 examples/pytorch/train.py
    vigil run --policy pytorch -- python3 examples/pytorch/train.py --crash-at 120
"""

import argparse
import math
import os
import sys
import time

# examples/ holds vigil_trainer.py, and also directories named like the libraries (xgboost/,
# lightgbm/, lightning/): on sys.path they would pass for them, so it is there only for this import.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import vigil_trainer as vigil  # noqa: E402

del sys.path[0]

try:
    import torch
except ImportError:
    print("skipped: torch is not installed")
    sys.exit(0)

PATTERN = "model_step{step}.pt"


def make_data(n=512):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, generator=g) * 2 - 1
    return x, torch.sin(3 * x)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--step-time", type=float, default=0.01, help="seconds of sleep per step (time to send signals)")
    p.add_argument("--checkpoint-dir", default=vigil.checkpoint_dir())
    p.add_argument("--resume", nargs="?", const="latest", metavar="PATH")
    p.add_argument("--crash-at", type=int, help="raise at this step (fresh runs only)")
    p.add_argument("--nan-at", type=int, help="report a NaN loss from this step on (fresh runs only)")
    args = p.parse_args()

    vigil.install()
    torch.manual_seed(0)
    x, y = make_data()
    model = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)

    step = 0
    path = vigil.resume_from()
    if path is None and args.resume is not None:
        path = vigil.latest_checkpoint(args.checkpoint_dir, PATTERN) if args.resume == "latest" else args.resume
        if path is None:
            print("no checkpoint in %s, starting fresh" % args.checkpoint_dir)
    resumed = path is not None
    if resumed:
        state = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        step = state["step"]
        print("resumed from %s at step %d, lr=%g" % (path, step, optimizer.param_groups[0]["lr"]))
    # After load_state_dict: the checkpoint's learning rate would undo Vigil's repair.
    lr = vigil.apply_to_optimizer(optimizer, scheduler)
    if lr is not None:
        print("learning rate override: base lr %g, now %g" % (lr, optimizer.param_groups[0]["lr"]))

    def save():
        target = os.path.join(args.checkpoint_dir, PATTERN.format(step=step))
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(), "step": step}
        vigil.atomic_save(target, lambda tmp: torch.save(state, tmp))
        print("saved %s" % target, flush=True)

    while step < args.steps:
        index = torch.randint(0, len(x), (args.batch_size,))
        loss = torch.nn.functional.mse_loss(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        step += 1
        if args.step_time:
            time.sleep(args.step_time)
        value = loss.item()
        vigil.heartbeat()  # at most one touch a second
        if args.nan_at and not resumed and step >= args.nan_at:
            value = math.nan  # what a diverged run prints; Vigil's nan-loss rule stops it
        if step % args.log_every == 0 or not math.isfinite(value):
            vigil.log_progress(step, args.steps, loss=value, lr=scheduler.get_last_lr()[0])
        if args.crash_at and not resumed and step == args.crash_at:
            raise RuntimeError("simulated fault at step %d" % step)
        if vigil.checkpoint_requested() or vigil.stop_requested() or step % args.save_every == 0:
            vigil.clear_checkpoint_request()
            save()
        vigil.exit_if_stopped("stopped by SIGTERM at step %d, checkpoint saved" % step)
    print("training complete: step %d loss=%.5f" % (step, loss.item()))


if __name__ == "__main__":
    main()
