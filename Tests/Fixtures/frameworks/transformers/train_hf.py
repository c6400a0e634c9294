"""A tiny GPT-2 (random weights, built from a config: nothing is downloaded) trained with the
Hugging Face transformers Trainer on random tokens, CPU only.

    python train_hf.py CASE

CASE:
  normal           20 steps, logging_steps=1, eval every 5 steps, a checkpoint every 10 steps
                   (output_dir out/); lists the files written, oldest first
  nan              an inf injected into one embedding row before step 4 (GPT-2's LayerNorms keep
                   even lr=1e4 finite): the loss becomes nan from step 4 on;
                   logging_nan_inf_filter=True (the default)
  nan-nofilter     same, with logging_nan_inf_filter=False
  climb            SGD with a learning rate that grows 2x a step: the loss climbs, then nan
  oom              per_device_train_batch_size=512 with 512-token sequences and a 50257-word
                   vocabulary: the logits (53 GB) cannot be allocated
  bad-weights      trains 10 steps (checkpoint-5, checkpoint-10), cuts
                   checkpoint-10/model.safetensors in half, resumes with
                   trainer.train(resume_from_checkpoint=True)
  bad-state        same, trainer_state.json cut in half
  bad-optimizer    same, optimizer.pt cut in half
  bad-rng          same, rng_state.pth cut in half
  empty-ckpt-dir   same, checkpoint-10/ left empty (a save killed before its first file)
  no-ckpt          resume_from_checkpoint=True with no checkpoint in out/
"""
import json
import os
import sys
import time

import torch
from transformers import (GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback,
                          TrainingArguments)

case = sys.argv[1] if len(sys.argv) > 1 else "normal"
torch.manual_seed(0)
oom = case == "oom"
SEQ = 512 if oom else 16
VOCAB = 50257 if oom else 64


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n):
        g = torch.Generator().manual_seed(n)
        self.ids = torch.randint(0, VOCAB, (n, SEQ), generator=g)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


class Poison(TrainerCallback):
    def on_step_begin(self, args, state, control, model=None, **kw):
        if state.global_step == 3:
            with torch.no_grad():
                model.transformer.wte.weight[0] = float("inf")


class Slow(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        time.sleep(0.05)  # so that arrival times under a pipe can be seen


def make_trainer(max_steps, **overrides):
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=SEQ, n_embd=32, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(cfg)
    kw = dict(
        output_dir="out",
        max_steps=max_steps,
        per_device_train_batch_size=512 if oom else 8,
        per_device_eval_batch_size=8,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=5,
        save_steps=5 if case.startswith("bad") or case == "empty-ckpt-dir" else 10,
        report_to="none",
        use_cpu=True,
        seed=0,
        learning_rate=5e-4,
        logging_nan_inf_filter=(case != "nan-nofilter"),
        dataloader_num_workers=0,
    )
    kw.update(overrides)
    optimizers = (None, None)
    if case == "climb":
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        optimizers = (opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 2.0 ** s))
    return Trainer(model=model, args=TrainingArguments(**kw), train_dataset=Tokens(1024 if oom else 256),
                   eval_dataset=Tokens(16), callbacks=[Slow()] + ([Poison()] if case.startswith("nan") else []),
                   optimizers=optimizers)


def listing():
    print("files written (oldest first):")
    files = []
    for root, dirs, names in os.walk("out"):
        for n in names:
            p = os.path.join(root, n)
            files.append((os.stat(p).st_mtime_ns, p, os.path.getsize(p)))
    for _, p, size in sorted(files):
        print(f"  {p} ({size} bytes)")


if case in ("bad-weights", "bad-state", "bad-optimizer", "bad-rng", "empty-ckpt-dir", "no-ckpt"):
    if case != "no-ckpt":
        make_trainer(10).train()
        ck = "out/checkpoint-10"
        if case == "empty-ckpt-dir":
            for n in os.listdir(ck):
                os.remove(os.path.join(ck, n))
            print(f"emptied {ck}/")
        else:
            name = {"bad-weights": "model.safetensors", "bad-state": "trainer_state.json",
                    "bad-optimizer": "optimizer.pt", "bad-rng": "rng_state.pth"}[case]
            p = os.path.join(ck, name)
            size = os.path.getsize(p)
            with open(p, "r+b") as f:
                f.truncate(size // 2)
            print(f"cut {p} to {size // 2} of {size} bytes; resuming")
    make_trainer(20).train(resume_from_checkpoint=True)
    listing()
    sys.exit(0)

trainer = make_trainer(20)
trainer.train()
listing()
