"""A vintix domain plugin: Gymnasium's classic-control tasks with continuous actions.

Installed (``pip install -e examples/vintix-classic-control``), its entry point in the group ``vintix.domains``
makes ``vintix-data tasks`` list ``pendulum-v1`` and ``mountain-car-continuous-v0`` (source ``plugin:vintix-classic-
control``), and every command (collect, validate, release ``classic-control``, ``vintix-model train/eval``) builds
their envs through :class:`ClassicControlAdapter`. The adapter contract is in vintix's docs/design.md §7.
"""

from __future__ import annotations

from pathlib import Path

from vintix_data.domains.gym import GymAdapter

EXPERTS = Path(__file__).parent / "experts"


class ClassicControlAdapter(GymAdapter):
    """The generic Gymnasium adapter with this domain's name and tasks (everything else is GymAdapter's)."""

    domain = "classic-control"

    def tasks(self) -> list[dict]:
        """The domain's tasks, in the fields of a task file (vintix_data.domains.gym.FIELDS)."""
        return [
            {
                "id": "pendulum-v1",
                "env_id": "Pendulum-v1",
                "reward_scale": 0.1,
                "episode_limit": 200,
                # SB3 SAC, 20k steps of `vintix-data demonstrator train gym:Pendulum-v1 --algo sac --timesteps 20000`
                "demonstrator": f"sb3:{EXPERTS / 'sac-pendulum-v1.zip'}",
                "components": {"cos_theta": [0], "sin_theta": [1], "angular_velocity": [2]},
                "variations": {"g": "gravity (default 10.0)"},
                "histories": 10,
                "steps": 10_000,
            },
            {
                "id": "mountain-car-continuous-v0",
                "env_id": "MountainCarContinuous-v0",
                "reward_scale": 0.1,
                "episode_limit": 999,
                "components": {"position": [0], "velocity": [1]},
                "variations": {"goal_velocity": "the velocity the car must reach at the flag (default 0)"},
            },
        ]
