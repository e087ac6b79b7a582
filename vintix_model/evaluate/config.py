"""What ``vintix-model eval`` is asked to do (``EvalConfig``, checked up front) and its one-line error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vintix_data.errors import UserError


class EvalError(UserError, ValueError):
    """A checkpoint/task combination or setting that cannot be evaluated (one-line message)."""


@dataclass
class EvalConfig:
    task: str
    episodes: int = 50
    seeds: int = 3
    seed: int = 0
    prompt_steps: int = 0  # --prompt random:STEPS: uniform-random transitions put in the context first
    variation: dict[str, Any] = field(default_factory=dict)  # MuJoCo viscosity= / gravity= (and version=v4)
    stats_from: str | None = None  # a dataset (folder or Hub id) of the task: its stats and reference scores
    stats_steps: int = 10_000  # random-policy steps to estimate observation stats for a held-out task
    window: int | None = None  # context window in tokens (default: the checkpoint's training context)
    use_cache: bool = True
    device: str = "cpu"
    precision: str = "auto"  # auto: bf16 autocast on CUDA (as in training), fp32 on CPU
    ablation: bool = False  # also run with the context cleared at every episode start; report the paired difference
    video: str | None = None  # a GIF of shot 1 and the last shot of run 0 (vintix_model.evaluate.video)

    def check(self) -> None:
        if self.episodes < 1:
            raise EvalError(f"--episodes must be >= 1, got {self.episodes}")
        if self.seeds < 1:
            raise EvalError(f"--seeds must be >= 1, got {self.seeds}")
        if self.prompt_steps < 0:
            raise EvalError(f"--prompt random:STEPS needs STEPS >= 0, got {self.prompt_steps}")
        if self.stats_steps < 2:
            raise EvalError(f"--stats-steps must be >= 2, got {self.stats_steps}")
        if self.window is not None and self.window < 1:
            raise EvalError(f"--window must be >= 1, got {self.window}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise EvalError(f"--precision must be auto, bf16 or fp32, got {self.precision!r}")
        import torch

        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise EvalError(f"--device {self.device!r}: not a torch device (cpu, cuda, cuda:1 ...)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise EvalError(f"--device {self.device}: CUDA is not available on this machine")


def parse_prompt(text: str | None) -> int:
    """``random:STEPS`` -> STEPS (``None``/``none`` -> 0)."""
    if text is None or text.strip().lower() in ("", "none"):
        return 0
    kind, _, steps = text.partition(":")
    if kind.strip().lower() != "random" or not steps.strip().isdigit():
        raise EvalError(f"--prompt takes random:STEPS (e.g. random:1000), got {text!r}")
    return int(steps)
