#!/usr/bin/env python3
"""A minimal stable-baselines3 trainer that speaks Vigil's protocol through vigil_trainer.

PPO with a small network on CartPole-v1, 6144 timesteps on CPU in seconds. It shows:

- SB3's own checkpoints, model.save(), as rl_model_<timesteps>_steps.zip (the names of SB3's
  CheckpointCallback) in the checkpoint directory: vigil.SB3Callback writes them atomically
  every --save-every environment steps, on the checkpoint signal (USR1) and on SIGTERM
  (then learn() stops and the script exits 143);
- resuming with PPO.load() from VIGIL_RESUME_FROM, or with --resume [PATH] from PATH or the
  latest checkpoint, and learn(reset_num_timesteps=False) for the timesteps left;
- the learning-rate repair applied when learn() starts (PPO.load brings back the saved
  learning rate; SB3 sets the optimizer's rate from it at every update);
- "step N/T reward=... lr=..." at the end of each rollout, and the heartbeat.

    python3 examples/sb3/train.py
    vigil run --policy sb3 -- python3 examples/sb3/train.py --crash-at 3000
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
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
except ImportError:
    print("skipped: stable-baselines3 is not installed")
    sys.exit(0)

PATTERN = "rl_model_{step}_steps.zip"


class CrashAt(BaseCallback):
    def __init__(self, timesteps):
        super().__init__()
        self.timesteps = timesteps

    def _on_step(self):
        if self.num_timesteps >= self.timesteps:
            raise RuntimeError("simulated fault at timestep %d" % self.num_timesteps)
        return True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timesteps", type=int, default=6144)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--save-every", type=int, default=1024, help="environment steps between checkpoints")
    p.add_argument("--checkpoint-dir", default=vigil.checkpoint_dir())
    p.add_argument("--resume", nargs="?", const="latest", metavar="PATH")
    p.add_argument("--crash-at", type=int, help="raise at this timestep (fresh runs only)")
    args = p.parse_args()

    path = vigil.resume_from()
    if path is None and args.resume is not None:
        path = vigil.latest_checkpoint(args.checkpoint_dir, PATTERN) if args.resume == "latest" else args.resume
        if path is None:
            print("no checkpoint in %s, starting fresh" % args.checkpoint_dir)

    env = gym.make("CartPole-v1")
    if path:
        model = PPO.load(path, env=env, device="cpu")
        print("resumed from %s at timestep %d" % (path, model.num_timesteps))
    else:
        model = PPO("MlpPolicy", env, learning_rate=args.lr, n_steps=512, batch_size=64, n_epochs=4,
                    policy_kwargs={"net_arch": [32]}, seed=0, device="cpu", verbose=0)
    callbacks = [vigil.SB3Callback(save_dir=args.checkpoint_dir, save_freq=args.save_every)]
    if args.crash_at and not path:
        callbacks.append(CrashAt(args.crash_at))
    left = args.timesteps - model.num_timesteps
    if left > 0:
        model.learn(total_timesteps=left, callback=callbacks, reset_num_timesteps=False)
    vigil.exit_if_stopped("stopped by SIGTERM at timestep %d, checkpoint saved" % model.num_timesteps)
    final = os.path.join(args.checkpoint_dir, PATTERN.format(step=model.num_timesteps))
    if not os.path.exists(final):
        vigil.atomic_save(final, model.save)
    print("training complete: timestep %d, saved %s" % (model.num_timesteps, final))


if __name__ == "__main__":
    main()
