"""Vintix: per-group encoders -> one token per env step -> causal transformer -> per-group action heads.

Token ``t`` is ``concat(ObsEnc(o_t) [obs_emb], ActEnc(a_{t-1}) [act_emb], RewEnc(r_{t-1} * scale) [rew_emb])``;
at an episode start the previous action/reward embeddings are replaced by two learned padding vectors.
Observations arrive normalized with their task's dataset statistics (the sampler does it at train time, the
agent at evaluation time, both from the same ``metadata.json`` numbers, the way ``config.obs_norm`` says).

Shapes (per group, as the released model; ``d = obs_emb + act_emb + rew_emb``):

* ObsEnc: Linear(obs_dim, obs_emb), LeakyReLU, LayerNorm, Linear(obs_emb, obs_emb), LeakyReLU, LayerNorm
* ActEnc: the same with act_dim / act_emb;  RewEnc: Linear(1, rew_emb), LeakyReLU
* Head:   head_layers x (Linear(d, d), LeakyReLU), then Linear(d, act_dim)

A batch is a mapping ``group -> GroupBatch``; every group of the model runs (with zero rows when absent), so
every parameter gets a gradient each step and DDP needs no ``find_unused_parameters``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vintix_model.model import checkpoint
from vintix_model.model.config import ModelConfig
from vintix_model.model.groups import GroupSpec
from vintix_model.model.layers import KV, Backbone


def obs_normalizer(mean, std, mode: str = "vintix") -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` float32 with ``(obs - mean) / scale`` (``ModelConfig.obs_norm``).

    ``vintix``: a constant feature (std ~ 0) gets scale 1, not 1e-6, so it maps to ``obs - mean`` (0 on its own task)
    instead of exploding on a task where it differs. ``original``: the released Vintix's ``std + 1e-6`` (float32, as
    its encoder adds it), which a converted checkpoint's weights were trained with. ``none``: raw observations."""
    std = np.asarray(std, np.float32)
    if mode == "original":
        return np.asarray(mean, np.float32), (std + np.float32(1e-6)).astype(np.float32)
    if mode == "none":
        return np.zeros_like(std), np.ones_like(std)
    return np.asarray(mean, np.float32), np.where(std > 1e-6, std, np.float32(1.0)).astype(np.float32)


@dataclass
class GroupBatch:
    """Windows of one group: ``obs`` (n, T, obs_dim) normalized, ``prev_action`` (n, T, act_dim), ``prev_reward``
    (n, T) already scaled, ``first`` (n, T) bool episode starts, ``target`` (n, T, act_dim) or None."""

    obs: torch.Tensor
    prev_action: torch.Tensor
    prev_reward: torch.Tensor
    first: torch.Tensor
    target: torch.Tensor | None = None

    def to(self, device, non_blocking: bool = False) -> GroupBatch:
        mv = lambda t: t.to(device, non_blocking=non_blocking) if t is not None else None  # noqa: E731
        return GroupBatch(mv(self.obs), mv(self.prev_action), mv(self.prev_reward), mv(self.first), mv(self.target))

    def pin_memory(self) -> GroupBatch:  # called by DataLoader(pin_memory=True)
        pin = lambda t: t.pin_memory() if t is not None else None  # noqa: E731
        return GroupBatch(
            pin(self.obs), pin(self.prev_action), pin(self.prev_reward), pin(self.first), pin(self.target)
        )

    def __len__(self) -> int:
        return self.obs.shape[0]


def _mlp_encoder(d_in: int, d_out: int, cfg: ModelConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, d_out),
        nn.LeakyReLU(cfg.leaky_slope),
        nn.LayerNorm(d_out, eps=cfg.norm_eps),
        nn.Linear(d_out, d_out),
        nn.LeakyReLU(cfg.leaky_slope),
        nn.LayerNorm(d_out, eps=cfg.norm_eps),
    )


class GroupEncoder(nn.Module):
    def __init__(self, group: GroupSpec, cfg: ModelConfig):
        super().__init__()
        self.obs = _mlp_encoder(group.obs_dim, cfg.obs_emb, cfg)
        self.act = _mlp_encoder(group.act_dim, cfg.act_emb, cfg)
        self.rew = nn.Sequential(nn.Linear(1, cfg.rew_emb), nn.LeakyReLU(cfg.leaky_slope))

    def forward(self, obs, prev_action, prev_reward, first, pad_action, pad_reward) -> torch.Tensor:
        a = self.act(prev_action)
        r = self.rew(prev_reward.unsqueeze(-1))
        m = first.unsqueeze(-1)
        a = torch.where(m, pad_action.to(a.dtype), a)
        r = torch.where(m, pad_reward.to(r.dtype), r)
        o = self.obs(obs)
        return torch.cat([o, a.to(o.dtype), r.to(o.dtype)], dim=-1)


