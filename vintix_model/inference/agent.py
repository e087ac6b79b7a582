"""Incremental inference: a stateful agent that acts in-context, one token per env step, across episodes.

The token of step ``t`` is built exactly as in training (``vintix_model.data.sampler``): the observation normalized
with the task's dataset statistics, the previous *executed* action, the previous reward times the task's reward
scale, and the episode-start flag (which swaps the previous action/reward for the learned padding vectors).
Nothing is reset between episodes: the context keeps every episode (many-shot in-context RL) until the window
is full, then slides.

Two decoders with one interface, so they can be checked against each other and benchmarked:

* ``use_cache=True`` (default): a ``KVCache``; each step encodes only the new token and attends to the cache.
* ``use_cache=False``: what the released code does: keep the last ``window`` tokens and re-run the backbone over
  all of them at every step (exact sliding window, O(window) backbone work per step).

While the context fits the window both give the same actions (up to float rounding; tested). ``batch`` rows
are independent contexts stepped in lockstep (one env each): several envs or seeds per forward for throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vintix_model.inference.kv_cache import KVCache, slide
from vintix_model.model.vintix import Vintix, obs_normalizer


@dataclass
class TaskContext:
    """What the agent needs to turn env outputs into tokens for one task (from ``metadata.json`` or estimated)."""

    task: str
    group: str
    obs_mean: np.ndarray
    obs_std: np.ndarray
    reward_scale: float
    action_low: np.ndarray | None = None  # executed actions are clipped to the env's bounds (as in the data)
    action_high: np.ndarray | None = None

    @classmethod
    def from_metadata(cls, model: Vintix, task: str, action_space=None) -> TaskContext:
        """A training task of the checkpoint; without ``action_space`` the bounds are read from the task's env."""
        if task not in model.tasks:
            raise KeyError(
                f"{task} is not a training task of this checkpoint (it has {', '.join(model.tasks) or 'none'})"
            )
        meta = model.tasks[task]
        if action_space is None:
            action_space = _action_space(task)
        low, high = (None, None) if action_space is None else (action_space.low, action_space.high)
        return cls(
            task,
            meta["group"],
            np.asarray(meta["obs_mean"], np.float32),
            np.asarray(meta["obs_std"], np.float32),
            float(meta.get("reward_scale", 1.0)),
            low,
            high,
        )


def _action_space(task: str):
    """The task's env action space (the bounds executed actions are clipped to), or None where it cannot be built."""
    try:
        from vintix_data.domains import make_env
        from vintix_data.registry import get_task

        env = make_env(get_task(task))
        space = env.action_space
        env.close()
        return space
    except Exception:  # an unregistered task or a domain not installed: no clipping
        return None


