"""A release root's own files: ``release.json`` (what is made, the tasks, every run of the driver) and
``.release/tasks.json`` (each task's progress through its stages). Only the driver writes them, atomically."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vintix_data.format import RELEASE_FORMAT, atomic_write_text
from vintix_data.locking import LOCK_NAME
from vintix_data.release.config import ReleaseConfig, ReleaseError
from vintix_data.release.units import RELEASE_DIR
from vintix_data.version import __version__

STAGES = ("demonstrator", "gate", "collect", "finalize", "done")


def _dump(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"


def _retry_stage(t: dict) -> str:
    if "spec" not in t:
        return "demonstrator"
    if not t.get("gate", {}).get("passed") and "episode_limit" not in t:
        return "gate"
    if len(set(t.get("histories_done", []))) < t.get("histories", 0):
        return "collect"
    return "finalize"


class ReleaseState:
    """release.json + .release/tasks.json of one root."""

    def __init__(self, root: Path, manifest: dict, tasks: dict[str, dict]):
        self.root, self.manifest, self.tasks = Path(root), manifest, tasks

    @classmethod
    def check(cls, cfg: ReleaseConfig) -> None:
        """The refusals of :meth:`open` (ReleaseError, one line), without writing anything."""
        root = Path(cfg.out)
        if root.exists() and not root.is_dir():
            raise ReleaseError(f"--out {root} is a file, not a release folder")
        path = root / "release.json"
        if cfg.resume:
            if not path.exists():
                raise ReleaseError(f"--resume: {root} holds no release (release.json)")
            saved = json.loads(path.read_text()).get("settings", {})
            if saved != cfg.settings():
                diff = sorted(k for k in cfg.settings() if saved.get(k) != cfg.settings()[k])
                raise ReleaseError(f"--resume: {root} is a release with other settings ({', '.join(diff)})")
        elif path.exists():
            same = json.loads(path.read_text()).get("settings", {}) == cfg.settings()
            raise ReleaseError(
                f"{root} already holds a release"
                + (
                    " of these settings; pass --resume to continue it"
                    if same
                    else " with other settings; choose another --out"
                )
            )
        elif root.exists() and any(p.name != LOCK_NAME for p in root.iterdir()):
            raise ReleaseError(f"{root} exists and is not empty; choose a new --out")

    @classmethod
    def open(cls, cfg: ReleaseConfig, task_ids: list[str]) -> ReleaseState:
        """Check the root against the request (:meth:`check`; nothing written), then create or load it."""
        cls.check(cfg)
        root = Path(cfg.out)
        if cfg.resume:
            manifest = json.loads((root / "release.json").read_text())
            tasks_path = root / RELEASE_DIR / "tasks.json"
            tasks = json.loads(tasks_path.read_text()) if tasks_path.exists() else {}
            for t in tasks.values():  # a failed task is tried again from the stage it failed in
                if t.get("stage") == "failed":
                    t.pop("error", None)
                    t["stage"] = _retry_stage(t)
            return cls(root, manifest, tasks)
        manifest = {
            "format": RELEASE_FORMAT,
            "selection": list(cfg.selection),
            "tasks": task_ids,
            "settings": cfg.settings(),
            "vintix": __version__,
            "runs": [],
        }
        (root / RELEASE_DIR).mkdir(parents=True, exist_ok=True)
        state = cls(root, manifest, {t: {"stage": "demonstrator"} for t in task_ids})
        state.save_tasks()
        atomic_write_text(root / "release.json", _dump(manifest))
        return state

    def task(self, task_id: str) -> dict:
        return self.tasks.setdefault(task_id, {"stage": "demonstrator"})

    def update(self, task_id: str, **changes) -> None:
        self.task(task_id).update(changes)
        self.save_tasks()

    def add_seconds(self, task_id: str, seconds: float) -> None:
        t = self.task(task_id)
        t["wall_s"] = round(t.get("wall_s", 0.0) + float(seconds), 1)

    def save_tasks(self) -> None:
        atomic_write_text(self.root / RELEASE_DIR / "tasks.json", _dump(self.tasks))

    def begin_run(self, executor: str, command: list[str]) -> None:
        self.manifest["runs"].append(
            {
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "executor": executor,
                "command": " ".join(command),
                "wall_s": None,
            }
        )
        self._t0 = time.perf_counter()
        atomic_write_text(self.root / "release.json", _dump(self.manifest))

    def end_run(self, finished: bool) -> None:
        run = self.manifest["runs"][-1]
        run["wall_s"] = round(time.perf_counter() - self._t0, 1)
        run["finished"] = finished
        atomic_write_text(self.root / "release.json", _dump(self.manifest))

    def touch_run(self) -> None:
        """The current run's wall time so far (so a killed driver's run still counts in the report)."""
        self.manifest["runs"][-1]["wall_s"] = round(time.perf_counter() - self._t0, 1)
        atomic_write_text(self.root / "release.json", _dump(self.manifest))
