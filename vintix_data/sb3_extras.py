"""SB3 building blocks our own demonstrator checkpoints reference by import path.

A checkpoint trained here stores ``ScaledObservation`` as its features extractor, so loading it
needs this module importable (``vintix_data`` is installed wherever its datasets are made).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor


class ScaledObservation(BaseFeaturesExtractor):
    """Multiply observations by a fixed per-feature scale.

    Industrial Benchmark observations live in [0, 100] and beyond; fed raw, a tanh MLP starts
    saturated and PPO learns slowly. A fixed scale (not running statistics) keeps the policy a pure
    function of the observation, which the collector's determinism contract needs.
    """

    scale: torch.Tensor  # a registered buffer (saved with the policy, moved with .to())

    def __init__(self, observation_space: gym.spaces.Box, scale: list[float] | float = 0.01):
        super().__init__(observation_space, features_dim=int(np.prod(observation_space.shape)))
        s = np.broadcast_to(np.asarray(scale, np.float32), observation_space.shape).reshape(-1)
        self.register_buffer("scale", torch.as_tensor(s.copy()))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return observations.reshape(len(observations), -1) * self.scale
