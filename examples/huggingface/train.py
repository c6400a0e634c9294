#!/usr/bin/env python3
"""A minimal transformers Trainer that speaks Vigil's protocol through vigil_trainer.

A one-layer GPT-2 built from a config (nothing downloaded) learns to count modulo 64 on
CPU, 120 steps in seconds. It shows:

- the Trainer's own checkpoints: checkpoint-N directories in the checkpoint directory every
  --save-every steps (trainer_state.json is written last: the marker of a whole one);
  vigil.HFCallback asks for one more (control.should_save) at the end of the step when the
  checkpoint signal (USR1) or SIGTERM comes;
- resuming with trainer.train(resume_from_checkpoint=...) from VIGIL_RESUME_FROM, or with
  --resume [PATH] from PATH or the Trainer's latest checkpoint-N;
- the learning-rate repair applied in on_train_begin, after the Trainer restored the
  optimizer and its LambdaLR scheduler (which bring the failed run's rate back);
- "step N/T loss=..." at each logging step with the raw training loss: --nan-at STEP makes
  the loss NaN from that step on (fresh runs only), which the Trainer's
  logging_nan_inf_filter hides from its own logs, and these lines show;
- after SIGTERM: the checkpoint, then exit 143 (vigil.exit_if_stopped()).

    python3 examples/huggingface/train.py
    vigil run --policy huggingface -- python3 examples/huggingface/train.py --nan-at 70
"""

import argparse
import os
import sys

# examples/ holds vigil_trainer.py, and also directories named like the libraries (xgboost/,
# lightgbm/, lightning/): on sys.path they would pass for them, so it is there only for this import.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import vigil_trainer as vigil  # noqa: E402

del sys.path[0]

try:
    import torch
    import transformers
    from transformers.trainer_utils import get_last_checkpoint
except ImportError:
    print("skipped: transformers is not installed")
    sys.exit(0)


class Counting(torch.utils.data.Dataset):
    """Sequences k, k+1, k+2, ... modulo the vocabulary."""

    def __init__(self, n=512, length=16, vocab=64):
        g = torch.Generator().manual_seed(0)
        self.starts = torch.randint(0, vocab, (n,), generator=g)
        self.length, self.vocab = length, vocab

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, i):
        ids = (self.starts[i] + torch.arange(self.length)) % self.vocab
        return {"input_ids": ids, "labels": ids}


class NaNAfter(transformers.TrainerCallback):
    """Poisons the model's loss from a given step on, as a diverging run would."""

    def __init__(self, model, step):
        self.step, self.state = step, None
        model.register_forward_hook(self.hook)

    def on_step_begin(self, args, state, control, **kwargs):
        self.state = state

    def hook(self, module, inputs, output):
        if module.training and self.state is not None and self.state.global_step + 1 >= self.step:
            output.loss = output.loss * float("nan")
        return output


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--save-every", type=int, default=40)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--checkpoint-dir", default=vigil.checkpoint_dir())
    p.add_argument("--resume", nargs="?", const="latest", metavar="PATH")
    p.add_argument("--nan-at", type=int, help="NaN loss from this step on (fresh runs only)")
    args = p.parse_args()

    path = vigil.resume_from()
    if path is None and args.resume is not None:
        found = get_last_checkpoint(args.checkpoint_dir) if os.path.isdir(args.checkpoint_dir) else None
        path = found if args.resume == "latest" else args.resume
        if path is None:
            print("no checkpoint in %s, starting fresh" % args.checkpoint_dir)

    transformers.set_seed(0)
    config = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=1, n_head=2)
    model = transformers.GPT2LMHeadModel(config)
    training_args = transformers.TrainingArguments(
        output_dir=args.checkpoint_dir,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        warmup_steps=10,
        logging_steps=args.log_every,
        save_steps=args.save_every,
        save_strategy="steps",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
        seed=0,
    )
    callbacks = [vigil.HFCallback()]
    if args.nan_at and path is None:
        callbacks.append(NaNAfter(model, args.nan_at))
    trainer = transformers.Trainer(model=model, args=training_args, train_dataset=Counting(), callbacks=callbacks)
    trainer.train(resume_from_checkpoint=path)
    vigil.exit_if_stopped("stopped by SIGTERM at step %d, checkpoint saved" % trainer.state.global_step)
    print("training complete: step %d" % trainer.state.global_step)


if __name__ == "__main__":
    main()
