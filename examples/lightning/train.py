#!/usr/bin/env python3
"""A minimal Lightning trainer that speaks Vigil's protocol through vigil_trainer.

A small MLP regression on CPU, 200 steps in seconds. It shows:

- Lightning's own checkpoints: ModelCheckpoint writes epoch=E-step=S.ckpt in the checkpoint
  directory every --save-every steps; vigil.LightningCallback makes those writes atomic and
  adds one at the end of the batch when the checkpoint signal (USR1) or SIGTERM comes;
- resuming with trainer.fit(ckpt_path=...) from VIGIL_RESUME_FROM, or with --resume [PATH]
  from PATH or the latest checkpoint in the directory;
- the learning-rate repair applied in on_train_start, after Lightning restored the
  optimizer and scheduler (which would bring the failed run's rate back);
- "step N/T loss=..." lines every --log-every steps, under Lightning's progress bar;
- after SIGTERM, exit code 143 (Lightning's own SIGTERM exit is 0, which Vigil would take
  for success);
- --crash-at STEP to see Vigil restart it (fresh runs only).

    python3 examples/lightning/train.py
    vigil run --policy lightning -- python3 examples/lightning/train.py --crash-at 120
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
    import torch
    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl
except ImportError:
    print("skipped: lightning is not installed")
    sys.exit(0)

PATTERN = "epoch=*-step={step}.ckpt"


class Regressor(pl.LightningModule):
    def __init__(self, lr, max_steps, crash_at=None, step_time=0.0):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))

    def training_step(self, batch, batch_idx):
        if self.hparams.crash_at and self.global_step + 1 == self.hparams.crash_at:
            raise RuntimeError("simulated fault at step %d" % (self.global_step + 1))
        if self.hparams.step_time:
            time.sleep(self.hparams.step_time)
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.hparams.max_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--step-time", type=float, default=0.01)
    p.add_argument("--checkpoint-dir", default=vigil.checkpoint_dir())
    p.add_argument("--resume", nargs="?", const="latest", metavar="PATH")
    p.add_argument("--crash-at", type=int)
    args = p.parse_args()

    path = vigil.resume_from()
    if path is None and args.resume is not None:
        path = vigil.latest_checkpoint(args.checkpoint_dir, PATTERN) if args.resume == "latest" else args.resume
        if path is None:
            print("no checkpoint in %s, starting fresh" % args.checkpoint_dir)

    pl.seed_everything(0, verbose=False)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(640, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(640, 1, generator=g)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=args.batch_size,
                                       shuffle=True, generator=g)

    model = Regressor(args.lr, args.steps, crash_at=None if path else args.crash_at, step_time=args.step_time)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=args.steps,
        logger=False,
        enable_model_summary=False,
        log_every_n_steps=args.log_every,
        callbacks=[
            pl.callbacks.ModelCheckpoint(dirpath=args.checkpoint_dir, every_n_train_steps=args.save_every,
                                         save_top_k=-1),
            vigil.LightningCallback(every_n_steps=args.log_every),
        ],
    )
    trainer.fit(model, data, ckpt_path=path)
    print("training complete: step %d" % trainer.global_step)


if __name__ == "__main__":
    main()