class ICRLAgent:
    """``reset(task)`` once, then ``act(observation, prev_reward, first)`` every env step (see the module docstring).

    ``observation`` is ``(batch, obs_dim)`` (or ``(obs_dim,)`` for a batch of one); ``prev_reward`` the reward
    of the previous step, ignored where ``first`` is True (``prev_reward=None`` means every row starts an episode).
    """

    def __init__(
        self,
        model: Vintix,
        batch: int = 1,
        window: int | None = None,
        use_cache: bool = True,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        precision: str = "auto",
    ):
        """``precision``: ``auto`` (bf16 autocast on CUDA, as in training; the model's dtype elsewhere), ``bf16``
        or ``fp32``. Under bf16 the cache is bf16 too, which is what flash-attn's KV-cache kernel takes."""
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
        self.model = model.eval()
        param = next(model.parameters())
        self.device = torch.device(device) if device is not None else param.device
        self.autocast = precision == "bf16" or (precision == "auto" and self.device.type == "cuda")
        self.dtype = torch.bfloat16 if self.autocast else (dtype or param.dtype)
        self.window = int(window or model.config.context)
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        self.batch0 = int(batch)
        self.use_cache = use_cache
        self.ctx: TaskContext | None = None

    # -- state ------------------------------------------------------------------------------------------
    def reset(self, task: TaskContext | str) -> None:
        """Start empty contexts for ``task`` (a TaskContext, or a task the checkpoint was trained on)."""
        if isinstance(task, str):
            task = TaskContext.from_metadata(self.model, task)
        if task.group not in self.model.groups:
            raise ValueError(f"group {task.group!r} is not in the checkpoint (it has {', '.join(self.model.groups)})")
        g = self.model.groups[task.group]
        if len(task.obs_mean) != g.obs_dim:
            raise ValueError(
                f"{task.task}: {len(task.obs_mean)} observation dims, group {task.group} takes {g.obs_dim}"
            )
        self.ctx = task
        self.mean, self.scale = (
            torch.as_tensor(x, device=self.device)
            for x in obs_normalizer(task.obs_mean, task.obs_std, self.model.config.obs_norm)
        )
        self.low = (
            None
            if task.action_low is None
            else torch.as_tensor(task.action_low, dtype=torch.float32, device=self.device)
        )
        self.high = (
            None
            if task.action_high is None
            else torch.as_tensor(task.action_high, dtype=torch.float32, device=self.device)
        )
        self.batch = self.batch0
        self.prev_action = torch.zeros(self.batch, g.act_dim, device=self.device)
        self._empty_context()

    def clear(self) -> None:
        """Empty every row's context, keeping the task and the current rows (the context-reset ablation)."""
        if self.ctx is None:
            raise RuntimeError("call reset(task) before clear()")
        self.prev_action = torch.zeros_like(self.prev_action)
        self._empty_context()

    def _empty_context(self) -> None:
        """A fresh KV cache (or token buffer) for the current rows: what reset() and clear() both start from."""
        cfg = self.model.config
        if self.use_cache:
            self.cache = KVCache(
                cfg.n_layer, self.batch, self.window, cfg.n_head, cfg.d_model // cfg.n_head, self.device, self.dtype
            )
        else:
            self.tokens = torch.zeros(self.batch, 2 * self.window, cfg.d_model, device=self.device, dtype=self.dtype)
            self.n_tokens = 0

    @property
    def context_length(self) -> int:
        """Tokens the next step attends to besides itself."""
        return len(self.cache) if self.use_cache else min(self.n_tokens, self.window - 1)

    def keep(self, rows) -> None:
        """Drop the other contexts (envs that are done); later calls take ``len(rows)`` rows."""
        idx = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        self.batch = len(idx)
        self.prev_action = self.prev_action.index_select(0, idx)
        if self.use_cache:
            self.cache.select(idx)
        else:
            self.tokens = self.tokens.index_select(0, idx)

    # -- stepping ---------------------------------------------------------------------------------------
    def _tensor(self, x, dtype=torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=self.device)

    def _tokens(self, obs, prev_action, prev_reward, first) -> torch.Tensor:
        """``(batch, n, d)`` tokens; inputs ``(batch, n, ...)`` tensors, observations raw."""
        obs = (obs - self.mean) / self.scale
        x = self.model.embed(self.ctx.group, obs, prev_action, prev_reward * self.ctx.reward_scale, first)
        return x.to(self.dtype)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Append tokens ``(batch, n, d)`` to the contexts; hidden states of the new tokens."""
        n = x.shape[1]
        if self.use_cache:
            self.cache.prepare(n)
            h, _ = self.model.transform(x, self.cache.layers)
            self.cache.advance(n)
            return h
        if self.n_tokens + n > self.tokens.shape[1]:
            self.n_tokens = slide([self.tokens], self.n_tokens, self.window - n)
        self.tokens[:, self.n_tokens : self.n_tokens + n] = x
        self.n_tokens += n
        start = max(0, self.n_tokens - self.window)
        h, _ = self.model.transform(self.tokens[:, start : self.n_tokens])
        return h[:, -n:]

    def _precision(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)

    def _clip(self, a: torch.Tensor) -> torch.Tensor:
        if self.low is None:
            return a
        return torch.maximum(torch.minimum(a, self.high), self.low)

    @torch.inference_mode()
    def act(self, observation, prev_reward=None, first=None) -> np.ndarray:
        """The action for this step (clipped to the env's bounds); it becomes the next token's previous action."""
        if self.ctx is None:
            raise RuntimeError("call reset(task) before act()")
        single = np.ndim(observation) == 1
        obs = self._tensor(observation).reshape(self.batch, 1, -1)
        if prev_reward is None:
            rew = torch.zeros(self.batch, 1, device=self.device)
            first_t = torch.ones(self.batch, 1, dtype=torch.bool, device=self.device)
        else:
            rew = self._tensor(prev_reward).reshape(self.batch, 1)
            first_t = (
                self._tensor(first, torch.bool).reshape(self.batch, 1)
                if first is not None
                else torch.zeros(self.batch, 1, dtype=torch.bool, device=self.device)
            )
        with self._precision():
            h = self._forward(self._tokens(obs, self.prev_action[:, None], rew, first_t))
            action = self._clip(self.model.act(self.ctx.group, h[:, -1]).float())
        self.prev_action = action
        out = action.cpu().numpy()
        return out[0] if single else out

    @torch.inference_mode()
    def prefill(self, observations, actions, rewards, first, chunk: int | None = None) -> None:
        """Put given transitions into the contexts (a prompt): ``observations`` ``(batch, n, obs_dim)``, the
        ``actions`` executed at them ``(batch, n, act_dim)``, the ``rewards`` they got ``(batch, n)`` and the
        episode-start flags ``(batch, n)``. The next ``act`` continues after them (pass it ``rewards[:, -1]``).
        A prompt row that does not start with an episode start continues the context with reward 0."""
        if self.ctx is None:
            raise RuntimeError("call reset(task) before prefill()")
        obs, act, rew = self._tensor(observations), self._tensor(actions), self._tensor(rewards)
        first_t = self._tensor(first, torch.bool)
        n = obs.shape[1]
        prev_act = torch.cat([self.prev_action[:, None], act[:, :-1]], 1)
        prev_rew = torch.cat([torch.zeros(self.batch, 1, device=self.device), rew[:, :-1]], 1)
        chunk = max(1, min(chunk or self.window // 2, self.window))
        for s in range(0, n, chunk):
            sl = slice(s, min(n, s + chunk))
            with self._precision():
                self._forward(self._tokens(obs[:, sl], prev_act[:, sl], prev_rew[:, sl], first_t[:, sl]))
        self.prev_action = act[:, -1]
