"""``ReleaseConfig``: what one ``vintix-data release`` is asked to make, and the settings a ``--resume`` must share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from vintix_data.errors import UserError

EXECUTORS = ("local", "ray")


class ReleaseError(UserError, ValueError):
    """A release that cannot start or resume (one-line message)."""


@dataclass(frozen=True)
class ReleaseConfig:
    """The settings of one release. ``histories``/``steps`` of None mean each task's paper figures."""

    selection: tuple[str, ...]
    out: str
    histories: int | None = None
    steps: int | None = None
    p: float = 1.0
    f: float = 0.1
    seed: int = 0
    reference_episodes: int = 20
    gate_episodes: int = 10
    ppo_timesteps: int = 1_000_000  # demonstrators the release trains itself (the paper's IB recipe: 1M steps)
    force: bool = False  # collect tasks whose demonstrator fails the gate anyway
    train_missing: bool = (
        False  # a task with no installed demonstrator is trained (the catalogue's recipe), not downloaded
    )
    train_timesteps: int | None = None  # steps of those trainings (None: the recipe's, rl-zoo3's n_timesteps)
    card_video: bool = False  # each card gets a GIF of history 0 (collect --card-video)
    # how it runs (not part of what a resumed release must share)
    executor: str = "local"
    ray_address: str | None = None
    ray_timeout: float = 60.0  # seconds a --ray-address has to answer as a Ray cluster (executors.probe_ray)
    workers: int | None = None  # units at once (None: the machine's cores; with Ray: the cluster's CPUs)
    max_retries: int = 2  # a unit whose process dies is run again at most this many times
    resume: bool = False
    command: list[str] = field(default_factory=list)

    def __post_init__(self):
        object.__setattr__(self, "selection", tuple(self.selection))

    def settings(self) -> dict:
        """What must match for ``--resume`` to continue a release (what is made, not how it is run)."""
        d = asdict(self)
        for k in ("out", "executor", "ray_address", "ray_timeout", "workers", "max_retries", "resume", "command"):
            d.pop(k)
        d["selection"] = list(d["selection"])
        for key in ("card_video", "train_missing", "train_timesteps"):
            if not d[key]:
                d.pop(key)  # absent when unused, so releases started before they existed still resume
        return d

    def check(self) -> None:
        """The range checks that need nothing but the settings (ReleaseError, one line)."""
        if self.executor not in EXECUTORS:
            raise ReleaseError(f"--executor must be local or ray, got {self.executor!r}")
        if self.ray_address and self.executor != "ray":
            raise ReleaseError("--ray-address needs --executor ray")
        if not 0 < self.ray_timeout < float("inf"):
            raise ReleaseError(f"--ray-timeout must be a number of seconds > 0, got {self.ray_timeout}")
        for name in ("histories", "steps"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ReleaseError(f"--{name} must be >= 1, got {v}")
        if self.workers is not None and self.workers < 1:
            raise ReleaseError(f"--workers must be >= 1, got {self.workers}")
        if self.max_retries < 0:
            raise ReleaseError(f"--max-retries must be >= 0, got {self.max_retries}")
        if self.train_timesteps is not None and self.train_timesteps < 1:
            raise ReleaseError(f"--train-timesteps must be >= 1, got {self.train_timesteps}")
        if self.ppo_timesteps < 1:
            raise ReleaseError(f"--ppo-timesteps must be >= 1, got {self.ppo_timesteps}")
        if self.reference_episodes < 1 or self.gate_episodes < 1:
            raise ReleaseError("--reference-episodes and --gate-episodes must be >= 1")