class ActionHead(nn.Module):
    def __init__(self, group: GroupSpec, cfg: ModelConfig):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(cfg.head_layers):
            layers += [nn.Linear(cfg.d_model, cfg.d_model), nn.LeakyReLU(cfg.leaky_slope)]
        layers.append(nn.Linear(cfg.d_model, group.act_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class Vintix(nn.Module):
    def __init__(
        self, config: ModelConfig, groups: dict[str, GroupSpec], tasks: dict[str, dict[str, Any]] | None = None
    ):
        super().__init__()
        config.check()
        if not groups:
            raise ValueError("a Vintix model needs at least one task group")
        self.config = config
        self.groups = dict(groups)
        self.tasks = dict(tasks or {})  # task -> {"group", "obs_mean", "obs_std", "reward_scale", ...} (metadata.json)
        self.encoders = nn.ModuleDict({name: GroupEncoder(g, config) for name, g in self.groups.items()})
        self.heads = nn.ModuleDict({name: ActionHead(g, config) for name, g in self.groups.items()})
        self.pad_action = nn.Parameter(torch.randn(config.act_emb))
        self.pad_reward = nn.Parameter(torch.randn(config.rew_emb))
        self.backbone = Backbone(config)

    # -- pieces (also what incremental inference uses) ----------------------------------------------
    def embed(self, group: str, obs, prev_action, prev_reward, first) -> torch.Tensor:
        """Tokens ``(n, T, d)`` for windows of one group."""
        if not self.config.action_input:  # the ablation: the context holds observations and rewards only
            prev_action = torch.zeros_like(prev_action)
        return self.encoders[group](obs, prev_action, prev_reward, first, self.pad_action, self.pad_reward)

    def transform(self, x: torch.Tensor, past: list[KV] | None = None, use_cache: bool = False):
        """Backbone over tokens ``(B, T, d)``; with ``past`` the tokens follow the cached ones."""
        return self.backbone(x, past, use_cache)

    def act(self, group: str, h: torch.Tensor) -> torch.Tensor:
        return self.heads[group](h)

    def set_attention_backend(self, backend: str) -> None:
        self.backbone.set_attention_backend(backend)

    # -- training forward ---------------------------------------------------------------------------
    def _empty(self, group: str, T: int, like: torch.Tensor) -> GroupBatch:
        g = self.groups[group]
        z = lambda *s: like.new_zeros(s)  # noqa: E731
        return GroupBatch(z(0, T, g.obs_dim), z(0, T, g.act_dim), z(0, T), like.new_zeros((0, T), dtype=torch.bool))

    def forward(self, batch: dict[str, GroupBatch]) -> dict[str, torch.Tensor]:
        """Predicted actions ``group -> (n_g, T, act_dim)`` for windows grouped by task group.

        Every group of the model is in the result; groups absent from the batch have zero rows.
        """
        unknown = set(batch) - set(self.groups)
        if unknown:
            raise KeyError(f"batch has groups the model lacks: {', '.join(sorted(unknown))}")
        like = next(iter(batch.values())).obs
        parts = {name: batch[name] if name in batch else self._empty(name, like.shape[1], like) for name in self.groups}
        x = torch.cat([self.embed(name, b.obs, b.prev_action, b.prev_reward, b.first) for name, b in parts.items()])
        h, _ = self.transform(x)
        out, start = {}, 0
        for name, b in parts.items():
            out[name] = self.act(name, h[start : start + len(b)])
            start += len(b)
        return out

    @staticmethod
    def loss(preds: dict[str, torch.Tensor], batch: dict[str, GroupBatch]) -> torch.Tensor:
        """MSE on every position: per window the mean over steps and action dims, then the mean over windows.

        Zero-row predictions of absent groups enter as ``0 * sum`` so their heads still get (zero) gradients.
        """
        total = sum(preds[name].sum() * 0.0 for name in preds if name not in batch)
        n = 0
        for name, b in batch.items():
            total = total + (preds[name].float() - b.target.float()).pow(2).mean(dim=(1, 2)).sum()
            n += len(b)
        return total / max(n, 1)

    # -- bookkeeping ----------------------------------------------------------------------------------
    def parameter_breakdown(self) -> dict[str, int]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        out = {"backbone": count(self.backbone), "padding": self.pad_action.numel() + self.pad_reward.numel()}
        for name in self.groups:
            out[f"encoder:{name}"] = count(self.encoders[name])
            out[f"head:{name}"] = count(self.heads[name])
        return out

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def normalize_obs(self, task: str, obs):
        """Normalize raw observations of a task with its dataset statistics (numpy or torch), as in training."""
        mean, scale = obs_normalizer(self.tasks[task]["obs_mean"], self.tasks[task]["obs_std"], self.config.obs_norm)
        if isinstance(obs, torch.Tensor):
            return (obs - torch.as_tensor(mean, device=obs.device, dtype=obs.dtype)) / torch.as_tensor(
                scale, device=obs.device, dtype=obs.dtype
            )
        return (np.asarray(obs, np.float32) - mean) / scale

    @classmethod
    def from_pretrained(cls, id_or_dir: str | Path, revision: str | None = None, device: str | torch.device = "cpu"):
        """A checkpoint folder, a training run folder (its latest checkpoint) or a Hub model id."""
        return checkpoint.load_pretrained(cls, id_or_dir, revision=revision, device=device)

    def save_pretrained(self, folder: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        return checkpoint.save_pretrained(self, folder, metadata)
