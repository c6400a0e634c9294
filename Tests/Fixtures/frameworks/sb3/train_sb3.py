"""Stable-Baselines3 agents on gymnasium's built-in environments (CPU, verbose=1).

    python train_sb3.py CASE

CASE:
  normal         PPO on CartPole-v1, 4 rollouts of 256 steps, CheckpointCallback every 256 steps
                 (ckpts/); prints SB3's rollout/time/train table; lists the files written
  normal-dqn     DQN on CartPole-v1 with CheckpointCallback(save_replay_buffer=True): the
                 off-policy table (log_interval=4 episodes) and the replay-buffer file names
  nan            PPO on Pendulum-v1 with learning_rate=1e6: the Gaussian policy's mean becomes
                 nan and torch.distributions raises ValueError
  nan-discrete   PPO on CartPole-v1 with learning_rate=1e6: the Categorical policy's logits
  oom            DQN with buffer_size=10**10: the replay buffer cannot be allocated
  bad-ckpt       saves the PPO model (ppo.zip), cuts it in half and resumes with PPO.load
  bad-ckpt-tail  same, only the last 10 bytes cut (the zip's end-of-central-directory record)
"""
import os
import sys

from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import CheckpointCallback

case = sys.argv[1] if len(sys.argv) > 1 else "normal"


def listing():
    print("files written:")
    for root, dirs, files in sorted(os.walk(".")):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(f"  {p} ({os.path.getsize(p)} bytes)")


if case == "normal":
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=256, batch_size=64, n_epochs=2, verbose=1, seed=0)
    model.learn(total_timesteps=1024, callback=CheckpointCallback(save_freq=256, save_path="ckpts"))
    model.save("ppo_cartpole")
    listing()
elif case == "normal-dqn":
    model = DQN("MlpPolicy", "CartPole-v1", learning_starts=100, buffer_size=5000, verbose=1, seed=0)
    model.learn(total_timesteps=1500, log_interval=4,
                callback=CheckpointCallback(save_freq=500, save_path="ckpts", save_replay_buffer=True,
                                            save_vecnormalize=True))
    listing()
elif case in ("nan", "nan-discrete"):
    env = "Pendulum-v1" if case == "nan" else "CartPole-v1"
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=4, learning_rate=1e6, verbose=1, seed=0)
    model.learn(total_timesteps=4096)
elif case == "oom":
    model = DQN("MlpPolicy", "CartPole-v1", buffer_size=10**10, verbose=1, seed=0)
    model.learn(total_timesteps=1000)
elif case.startswith("bad-ckpt"):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=256, batch_size=64, verbose=0, seed=0)
    model.save("ppo")
    size = os.path.getsize("ppo.zip")
    keep = size // 2 if case == "bad-ckpt" else size - 10
    with open("ppo.zip", "r+b") as f:
        f.truncate(keep)
    print(f"resuming from ppo.zip ({keep} of {size} bytes)")
    model = PPO.load("ppo.zip", env="CartPole-v1")
    model.learn(total_timesteps=256)
