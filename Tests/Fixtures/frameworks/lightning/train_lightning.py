"""A tiny Lightning 2.x regression model (CPU).

    python train_lightning.py CASE

CASE:
  normal         3 epochs of 8 steps, train_loss/val_loss logged with prog_bar=True, the default
                 progress bar (RichProgressBar when `rich` is installed, TQDMProgressBar when not)
                 and the default ModelCheckpoint plus save_last=True; lists the files written
  normal-noprog  the same with enable_progress_bar=False (what a supervisor gets then)
  climb          the learning rate grows 1.5x a step: train_loss climbs to 1e30 and beyond
  nan            learning rate 1e6: the loss becomes nan; Lightning goes on (exit 0)
  nan-earlystop  same, with EarlyStopping(monitor="train_loss", check_finite=True): stops silently
  nan-earlystop-verbose  same with verbose=True: prints "Monitored metric … is not finite"
  nan-anomaly    same, with Trainer(detect_anomaly=True)
  oom            a 40 TB tensor allocated in training_step at step 3
  bad-ckpt       fits one epoch (writes epoch=0-step=8.ckpt), cuts it in half and resumes with
                 trainer.fit(model, ckpt_path=…)
  bad-last       ModelCheckpoint(dirpath="checkpoints", save_last=True), one epoch, last.ckpt cut
                in half, resumed by a new Trainer with ckpt_path="last"
  last-not-found the default ModelCheckpoint (dirpath under lightning_logs/version_N/), resumed by a
                new Trainer with ckpt_path="last": the new Trainer looks in version_1/, finds
                nothing, warns and starts from scratch (exit 0)
"""
import os
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

case = sys.argv[1] if len(sys.argv) > 1 else "normal"
L.seed_everything(0)

X = torch.randn(256, 8)
Y = X @ torch.randn(8, 1) + 0.1 * torch.randn(256, 1)
train = DataLoader(TensorDataset(X, Y), batch_size=32)
val = DataLoader(TensorDataset(X[:64], Y[:64]), batch_size=32)


class Regressor(L.LightningModule):
    def __init__(self, lr):
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))

    def training_step(self, batch, i):
        x, y = batch
        if case == "oom" and self.global_step == 3:
            x = torch.randn(10**13 // 8, 8)
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, prog_bar=True)
        time.sleep(0.05)  # so that arrival times under a pipe can be seen
        return loss

    def on_train_batch_end(self, outputs, batch, i):
        if case == "climb":
            for g in self.optimizers().param_groups:
                g["lr"] = 0.01 * 1.5 ** self.global_step

    def validation_step(self, batch, i):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


lr = 1e6 if case.startswith("nan") else 1e-2
def checkpointer():
    return ModelCheckpoint(save_last=True, dirpath="checkpoints" if case == "bad-last" else None)


callbacks = [checkpointer()]
if case.startswith("nan-earlystop"):
    callbacks.append(EarlyStopping(monitor="train_loss", check_finite=True, verbose=case.endswith("verbose")))
trainer = L.Trainer(
    max_epochs=1 if case.startswith("bad") or case == "last-not-found" else 3,
    accelerator="cpu",
    log_every_n_steps=1,
    enable_progress_bar=(case != "normal-noprog"),
    detect_anomaly=(case == "nan-anomaly"),
    callbacks=callbacks,
    default_root_dir=".",
)
model = Regressor(lr)
trainer.fit(model, train, val)

if case.startswith("bad") or case == "last-not-found":
    ckdir = trainer.checkpoint_callback.dirpath
    path = os.path.join(ckdir, "epoch=0-step=8.ckpt" if case == "bad-ckpt" else "last.ckpt")
    size = os.path.getsize(path)
    if case != "last-not-found":
        with open(path, "r+b") as f:
            f.truncate(size // 2)
        print(f"resuming from {path} ({size // 2} of {size} bytes)")
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", default_root_dir=".", callbacks=[checkpointer()])
    trainer.fit(Regressor(lr), train, val, ckpt_path=path if case == "bad-ckpt" else "last")

print("files written:")
for root, dirs, files in sorted(os.walk(".")):
    for f in sorted(files):
        p = os.path.join(root, f)
        print(f"  {p}{' -> ' + os.readlink(p) if os.path.islink(p) else ''} ({os.path.getsize(p)} bytes)")
