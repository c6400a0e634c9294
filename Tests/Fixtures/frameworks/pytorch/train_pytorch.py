"""A plain PyTorch training loop (CPU), in the style most hand-written trainers use.

    python train_pytorch.py CASE

CASE:
  normal        20 steps of a small regression MLP; prints `epoch E step S loss=… grad_norm=… lr=…`
                and an eval line per epoch; saves ckpt.pt with torch.save each epoch
  nan           learning rate 1e6: the loss climbs, overflows to inf and becomes nan; the loop
                goes on printing `loss=nan` (nothing in PyTorch stops it)
 climb         the learning rate grows 1.5x a step (a runaway warm-up): the loss falls, then climbs
                through 1e2 … 1e30 to inf and nan over a few epochs
  nan-clip      same, with clip_grad_norm_(…, error_if_nonfinite=True): PyTorch raises
  nan-anomaly   same, under torch.autograd.set_detect_anomaly(True): PyTorch raises in backward
  nan-check     same, the common hand-written guard: `raise ValueError(f"Loss is {loss}…")`
  oom           a batch tensor of 10**13 float32 elements (40 TB) inside the loop
  oom-cap       a 4 GB batch, meant to run under `prlimit --as=5000000000` (the CUDA build of torch
                needs ~3.4 GB of address space to import: under --as=2000000000 `import torch`
                itself fails with ImportError: libtorch_cuda.so: failed to map segment …)
  bad-ckpt      writes ckpt.pt, cuts it to half its size and resumes from it with torch.load
  bad-ckpt-head same, cut to its first 100 bytes
  empty-ckpt    same, a 0-byte ckpt.pt
  bad-ckpt-mid  a 33 KB checkpoint cut to 16 KB: a cut file between ~4 KB and ~64 KB fails with a
                bare `OSError: [Errno 22] Invalid argument` instead of the miniz message
  corrupt-ckpt  same, full length but 64 bytes of the zip's central directory overwritten with
                zeros (zeroing bytes of tensor data instead loads silently: no CRC is checked)
  weights-only  a checkpoint holding an object outside torch.load's weights_only allow-list
                (an argparse.Namespace of hyper-parameters): loads with torch < 2.6, fails since
"""
import math
import time
import os
import sys

import torch
from torch import nn

case = sys.argv[1] if len(sys.argv) > 1 else "normal"
torch.manual_seed(0)

X = torch.randn(256, 8)
Y = X @ torch.randn(8, 1) + 0.1 * torch.randn(256, 1)
Xv = torch.randn(64, 8)
Yv = Xv @ torch.randn(8, 1)

model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
lr = 1e6 if case.startswith("nan") else 1e-2
opt = torch.optim.SGD(model.parameters(), lr=lr)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
loss_fn = nn.MSELoss()
ckpt = "ckpt.pt"


def save(epoch, step):
    torch.save({"epoch": epoch, "step": step, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, ckpt)


if case in ("bad-ckpt", "bad-ckpt-head", "empty-ckpt", "corrupt-ckpt", "weights-only", "bad-ckpt-mid"):
    if case == "bad-ckpt-mid":
        model = nn.Sequential(nn.Linear(8, 1024), nn.ReLU(), nn.Linear(1024, 1))
    save(0, 0)
    size = os.path.getsize(ckpt)
    if case == "corrupt-ckpt":
        with open(ckpt, "r+b") as f:
            at = f.read().index(b"PK\x01\x02")  # first central-directory record
            f.seek(at)
            f.write(bytes(64))
        print(f"resuming from {ckpt} ({size} bytes, 64 zeroed at {at})")
    elif case == "weights-only":
        import argparse
        torch.save({"model": model.state_dict(), "args": argparse.Namespace(lr=lr)}, ckpt)
        print(f"resuming from {ckpt}")
    else:
        keep = {"bad-ckpt": size // 2, "bad-ckpt-head": 100, "empty-ckpt": 0, "bad-ckpt-mid": 16384}[case]
        with open(ckpt, "r+b") as f:
            f.truncate(keep)
        print(f"resuming from {ckpt} ({keep} of {size} bytes)")
    state = torch.load(ckpt)  # weights_only=True is the default since torch 2.6
    model.load_state_dict(state["model"])
    sys.exit(0)

if case == "nan-anomaly":
    torch.autograd.set_detect_anomaly(True)

step = 0
for epoch in range(4):
    for i in range(0, 256, 32):
        xb, yb = X[i:i + 32], Y[i:i + 32]
        if case == "oom" and step == 3:
            xb = torch.randn(10**13 // 8, 8)  # 40 TB of float32
        if case == "oom-cap" and step == 3:
            xb = torch.randn(10**9 // 8, 8)  # 4 GB of float32
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1e9,
                                            error_if_nonfinite=(case == "nan-clip"))
        if case == "nan-check" and not math.isfinite(loss.item()):
            raise ValueError(f"Loss is {loss.item()}, stopping training")
        if case == "climb":
            for g in opt.param_groups:
                g["lr"] = 0.01 * 1.5 ** step
        opt.step()
        step += 1
        time.sleep(0.02)  # so that arrival times under a pipe can be seen
        print(f"epoch {epoch} step {step} loss={loss.item():.6g} grad_norm={gn.item():.6g} lr={opt.param_groups[0]['lr']:.6g}")
    sched.step()
    with torch.no_grad():
        vl = loss_fn(model(Xv), Yv).item()
    print(f"epoch {epoch} val_loss={vl:.6g}")
    save(epoch, step)
print("done")
