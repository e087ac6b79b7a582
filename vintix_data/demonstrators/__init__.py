"""Demonstrators: the expert policy pi_D that noise distillation corrupts (docs/design.md §3, §1).

base.py          the protocol (batch-invariant ``act``) and the ``zero`` / ``random`` baselines
sb3.py           Stable-Baselines3 / sb3-contrib zips (``sb3:PATH.zip``, ``hub:ORG/REPO[/FILE.zip]``), re-evaluated in NumPy
vecnorm.py       a repo's ``vec_normalize.pkl`` read without the classes it names
specs.py         ``load_demonstrator(SPEC, ...)``
baselines.py     seeded episode returns of a policy (reference scores, the gate)
gate.py          is a demonstrator clearly better than random here?
train_ib.py      the paper's PPO recipe for Industrial Benchmark
train_mujoco.py  rl-zoo3's tuned TQC/SAC/TD3/PPO for MuJoCo (and any other Box task); recipes.py holds the settings
bc.py            behaviour cloning (``--algo bc --from SOURCE``) into a TD3-shaped zip
resumable.py     a training's whole state in one file (killed, it continues to the same policy bits)
"""

from vintix_data.demonstrators.base import Demonstrator, DemonstratorError, RandomDemonstrator, ZeroDemonstrator
from vintix_data.demonstrators.sb3 import SB3Demonstrator, load_hub, load_sb3
from vintix_data.demonstrators.specs import load_demonstrator

__all__ = [
    "Demonstrator",
    "DemonstratorError",
    "RandomDemonstrator",
    "SB3Demonstrator",
    "ZeroDemonstrator",
    "load_demonstrator",
    "load_hub",
    "load_sb3",
]
