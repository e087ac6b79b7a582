"""The demonstrator gate: is a demonstrator clearly better than uniform random on this task, here?

Noise distillation only yields a learning history when its end point, the demonstrator, is far above its
start point, uniform random actions. So before ``collect`` writes a byte, the demonstrator and uniform
random play the same seeded episodes (``vintix_data.baselines``: same reset seeds, so the difference is
not seed noise) and the collection is refused, with the figures, unless

* the demonstrator's mean return exceeds random's by more than ``sigmas`` standard errors of the paired
  per-episode differences (episode k of both runs has the same reset seed, hence the same goal) and by more
  than ``min_relative`` x |random's mean| (so a consistent but negligible gap is not "clear" either), and
* where the env reports success (Meta-World), the demonstrator succeeds in at least ``min_success`` of
  the episodes (the return gap alone passes experts that approach the goal without ever reaching it).

``--force`` collects anyway. ``vintix-data demonstrator eval TASK`` shows the same figures and verdict,
and ``--all --domain D`` runs the gate for every task of a domain.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from vintix_data.demonstrators.baselines import demonstrator_policy, run_episodes, uniform_policy
from vintix_data.domains import ConfiguredTask, resolve
from vintix_data.errors import UserError
from vintix_data.registry import TaskSpec


class GateError(UserError, ValueError):
    """The demonstrator is not clearly better than random (one-line message)."""


@dataclass(frozen=True)
class GateConfig:
    """The gate's evaluation options: how many seeded episodes, on which seed, and the thresholds it applies."""

    episodes: int = 10
    seed: int = 0
    sigmas: float = 3.0
    min_relative: float = 0.1
    min_success: float = 0.8


@dataclass
class GateResult:
    task: str
    domain: str
    demonstrator: str
    episodes: int
    seed: int
    episode_limit: int
    demonstrator_mean: float
    demonstrator_std: float
    random_mean: float
    random_std: float
    demonstrator_success_rate: float | None
    random_success_rate: float | None
    paper_random_mean: float | None
    paper_expert_mean: float | None
    paper_comparable: bool
    normalized_score_paper: float | None
    random_normalized_score_paper: float | None
    required_gap: float
    passed: bool
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    demonstrator_returns: list[float] = field(default_factory=list)
    random_returns: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def verdict(self) -> str:
        if self.passed:
            return "passes the gate"
        return "fails the gate: " + "; ".join(self.reasons)


def judge(
    dem_returns, rnd_returns, dem_success: float | None = None, config: GateConfig = GateConfig()
) -> tuple[bool, float, list[str]]:
    """(passed, required gap, reasons it fails) from per-episode returns on the same seeds, in the same order.

    A standard-error test on paired differences rather than "k x random's std": random's returns are often
    bimodal (on drawer-close it succeeds 2 times in 10, std 214 around a mean of 124), and a spread that
    large says nothing about whether the demonstrator's mean is reliably above random's.
    """
    import numpy as np

    dem, rnd = np.asarray(dem_returns, np.float64), np.asarray(rnd_returns, np.float64)
    diff = dem - rnd
    gap = float(diff.mean()) if len(diff) else float("nan")
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else 0.0
    required = max(config.sigmas * se, config.min_relative * abs(float(rnd.mean())), 1e-9)
    reasons = []
    if not (math.isfinite(gap) and gap > required):
        reasons.append(
            f"mean return {dem.mean():.2f} is not clearly above random's {rnd.mean():.2f} "
            f"(gap {gap:.2f} <= required {required:.2f} = max({config.sigmas:g} x standard error of the "
            f"paired differences, {config.min_relative:g} x |random mean|))"
        )
    if dem_success is not None and dem_success < config.min_success:
        reasons.append(f"success rate {dem_success:.0%} < {config.min_success:.0%}")
    return not reasons, required, reasons


def evaluate(task: TaskSpec | ConfiguredTask, demonstrator, spec: str, config: GateConfig = GateConfig()) -> GateResult:
    """Run random and the demonstrator on the same seeded episodes and judge the demonstrator."""
    import time

    task = resolve(task)
    episodes, seed = config.episodes, config.seed
    t0 = time.perf_counter()
    env = task.make_env()
    space = env.action_space
    env.close()
    rnd = run_episodes(task, uniform_policy(space), episodes, seed)
    dem = run_episodes(task, demonstrator_policy(demonstrator), episodes, seed)
    passed, required, reasons = judge(dem.returns, rnd.returns, dem.success_rate, config)
    comparable = task.paper_comparable()
    return GateResult(
        task=task.id,
        domain=task.domain,
        demonstrator=spec,
        episodes=episodes,
        seed=seed,
        episode_limit=task.episode_limit,
        demonstrator_mean=dem.mean,
        demonstrator_std=dem.std,
        random_mean=rnd.mean,
        random_std=rnd.std,
        demonstrator_success_rate=dem.success_rate,
        random_success_rate=rnd.success_rate,
        paper_random_mean=task.random_mean,
        paper_expert_mean=task.expert_mean,
        paper_comparable=comparable,
        normalized_score_paper=task.normalized_score(dem.mean) if comparable else None,
        random_normalized_score_paper=task.normalized_score(rnd.mean) if comparable else None,
        required_gap=required,
        passed=passed,
        reasons=reasons,
        seconds=time.perf_counter() - t0,
        demonstrator_returns=[float(x) for x in dem.returns],
        random_returns=[float(x) for x in rnd.returns],
    )


def require_gate(
    task: TaskSpec | ConfiguredTask, demonstrator, spec: str, config: GateConfig = GateConfig()
) -> GateResult:
    """``evaluate`` and raise GateError (one line: the figures, why, and what to do) unless it passes."""
    task = resolve(task)
    result = evaluate(task, demonstrator, spec, config)
    if not result.passed:
        hint = ""
        if result.demonstrator_success_rate is not None and result.demonstrator_success_rate < config.min_success:
            longer = task.adapter.suggested_episode_limit(task.spec)
            if longer:
                hint = f" (its scripted expert passes with --episode-limit {longer})"
        raise GateError(
            f"{task.id}: demonstrator {spec} {result.verdict()} over {config.episodes} seeded episodes "
            f"of {task.episode_limit} steps{hint}; pass --force to collect anyway"
        )
    return result
